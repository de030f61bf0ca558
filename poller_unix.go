//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package poller

import (
	"fmt"
)

// RawFD returns a Source for a descriptor the caller owns: a pipe, a tty, a
// socket from package net (through SyscallConn), and so on. The caller keeps
// it non-blocking, and deregisters it before closing it. After the caller's
// own read or write on it returns EAGAIN, it calls [Registry.Rearm] for that
// direction: epoll and kqueue need it not, but portable code (and Windows'
// RawSocket) does.
func RawFD(fd int) Source { return rawFD(fd) }

type rawFD int

func (f rawFD) source() (uintptr, *socket, error) {
	if f < 0 {
		return 0, nil, fmt.Errorf("%w: descriptor %d", ErrNilSource, int(f))
	}
	return uintptr(f), nil, nil
}

// sysReg is the per-registration backend data: none on Unix.
type sysReg struct{}
