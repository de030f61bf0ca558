//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package poller

import (
	"syscall"
	"testing"
)

// rawSource is RawFD over a descriptor the caller owns, made non-blocking
// (package net's are already).
func rawSource(t testing.TB, h uintptr) Source {
	t.Helper()
	if err := syscall.SetNonblock(int(h), true); err != nil {
		t.Fatal(err)
	}
	return RawFD(int(h))
}

// rawNetConnUnsupported says why a package-net socket cannot be a raw
// source here: it always can.
func rawNetConnUnsupported() string { return "" }

// errNoBufs is the OS's ENOBUFS, for injected failures.
var errNoBufs error = syscall.ENOBUFS
