//go:build linux || freebsd || netbsd || openbsd || dragonfly

// Sockets where the OS has SOCK_NONBLOCK, accept4 and MSG_NOSIGNAL: every
// Unix we support but macOS (socket_darwin.go).

package poller

import (
	"os"
	"syscall"
	"unsafe"
)

func sysSocket(family, typ int) (uintptr, error) {
	fd, err := syscall.Socket(family, typ|syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return 0, os.NewSyscallError("socket", err)
	}
	return uintptr(fd), nil
}

func sysAccept(fd uintptr) (uintptr, syscall.Sockaddr, error) {
	nfd, sa, err := syscall.Accept4(int(fd), syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC)
	return uintptr(nfd), sa, err
}

// sysSend is send(2) with MSG_NOSIGNAL, so a peer-closed socket gives EPIPE
// and never SIGPIPE.
func sysSend(fd uintptr, p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	n, _, e := nonblockSyscall6(syscall.SYS_SENDTO, fd, uintptr(unsafe.Pointer(&p[0])),
		uintptr(len(p)), syscall.MSG_NOSIGNAL, 0, 0)
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}
