package poller

// The overlapped engine's socket paths (poller_ovl_windows.go has its
// registrations and the rules they keep): socket_windows.go's primitives
// come here for a socket registered on that engine, and for what an earlier
// registration handed back.

import (
	"sync"
	"sync/atomic"
	"syscall"
	"unsafe"
)

// sockSys is the overlapped engine's per-socket data.
type sockSys struct {
	connectTo atomic.Pointer[syscall.Sockaddr] // deferred connect, until Register starts it
	boundPort atomic.Uint64                    // sysPoll.portID this socket is bound to; 0 none
	boundSkip atomic.Bool                      // skip-on-success was set when bound
	linger    atomic.Pointer[lingerTo]         // set by a remove with a send in flight (and every Close's): hand the handle over

	// What the engine handed back at Deregister or Poll.Close: accepted
	// connections or received datagrams, older than anything still in the
	// kernel, so Accept and ReadFrom take them first.
	heldMu sync.Mutex
	held   []heldItem

	udpAddrs *udpAddrBufs // a UDP socket's address buffers (socket_udp_windows.go), under sysPoll.mu
}

// heldItem is one accepted connection (fd) or one datagram (data) kept for
// the next Accept or ReadFrom.
type heldItem struct {
	fd   uintptr
	data []byte
	sa   syscall.Sockaddr
}

// takeBack keeps what a deleted state held and learns its connect state:
// a connect known done is not restarted at the next Register; one in
// flight (taken over by the next Register) or failed keeps connectTo, so a
// re-Register never reports a connect that did not happen.
func (ss *sockSys) takeBack(h heldBack) {
	if h.flags&heldConnected != 0 {
		ss.connectTo.Store(nil)
	}
	if !h.hasFD && !h.hasData {
		return
	}
	ss.heldMu.Lock()
	ss.held = append(ss.held, heldItem{fd: h.fd, data: h.data, sa: h.sa})
	ss.heldMu.Unlock()
}

// popHeld takes the oldest item kept by takeBack.
func (ss *sockSys) popHeld() (heldItem, bool) {
	ss.heldMu.Lock()
	defer ss.heldMu.Unlock()
	if len(ss.held) == 0 {
		return heldItem{}, false
	}
	it := ss.held[0]
	ss.held[0] = heldItem{}
	ss.held = ss.held[1:]
	return it, true
}

func (ss *sockSys) hasHeld() bool {
	ss.heldMu.Lock()
	defer ss.heldMu.Unlock()
	return len(ss.held) > 0
}

// closeHeld closes the connections nobody accepted (the listener's close).
func (ss *sockSys) closeHeld() {
	ss.heldMu.Lock()
	items := ss.held
	ss.held = nil
	ss.heldMu.Unlock()
	for _, it := range items {
		if it.data == nil {
			sysCloseSocket(it.fd)
		}
	}
}

// ovlDeferConnect binds a new stream that will use the overlapped engine
// (ovlDialing) instead of connecting it, and keeps sa for Register's
// connect: ConnectEx needs the socket bound to the port, which only
// Register does.
func (s *socket) ovlDeferConnect(sa syscall.Sockaddr) error {
	if _, err := sysGetsockname(s.fd); err != nil { // not bound yet by a Dialer's LocalAddr
		var any syscall.Sockaddr = &syscall.SockaddrInet4{}
		if _, ok := sa.(*syscall.SockaddrInet6); ok {
			any = &syscall.SockaddrInet6{}
		}
		if err := sysBind(s.fd, any); err != nil {
			return sysError("bind", err)
		}
	}
	s.sys.connectTo.Store(&sa)
	return nil
}

// connectDeferred reports whether the stream's connect waits for Register.
func (s *socket) connectDeferred() bool { return s.sys.connectTo.Load() != nil }

// overlappedBound reports whether the socket is bound to a Poll for good.
func (s *socket) overlappedBound() bool { return s.sys.boundPort.Load() != 0 }

// ovlReg returns the socket's registration when it is on the overlapped
// engine; nil-safe (the zero TCPStream has no socket).
func (s *socket) ovlReg() *registration {
	if s == nil {
		return nil
	}
	if reg := s.reg.Load(); reg != nil && reg.sys.engine == engineOverlapped {
		return reg
	}
	return nil
}

// ovlSend gives p to the engine's send buffer (to: a datagram's address, or
// nil); ran is false when the socket has no live overlapped state. A count
// short of len(p) comes with ErrWouldBlock: the engine re-armed Writable
// itself. An error after part of p was taken comes with the next call.
func (s *socket) ovlSend(p []byte, to syscall.Sockaddr) (n int, ran bool, err error) {
	reg := s.ovlReg()
	if reg == nil {
		return 0, false, nil
	}
	var ptr unsafe.Pointer
	var l int32
	if to != nil {
		if ptr, l, err = rawSockaddr(to); err != nil {
			return 0, true, err
		}
	}
	if !ovlDo(reg, func(c core, state uintptr) { n, err = c.ovlSend(state, p, ptr, l) }) {
		return 0, false, nil
	}
	n, err = ovlSendResult(n, len(p), err)
	return n, true, err
}

// ovlSendResult is what a send of want bytes that the engine took n of,
// with err, returns.
func ovlSendResult(n, want int, err error) (int, error) {
	switch {
	case err == nil && n == want:
		return n, nil
	case err == nil || err == wsaEWouldBlock:
		return n, ErrWouldBlock
	case n > 0:
		return n, nil
	}
	return 0, err
}

// ovlAccept takes a connection the engine's AcceptEx accepted.
func (s *socket) ovlAccept() (fd uintptr, sa syscall.Sockaddr, ran bool, err error) {
	var rsa syscall.RawSockaddrAny
	if !ovlDo(s.ovlReg(), func(c core, state uintptr) { fd, err = c.ovlAccept(state, &rsa) }) {
		return 0, nil, false, nil
	}
	if err != nil {
		return 0, nil, true, err
	}
	sa, err = rsa.Sockaddr()
	if err != nil {
		sa = nil
	}
	return fd, sa, true, nil
}

// ovlRecvfrom takes a datagram the engine's WSARecvFrom received.
func (s *socket) ovlRecvfrom(p []byte) (n int, sa syscall.Sockaddr, ran bool, err error) {
	var rsa syscall.RawSockaddrAny
	if !ovlDo(s.ovlReg(), func(c core, state uintptr) { n, err = c.ovlRecvfrom(state, p, &rsa) }) {
		return 0, nil, false, nil
	}
	if err != nil {
		return 0, nil, true, err
	}
	sa, _ = rsa.Sockaddr()
	return n, sa, true, nil
}

// ovlRecvError turns WSAENOTCONN on a stream whose deferred connect is in
// flight into ErrWouldBlock (its completion brings the next event), and on
// one whose connect failed into that failure.
func (s *socket) ovlRecvError(err error) error {
	if err != wsaENotConn {
		return err
	}
	switch st := s.ovlConnectStatus(false); st {
	case nil:
		return err
	case wsaEWouldBlock:
		return ErrWouldBlock
	default:
		return st
	}
}

// ovlConnectStatus is the deferred connect's state (iocp_ovl_connect_status;
// take: clear a failure): nil when done or when the socket has no live
// overlapped state, WSAEWOULDBLOCK while in flight, or its failure.
func (s *socket) ovlConnectStatus(take bool) error {
	var err error
	ovlDo(s.ovlReg(), func(c core, state uintptr) { err = c.ovlConnectStatus(state, take) })
	return err
}
