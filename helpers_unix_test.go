//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package poller

// Unix twins of helpers_windows_test.go.

import (
	"errors"
	"fmt"
	"syscall"
	"testing"
)

// invalidRawSource is a raw source naming no descriptor.
func invalidRawSource() Source { return RawFD(-1) }

// errWriteShutdown is what Write returns after CloseWrite: EPIPE.
var errWriteShutdown error = syscall.EPIPE

func isWriteShutdown(err error) bool { return errors.Is(err, errWriteShutdown) }

// raiseOpenFiles raises the soft RLIMIT_NOFILE to at least n, and the hard
// limit too where it may (it needs CAP_SYS_RESOURCE). The limit stays
// raised for the rest of the process.
func raiseOpenFiles(n int) error {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return err
	}
	if uint64(lim.Cur) >= uint64(n) {
		return nil
	}
	old := lim
	setLimit(&lim.Cur, uint64(n))
	if uint64(lim.Max) < uint64(n) {
		setLimit(&lim.Max, uint64(n))
	}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return fmt.Errorf("raising RLIMIT_NOFILE from %d (hard %d) to %d: %w", old.Cur, old.Max, n, err)
	}
	return nil
}

// setLimit sets an rlimit field, int64 on some BSDs, uint64 elsewhere.
func setLimit[T int64 | uint64](field *T, v uint64) { *field = T(v) }

// badSubmits: the kernel keeps no poll of ours on a deregistered descriptor
// outside Windows.
func badSubmits() int64 { return 0 }

// requireAFD: only Windows has an overlapped engine to skip under.
func requireAFD(t testing.TB, why string) {}

// selectCore: POLLER_CORE (main_test.go) names a Windows core; Unix has one
// backend and ignores it.
func selectCore(name string) error { return nil }
