//go:build !windows

package poller

// badSubmits: the kernel keeps no poll of ours on a deregistered descriptor
// outside Windows.
func badSubmits() int64 { return 0 }
