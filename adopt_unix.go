//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package poller

import (
	"os"
	"syscall"
)

const (
	soAcceptConn = syscall.SO_ACCEPTCONN
	soSockType   = syscall.SO_TYPE
)

// sysDupSocket duplicates fd with close-on-exec (under ForkLock, so that no
// fork inherits it in between) and makes it non-blocking (and, on macOS,
// SIGPIPE-free).
func sysDupSocket(fd uintptr) (uintptr, error) {
	syscall.ForkLock.RLock()
	nfd, err := syscall.Dup(int(fd))
	if err == nil {
		syscall.CloseOnExec(nfd)
	}
	syscall.ForkLock.RUnlock()
	if err != nil {
		return 0, os.NewSyscallError("dup", err)
	}
	if err := syscall.SetNonblock(nfd, true); err != nil {
		syscall.Close(nfd)
		return 0, os.NewSyscallError("fcntl", err)
	}
	if soNoSigpipe != 0 {
		if err := syscall.SetsockoptInt(nfd, syscall.SOL_SOCKET, soNoSigpipe, 1); err != nil {
			syscall.Close(nfd)
			return 0, os.NewSyscallError("setsockopt", err)
		}
	}
	return uintptr(nfd), nil
}

func sysGetpeername(fd uintptr) (syscall.Sockaddr, error) { return syscall.Getpeername(int(fd)) }
