package poller

import (
	"errors"
	"fmt"
	"syscall"
	"unsafe"
)

// The Winsock calls under sockopt.go and listen.go; raw errors.

const (
	soExclusiveAddrUse = ^syscall.SO_REUSEADDR // SO_EXCLUSIVEADDRUSE
	soAcceptConn       = 0x2
	tcpKeepIdle        = 3 // TCP_KEEPALIVE: idle seconds (Windows 10 1709)
	tcpKeepCnt         = 16
	tcpKeepIntvl       = 17
	sioKeepAliveVals   = 0x98000004
	msgPeek            = 0x2
	wsaEShutdown       = syscall.Errno(10058)
	wsaENoProtoOpt     = syscall.Errno(10042)
)

func sysSetsockoptInt(fd uintptr, level, name, v int) error {
	return syscall.SetsockoptInt(syscall.Handle(fd), level, name, v)
}

func sysGetsockoptInt(fd uintptr, level, name int) (int, error) {
	return syscall.GetsockoptInt(syscall.Handle(fd), level, name)
}

// sysSetLinger sets SO_LINGER; Winsock's struct linger is two u_shorts.
func sysSetLinger(fd uintptr, sec int) error {
	var l [2]uint16
	if sec >= 0 {
		l[0], l[1] = 1, uint16(sec)
	}
	return syscall.Setsockopt(syscall.Handle(fd), syscall.SOL_SOCKET, syscall.SO_LINGER, (*byte)(unsafe.Pointer(&l[0])), int32(unsafe.Sizeof(l)))
}

var errKeepAliveCount = fmt.Errorf("poller: keepalive count needs Windows 10 1709 or later: %w", errors.ErrUnsupported)

// sysSetKeepAliveTimes sets idle, interval (seconds) and count (0: 9;
// negative: leave alone) with the per-socket options of Windows 10 1709
// and later. Where they are missing (older Windows, Wine 8), idle and
// interval go through SIO_KEEPALIVE_VALS (which sets both: one left alone
// gets Windows' default, 2 h or 1 s), a count of 0 stays the system's (10)
// and an explicit count fails with errors.ErrUnsupported.
func sysSetKeepAliveTimes(fd uintptr, idle, intvl, cnt int) error {
	h := syscall.Handle(fd)
	err := error(nil)
	perSocket := cnt
	if perSocket == 0 {
		perSocket = 9
	}
	for _, o := range [...]struct{ name, v int }{{tcpKeepIdle, idle}, {tcpKeepIntvl, intvl}, {tcpKeepCnt, perSocket}} {
		if o.v >= 0 {
			if err = syscall.SetsockoptInt(h, syscall.IPPROTO_TCP, o.name, o.v); err != nil {
				break
			}
		}
	}
	if err != wsaENoProtoOpt {
		return err
	}
	if idle >= 0 || intvl >= 0 {
		if err := keepAliveVals(h, idle, intvl); err != nil {
			return err
		}
	}
	if cnt > 0 {
		return errKeepAliveCount
	}
	return nil
}

// keepAliveVals sets idle and interval with SIO_KEEPALIVE_VALS.
func keepAliveVals(h syscall.Handle, idle, intvl int) error {
	if idle < 0 {
		idle = 7200
	}
	if intvl < 0 {
		intvl = 1
	}
	vals := [3]uint32{1, uint32(idle) * 1000, uint32(intvl) * 1000}
	var ret uint32
	return syscall.WSAIoctl(h, sioKeepAliveVals, (*byte)(unsafe.Pointer(&vals[0])), uint32(unsafe.Sizeof(vals)), nil, 0, &ret, nil, 0)
}

func sysShutdownRead(fd uintptr) error {
	return syscall.Shutdown(syscall.Handle(fd), syscall.SHUT_RD)
}

// afterCloseRead posts a Readable for a registered socket (a wake packet
// with its registration's id, as engine_windows.go's held data gets): AFD
// reports nothing for a local SD_RECEIVE, and the next Read says io.EOF.
func (s *socket) afterCloseRead() {
	reg := s.reg.Load()
	if reg == nil {
		return
	}
	sp := &reg.registry.p.sys
	sp.mu.Lock()
	defer sp.mu.Unlock()
	if reg.sys.live && !sp.closed {
		sp.core.wake(reg.id)
	}
}

// isShutdown: a receive after CloseRead fails with WSAESHUTDOWN; Read and
// Peek report io.EOF, as Unix does.
func isShutdown(err error) bool { return err == wsaEShutdown }

// sysPeek is the primitive of Peek: recv with MSG_PEEK on every engine, as
// sysRecv (a deferred connect in flight makes it ErrWouldBlock, a failed
// one its failure).
func (s *socket) sysPeek(p []byte) (int, error) {
	n, err := recvPeek(s.fd, p)
	if err != nil {
		return n, s.ovlRecvError(err)
	}
	return n, nil
}

func recvPeek(fd uintptr, p []byte) (int, error) {
	p = clampIO(p)
	var buf uintptr
	if len(p) > 0 {
		buf = uintptr(unsafe.Pointer(&p[0]))
	}
	r, _, e := syscall.Syscall6(procRecv.Addr(), 4, fd, buf, uintptr(int32(len(p))), msgPeek, 0, 0)
	if int32(r) == -1 {
		return 0, errnoErr(e)
	}
	return int(int32(r)), nil
}

func sysSetV6Only(fd uintptr, on bool) error {
	return syscall.SetsockoptInt(syscall.Handle(fd), syscall.IPPROTO_IPV6, syscall.IPV6_V6ONLY, boolInt(on))
}

// Windows has no SO_REUSEPORT (listen.go fails ReusePort before this).
const reusePortSupported = false

func sysSetReusePort(fd uintptr) error { return errReusePort }

// sysListenBacklog listens with backlog n, 0 for the system's maximum.
func sysListenBacklog(fd uintptr, n int) error {
	if n == 0 {
		n = syscall.SOMAXCONN
	}
	return syscall.Listen(syscall.Handle(fd), n)
}

// dualStackOS: IPv4-mapped addresses on AF_INET6 sockets (listen.go probes too).
const dualStackOS = true
