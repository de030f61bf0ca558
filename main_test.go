package poller

// TestMain reads the test binary's switches before any test runs. The
// package itself has none of these knobs.
//
// POLLER_CORE (Windows): the core every test's Poll uses, "c" (the default
// of cgo builds) or "go" (the only core, and so the default, without cgo).
// So `POLLER_CORE=go go test -race` runs the whole suite with the pure-Go
// core under the race detector, which needs cgo. Ignored elsewhere.
//
// POLLER_WINDOWS_ENGINE=overlapped (Windows, read by New): every socket
// gets the overlapped engine (make test-windows-overlapped); a test that
// cannot apply to it skips itself and says why (requireAFD).
//
// -poller.stress or POLLER_STRESS=1: the load and soak tests run full size
// (make stress).

import (
	"fmt"
	"os"
	"testing"
)

func TestMain(m *testing.M) {
	if err := selectCore(os.Getenv("POLLER_CORE")); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	os.Exit(m.Run())
}
