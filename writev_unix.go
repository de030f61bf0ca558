//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package poller

import (
	"syscall"
	"unsafe"
)

// sysWritev is one sendmsg(2) of first and then rest (as many buffers as
// fit in maxWritevBufs), with MSG_NOSIGNAL where the OS has it (macOS's
// sockets have SO_NOSIGPIPE): writev(2) takes no flags and would raise
// SIGPIPE.
func sysWritev(fd uintptr, first []byte, rest [][]byte) (int, error) {
	var iov [maxWritevBufs]syscall.Iovec
	n := 0
	for b := first; ; {
		if len(b) > 0 {
			iov[n].Base = &b[0]
			iov[n].SetLen(len(b))
			n++
		}
		if n == len(iov) || len(rest) == 0 {
			break
		}
		b, rest = rest[0], rest[1:]
	}
	var msg syscall.Msghdr
	msg.Iov = &iov[0]
	setLen(&msg.Iovlen, n)
	r, _, e := nonblockSyscall6(syscall.SYS_SENDMSG, fd, uintptr(unsafe.Pointer(&msg)), sendmsgFlags, 0, 0, 0)
	if e != 0 {
		return 0, e
	}
	return int(r), nil
}

// setLen stores n in a length field whose type differs by OS.
func setLen[T ~int32 | ~uint32 | ~int64 | ~uint64](p *T, n int) { *p = T(n) }

// sysSendv is the primitive of Writev.
func (s *socket) sysSendv(first []byte, rest [][]byte) (int, error) {
	return sysWritev(s.fd, first, rest)
}
