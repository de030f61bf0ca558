//go:build !race && !pollercheck

package poller

// invariantChecks is off in release builds: see checks_on.go.
const invariantChecks = false
