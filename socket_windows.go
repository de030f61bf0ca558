package poller

import (
	"os"
	"sync"
	"syscall"
	"unsafe"
)

// The Winsock layer under socket.go: plain non-blocking sockets (AFD polls
// them without binding them to a port), thin calls with raw errors.

var (
	ws2            = syscall.NewLazyDLL("ws2_32.dll")
	procWSASocketW = ws2.NewProc("WSASocketW")
	procIoctl      = ws2.NewProc("ioctlsocket")
	procAccept     = ws2.NewProc("accept")
	procRecv       = ws2.NewProc("recv")
	procSend       = ws2.NewProc("send")
	procRecvfrom   = ws2.NewProc("recvfrom")
	procSendto     = ws2.NewProc("sendto")

	wsaOnce sync.Once
	wsaErr  error
)

const (
	wsaFlagOverlapped      = 0x01
	wsaFlagNoHandleInherit = 0x80
	fionbio                = 0x8004667e
	sioUDPConnReset        = 0x9800000c
	sioUDPNetReset         = 0x9800000f
	soError                = 0x1007
	socketError            = ^uintptr(0) // SOCKET_ERROR and INVALID_SOCKET
	wsaEWouldBlock         = syscall.Errno(10035)
	wsaEInProgress         = syscall.Errno(10036)
	wsaEIntr               = syscall.Errno(10004)
	wsaEMsgSize            = syscall.Errno(10040)
	wsaEConnAborted        = syscall.Errno(10053)
	wsaEConnReset          = syscall.Errno(10054)
)

// errWouldBlock is WSAEWOULDBLOCK boxed once: boxing an Errno above 255
// allocates, and the hot paths return it all the time.
var errWouldBlock error = wsaEWouldBlock

// errnoErr boxes a call's error without allocating for WSAEWOULDBLOCK.
func errnoErr(e syscall.Errno) error {
	if e == wsaEWouldBlock {
		return errWouldBlock
	}
	return e
}

func wsaStartup() error {
	wsaOnce.Do(func() {
		var d syscall.WSAData
		if err := syscall.WSAStartup(0x202, &d); err != nil {
			wsaErr = os.NewSyscallError("WSAStartup", err)
		}
	})
	return wsaErr
}

// sysSocket creates a non-inheritable, non-blocking socket. It is
// overlapped-capable for the overlapped engine's sake.
func sysSocket(family, typ int) (uintptr, error) {
	if err := wsaStartup(); err != nil {
		return 0, err
	}
	proto := syscall.IPPROTO_TCP
	if typ == syscall.SOCK_DGRAM {
		proto = syscall.IPPROTO_UDP
	}
	h, _, e := syscall.Syscall6(procWSASocketW.Addr(), 6, uintptr(family), uintptr(typ), uintptr(proto),
		0, 0, wsaFlagOverlapped|wsaFlagNoHandleInherit)
	if h == socketError {
		return 0, sysError("socket", e)
	}
	if err := setNonblock(h); err != nil {
		syscall.Closesocket(syscall.Handle(h))
		return 0, sysError("ioctlsocket", err)
	}
	if typ == syscall.SOCK_DGRAM {
		// Without these, an ICMP port-unreachable (or TTL expired) fails
		// the next recvfrom, as package net knows (DialUDP turns the
		// first back on: udp_connected.go).
		var off uint32
		var ret uint32
		syscall.WSAIoctl(syscall.Handle(h), sioUDPConnReset, (*byte)(unsafe.Pointer(&off)), 4, nil, 0, &ret, nil, 0)
		syscall.WSAIoctl(syscall.Handle(h), sioUDPNetReset, (*byte)(unsafe.Pointer(&off)), 4, nil, 0, &ret, nil, 0)
	}
	return h, nil
}

func setNonblock(h uintptr) error {
	on := uint32(1)
	r, _, e := syscall.Syscall(procIoctl.Addr(), 3, h, fionbio, uintptr(unsafe.Pointer(&on)))
	if r != 0 {
		return e
	}
	return nil
}

func sysCloseSocket(fd uintptr) { syscall.Closesocket(syscall.Handle(fd)) }

// The primitives on a socket (socket.go): Winsock calls, or the overlapped
// engine's (socket_ovl_windows.go) for a socket registered on it and for
// what an earlier registration of it handed back.

func (s *socket) sysAccept() (uintptr, syscall.Sockaddr, error) {
	if it, ok := s.sys.popHeld(); ok {
		return it.fd, it.sa, nil // accepted before a Deregister
	}
	if fd, sa, ran, err := s.ovlAccept(); ran {
		return fd, sa, err
	}
	return sysAccept(s.fd)
}

// sysRecv is recv on every engine: the overlapped one only learns
// readiness with its zero-byte receives. A deferred connect in flight makes
// it ErrWouldBlock, and a failed one its failure (ovlRecvError).
func (s *socket) sysRecv(p []byte) (int, error) {
	n, err := sysRead(s.fd, p)
	if err != nil {
		return n, s.ovlRecvError(err)
	}
	return n, nil
}

func (s *socket) sysRecvfrom(p []byte) (int, syscall.Sockaddr, error) {
	if it, ok := s.sys.popHeld(); ok {
		return copy(p, it.data), it.sa, nil // received before a Deregister
	}
	if n, sa, ran, err := s.ovlRecvfrom(p); ran {
		return n, sa, err
	}
	return sysRecvfrom(s.fd, p)
}

func (s *socket) sysSend(p []byte) (int, error) {
	if n, ran, err := s.ovlSend(p, nil); ran {
		return n, err
	}
	return sysSend(s.fd, p)
}

func (s *socket) sysSendto(p []byte, to syscall.Sockaddr) error {
	if _, ran, err := s.ovlSend(p, to); ran {
		return err
	}
	return sysSendto(s.fd, p, to)
}

// sysConnect starts the connect, or, for a stream that will use the
// overlapped engine, leaves it to Register.
func (s *socket) sysConnect(sa syscall.Sockaddr) error {
	if ovlDialing(s.fd) {
		return s.ovlDeferConnect(sa)
	}
	return startConnect(s.fd, sa)
}

// sysTakeError takes a deferred connect's failure (none while it is in
// flight), or else SO_ERROR.
func (s *socket) sysTakeError() (soErr, err error) {
	switch st := s.ovlConnectStatus(true); st {
	case nil:
		return sysSocketError(s.fd)
	case wsaEWouldBlock:
		return nil, nil
	default:
		return st, nil
	}
}

// sysClose closes the handle at the socket's final release, or hands it to
// the overlapped engine's lingering state (poller_ovl_windows.go's
// ownership rule); connections the engine accepted and nobody took close
// with it.
func (s *socket) sysClose() {
	s.sys.closeHeld()
	if l := s.sys.linger.Load(); l != nil {
		l.sp.handover(l.state, s.fd)
		return
	}
	sysCloseSocket(s.fd)
}

// wouldBlock re-arms the direction of a registered socket.
func (s *socket) wouldBlock(flags uint32) {
	if reg := s.reg.Load(); reg != nil {
		reg.registry.p.sys.rearm(reg, flags)
	}
}

// connectFailure is what a stream's recv or send result err (nil for a
// recv of 0 bytes) means when the stream's connect failed: Winsock keeps
// that failure in SO_ERROR only, and recv says 0 (Wine) or WSAENOTCONN,
// send WSAECONNRESET (Wine) or WSAENOTCONN. Then it returns (and, as
// SO_ERROR does, clears) that failure, so Read and Write return
// ECONNREFUSED as on Unix; otherwise err. Only the end of a stream and
// errors come here, never a healthy stream's data path.
func (s *socket) connectFailure(err error) error {
	if err != nil && err != wsaENotConn && err != wsaEConnReset {
		return err
	}
	if soErr, _ := sysSocketError(s.fd); soErr != nil {
		return soErr
	}
	return err
}

func sysError(op string, err error) error {
	if e, ok := err.(syscall.Errno); ok {
		err = winErrno(e)
	}
	return os.NewSyscallError(op, err)
}

func isWouldBlock(err error) bool     { return err == wsaEWouldBlock }
func isInterrupted(err error) bool    { return err == wsaEIntr }
func isConnAborted(err error) bool    { return err == wsaEConnAborted || err == wsaEConnReset }
func isConnectPending(err error) bool { return err == wsaEWouldBlock || err == wsaEInProgress }

func sysListen(fd uintptr) error { return syscall.Listen(syscall.Handle(fd), syscall.SOMAXCONN) }
func sysBind(fd uintptr, sa syscall.Sockaddr) error {
	return syscall.Bind(syscall.Handle(fd), sa)
}
func sysConnect(fd uintptr, sa syscall.Sockaddr) error {
	return syscall.Connect(syscall.Handle(fd), sa)
}
func sysShutdownWrite(fd uintptr) error {
	return syscall.Shutdown(syscall.Handle(fd), syscall.SHUT_WR)
}

// sysSetReuseAddr sets SO_EXCLUSIVEADDRUSE on a TCP listener, as package
// net does: SO_REUSEADDR on Windows would let another socket steal the
// port, which is not what Unix's flag means, and exclusive use keeps any
// other socket from binding it.
func sysSetReuseAddr(fd uintptr) {
	syscall.SetsockoptInt(syscall.Handle(fd), syscall.SOL_SOCKET, soExclusiveAddrUse, 1)
}

func sysGetsockname(fd uintptr) (syscall.Sockaddr, error) {
	return syscall.Getsockname(syscall.Handle(fd))
}

func sysSetNoDelay(fd uintptr, on bool) error {
	v := 0
	if on {
		v = 1
	}
	return syscall.SetsockoptInt(syscall.Handle(fd), syscall.IPPROTO_TCP, syscall.TCP_NODELAY, v)
}

func sysSocketError(fd uintptr) (soErr, err error) {
	v, err := syscall.GetsockoptInt(syscall.Handle(fd), syscall.SOL_SOCKET, soError)
	if err != nil || v == 0 {
		return nil, err
	}
	return syscall.Errno(v), nil
}

// sysAccept accepts a connection; it inherits the listener's non-blocking
// mode, and is made non-inheritable.
func sysAccept(fd uintptr) (uintptr, syscall.Sockaddr, error) {
	var rsa syscall.RawSockaddrAny
	l := int32(unsafe.Sizeof(rsa))
	h, _, e := syscall.Syscall(procAccept.Addr(), 3, fd, uintptr(unsafe.Pointer(&rsa)), uintptr(unsafe.Pointer(&l)))
	if h == socketError {
		return 0, nil, errnoErr(e)
	}
	syscall.SetHandleInformation(syscall.Handle(h), syscall.HANDLE_FLAG_INHERIT, 0)
	if err := setNonblock(h); err != nil {
		syscall.Closesocket(syscall.Handle(h))
		return 0, nil, err
	}
	sa, err := rsa.Sockaddr()
	if err != nil {
		sa = nil
	}
	return h, sa, nil
}

// maxIOLen is the most bytes one Winsock call (or C core call) is given,
// 1 GiB as in package net: their lengths are 32-bit ints. Longer buffers
// are read and written in parts, with honest counts. Tests lower it.
var maxIOLen = 1 << 30

// recvResult, when a test sets it, replaces the result of sysRead's recv
// (n, and the error when n is -1): how a test injects WSAECONNRESET, which
// Wine rarely gives.
var recvResult func(n int32, e syscall.Errno) (int32, syscall.Errno)

// clampIO cuts p to what one call takes.
func clampIO(p []byte) []byte {
	if len(p) > maxIOLen {
		return p[:maxIOLen]
	}
	return p
}

func sysRead(fd uintptr, p []byte) (int, error) {
	p = clampIO(p)
	var buf uintptr
	if len(p) > 0 {
		buf = uintptr(unsafe.Pointer(&p[0]))
	}
	r, _, e := syscall.Syscall6(procRecv.Addr(), 4, fd, buf, uintptr(int32(len(p))), 0, 0, 0)
	n := int32(r)
	if recvResult != nil {
		n, e = recvResult(n, e)
	}
	if n == -1 {
		return 0, errnoErr(e)
	}
	return int(n), nil
}

func sysSend(fd uintptr, p []byte) (int, error) {
	p = clampIO(p)
	if len(p) == 0 {
		return 0, nil
	}
	n, _, e := syscall.Syscall6(procSend.Addr(), 4, fd, uintptr(unsafe.Pointer(&p[0])), uintptr(int32(len(p))), 0, 0, 0)
	if int32(n) == -1 {
		return 0, errnoErr(e)
	}
	return int(int32(n)), nil
}

// sysRecvfrom reads one datagram; a datagram larger than p is truncated, as
// on Unix (Winsock reports WSAEMSGSIZE with p filled).
func sysRecvfrom(fd uintptr, p []byte) (int, syscall.Sockaddr, error) {
	p = clampIO(p)
	var rsa syscall.RawSockaddrAny
	l := int32(unsafe.Sizeof(rsa))
	var buf uintptr
	if len(p) > 0 {
		buf = uintptr(unsafe.Pointer(&p[0]))
	}
	n, _, e := syscall.Syscall6(procRecvfrom.Addr(), 6, fd, buf, uintptr(int32(len(p))), 0,
		uintptr(unsafe.Pointer(&rsa)), uintptr(unsafe.Pointer(&l)))
	if int32(n) == -1 {
		if e != wsaEMsgSize {
			return 0, nil, errnoErr(e)
		}
		n = uintptr(len(p))
	}
	sa, _ := rsa.Sockaddr()
	return int(int32(n)), sa, nil
}

// sysSendto sends p as one datagram. One longer than one call takes
// cannot go out whole: WSAEMSGSIZE, nothing sent.
func sysSendto(fd uintptr, p []byte, to syscall.Sockaddr) error {
	if len(p) > maxIOLen {
		return wsaEMsgSize
	}
	ptr, l, err := rawSockaddr(to)
	if err != nil {
		return err
	}
	var buf uintptr
	if len(p) > 0 {
		buf = uintptr(unsafe.Pointer(&p[0]))
	}
	n, _, e := syscall.Syscall6(procSendto.Addr(), 6, fd, buf, uintptr(int32(len(p))), 0, uintptr(ptr), uintptr(l))
	if int32(n) == -1 {
		return errnoErr(e)
	}
	return nil
}

// rawSockaddr lays out an IPv4 or IPv6 address as Winsock expects it.
func rawSockaddr(sa syscall.Sockaddr) (unsafe.Pointer, int32, error) {
	switch sa := sa.(type) {
	case *syscall.SockaddrInet4:
		raw := &syscall.RawSockaddrInet4{Family: syscall.AF_INET, Addr: sa.Addr}
		p := (*[2]byte)(unsafe.Pointer(&raw.Port))
		p[0], p[1] = byte(sa.Port>>8), byte(sa.Port)
		return unsafe.Pointer(raw), int32(unsafe.Sizeof(*raw)), nil
	case *syscall.SockaddrInet6:
		raw := &syscall.RawSockaddrInet6{Family: syscall.AF_INET6, Addr: sa.Addr, Scope_id: sa.ZoneId}
		p := (*[2]byte)(unsafe.Pointer(&raw.Port))
		p[0], p[1] = byte(sa.Port>>8), byte(sa.Port)
		return unsafe.Pointer(raw), int32(unsafe.Sizeof(*raw)), nil
	}
	return nil, 0, syscall.EAFNOSUPPORT
}

// winErrno is a Winsock or Win32 error that errors.Is also matches against
// package syscall's portable names (syscall.ECONNREFUSED for
// WSAECONNREFUSED, and so on), so callers test errors as on Unix.
type winErrno syscall.Errno

var winToPortable = map[syscall.Errno]syscall.Errno{
	10004: syscall.EINTR, 10009: syscall.EBADF, 10013: syscall.EACCES, 10014: syscall.EFAULT,
	10022: syscall.EINVAL, 10024: syscall.EMFILE, 10035: syscall.EAGAIN, 10036: syscall.EINPROGRESS,
	10037: syscall.EALREADY, 10038: syscall.ENOTSOCK, 10040: syscall.EMSGSIZE, 10047: syscall.EAFNOSUPPORT,
	10048: syscall.EADDRINUSE, 10049: syscall.EADDRNOTAVAIL, 10050: syscall.ENETDOWN,
	10051: syscall.ENETUNREACH, 10053: syscall.ECONNABORTED, 10054: syscall.ECONNRESET,
	10055: syscall.ENOBUFS, 10056: syscall.EISCONN, 10057: syscall.ENOTCONN, 10058: syscall.ESHUTDOWN,
	10060: syscall.ETIMEDOUT, 10061: syscall.ECONNREFUSED, 10065: syscall.EHOSTUNREACH,
	1225: syscall.ECONNREFUSED, 1236: syscall.ECONNABORTED, 64: syscall.ECONNRESET,
}

func (e winErrno) Error() string { return syscall.Errno(e).Error() }
func (e winErrno) Unwrap() error { return syscall.Errno(e) }

func (e winErrno) Is(target error) bool {
	t, ok := target.(syscall.Errno)
	return ok && winToPortable[syscall.Errno(e)] == t && t != 0
}
