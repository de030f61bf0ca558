package poller

import (
	"syscall"
	"unsafe"
)

var procWSADuplicateSocketW = ws2.NewProc("WSADuplicateSocketW")

const (
	fromProtocolInfo = ^uintptr(0) // FROM_PROTOCOL_INFO (-1)
	soSockType       = soType
)

// sysDupSocket duplicates a socket into this process with
// WSADuplicateSocket and WSASocket (the way Winsock documents; it works
// for a socket the Go runtime has bound to its completion port, which the
// duplicate stays bound to), non-inheritable and non-blocking.
func sysDupSocket(fd uintptr) (uintptr, error) {
	if err := wsaStartup(); err != nil {
		return 0, err
	}
	var info syscall.WSAProtocolInfo
	r, _, e := syscall.Syscall(procWSADuplicateSocketW.Addr(), 3, fd, uintptr(syscall.Getpid()), uintptr(unsafe.Pointer(&info)))
	if r != 0 {
		return 0, sysError("WSADuplicateSocket", e)
	}
	h, _, e := syscall.Syscall6(procWSASocketW.Addr(), 6, fromProtocolInfo, fromProtocolInfo, fromProtocolInfo,
		uintptr(unsafe.Pointer(&info)), 0, wsaFlagOverlapped|wsaFlagNoHandleInherit)
	if h == socketError {
		return 0, sysError("WSASocket", e)
	}
	if err := setNonblock(h); err != nil {
		syscall.Closesocket(syscall.Handle(h))
		return 0, sysError("ioctlsocket", err)
	}
	return h, nil
}

func sysGetpeername(fd uintptr) (syscall.Sockaddr, error) {
	return syscall.Getpeername(syscall.Handle(fd))
}
