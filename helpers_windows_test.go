package poller

// Windows twins of helpers_unix_test.go, and helpers of the Windows tests.

import (
	"errors"
	"fmt"
	"syscall"
	"testing"
)

// invalidRawSource is a raw source naming no socket.
func invalidRawSource() Source { return RawSocket(syscall.InvalidHandle) }

// errWriteShutdown is what Write returns after CloseWrite: Winsock's
// WSAESHUTDOWN, which matches syscall.ESHUTDOWN.
var errWriteShutdown error = syscall.ESHUTDOWN

func isWriteShutdown(err error) bool { return errors.Is(err, errWriteShutdown) }

// raiseOpenFiles: Windows has no descriptor limit to raise.
func raiseOpenFiles(n int) error { return nil }

// badSubmits is the cores' count of polls submitted for a state Go had
// deleted or retired (iocp_bad_submits): 0 unless a bug.
func badSubmits() int64 { return coreBadSubmits() }

// engineOf is the engine of the socket's registration.
func engineOf(t testing.TB, s *socket) uint8 {
	t.Helper()
	reg := s.reg.Load()
	if reg == nil {
		t.Fatal("not registered")
	}
	return reg.sys.engine
}

// requireAFD skips a test that cannot apply to the overlapped engine when
// that engine is forced (POLLER_WINDOWS_ENGINE=overlapped, make
// test-windows-overlapped); why says what of AFD the test needs.
func requireAFD(t testing.TB, why string) {
	t.Helper()
	if overlappedForced() {
		t.Skip("needs the AFD engine (POLLER_WINDOWS_ENGINE=overlapped forces the overlapped one): " + why)
	}
}

// selectCore makes the core named by POLLER_CORE (main_test.go) the one
// every Poll uses: "" keeps the build's default.
func selectCore(name string) error {
	switch name {
	case "":
	case "go":
		newCore = newGoCore
	case "c":
		if cCoreNew == nil {
			return errors.New("POLLER_CORE=c: this build has no C core (built without cgo)")
		}
		newCore = cCoreNew
	default:
		return fmt.Errorf("POLLER_CORE=%q: want c or go", name)
	}
	return nil
}
