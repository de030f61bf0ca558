package poller

import (
	"os"
	"syscall"
)

// macOS has neither SOCK_NONBLOCK nor accept4: set the flags under ForkLock
// so no fork inherits the descriptor in between.

func sysSocket(family, typ int) (uintptr, error) {
	syscall.ForkLock.RLock()
	fd, err := syscall.Socket(family, typ, 0)
	if err == nil {
		syscall.CloseOnExec(fd)
	}
	syscall.ForkLock.RUnlock()
	if err != nil {
		return 0, os.NewSyscallError("socket", err)
	}
	if err := setupSocket(fd); err != nil {
		syscall.Close(fd)
		return 0, err
	}
	return uintptr(fd), nil
}

// setupSocket makes fd non-blocking and turns SIGPIPE into EPIPE.
func setupSocket(fd int) error {
	if err := syscall.SetNonblock(fd, true); err != nil {
		return os.NewSyscallError("fcntl", err)
	}
	if err := syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_NOSIGPIPE, 1); err != nil {
		return os.NewSyscallError("setsockopt", err)
	}
	return nil
}

func sysAccept(fd uintptr) (uintptr, syscall.Sockaddr, error) {
	syscall.ForkLock.RLock()
	nfd, sa, err := syscall.Accept(int(fd))
	if err == nil {
		syscall.CloseOnExec(nfd)
	}
	syscall.ForkLock.RUnlock()
	if err != nil {
		return 0, nil, err
	}
	if err := setupSocket(nfd); err != nil {
		syscall.Close(nfd)
		return 0, nil, err
	}
	return uintptr(nfd), sa, nil
}

func sysSend(fd uintptr, p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	return syscall.Write(int(fd), p)
}
