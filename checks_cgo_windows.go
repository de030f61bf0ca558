//go:build windows && cgo && (race || pollercheck)

package poller

// The C core's assertions (IOCP_CHECK in iocp_int.h) are compiled in when
// the Go side's invariantChecks is on.

// #cgo CFLAGS: -DIOCP_CHECKS=1
import "C"
