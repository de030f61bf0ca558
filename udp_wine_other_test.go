//go:build !windows

package poller

// onWine: only Windows binaries run under Wine.
func onWine() bool { return false }
