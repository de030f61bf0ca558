//go:build race || pollercheck

package poller

// invariantChecks turns on the checks of internal invariants: a broken one
// panics with a message naming it. On in -race builds and with the
// pollercheck build tag (make test runs both), off in release builds. The C
// core's IOCP_CHECK assertions follow the same switch (checks_cgo_windows.go).
const invariantChecks = true
