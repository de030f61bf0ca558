package poller

import (
	"fmt"
	"net"
	"syscall"
)

// wsaEAFNoSupport is what socket(AF_UNIX, ...) gives where Winsock has no
// AF_UNIX provider: Windows before 10 1803, and Wine 8 (its providers are
// AF_INET, AF_INET6 and AF_IPX only).
const wsaEAFNoSupport = syscall.Errno(10047)

// unixSocket creates a non-inheritable, non-blocking AF_UNIX socket of typ
// (protocol 0: the afunix provider has no other), overlapped-capable as
// sysSocket's are. A refusal for want of AF_UNIX is ErrUnixUnsupported.
func unixSocket(typ int) (uintptr, error) {
	if err := wsaStartup(); err != nil {
		return 0, err
	}
	h, _, e := syscall.SyscallN(procWSASocketW.Addr(), syscall.AF_UNIX, uintptr(typ), 0,
		0, 0, wsaFlagOverlapped|wsaFlagNoHandleInherit)
	if h == socketError {
		err := sysError("socket", e)
		if e == wsaEAFNoSupport {
			return 0, &net.OpError{Op: "socket", Net: "unix", Err: fmt.Errorf("%w (Winsock has no AF_UNIX provider): %w", ErrUnixUnsupported, err)}
		}
		return 0, err
	}
	if err := setNonblock(h); err != nil {
		syscall.Closesocket(syscall.Handle(h))
		return 0, sysError("ioctlsocket", err)
	}
	return h, nil
}
