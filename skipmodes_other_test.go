//go:build !(windows && cgo)

package poller

import "testing"

// ForEachSkipMode runs f once: only Windows' overlapped engine (a cgo
// build) has skip-on-success modes to run it under (see its windows twin).
func ForEachSkipMode(t *testing.T, f func(t *testing.T)) { f(t) }
