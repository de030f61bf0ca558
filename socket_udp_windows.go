package poller

import (
	"net/netip"
	"syscall"
	"unsafe"
)

// The address-port primitives of a UDP socket on Windows (udp_addrport.go
// calls them): what an earlier registration of the overlapped engine
// handed back, then the engine (socket_ovl_windows.go), then recvfrom and
// sendto on the stack (udp_raw_windows.go).
//
// On the overlapped engine the engine's WSARecvFrom holds a datagram and
// its sender in C, and iocp_ovl_recvfrom copies both out; iocp_ovl_send
// copies a datagram and its destination into the engine's send buffer.
// Addresses pass through the socket's udpAddrBufs, not the stack: the call
// into the core goes through an interface, so an address on the stack
// would escape to the heap. The buffers are used only under sysPoll.mu
// (ovlDo) of the one Poll an overlapped socket is bound to for good, which
// serialises concurrent ReadFroms and WriteTos of the socket.

// udpAddrBufs are a UDP socket's address buffers for the overlapped
// engine, made at first use. They are an object of their own with no Go
// pointer in it: cgo's pointer check looks at the whole object a pointer
// passed to C points into.
type udpAddrBufs struct {
	from syscall.RawSockaddrAny
	to   rawDest
}

// addrBufs returns the buffers; under sysPoll.mu.
func (ss *sockSys) addrBufs() *udpAddrBufs {
	if ss.udpAddrs == nil {
		ss.udpAddrs = new(udpAddrBufs)
	}
	return ss.udpAddrs
}

func (s *socket) sysRecvfromAddrPort(p []byte) (int, netip.AddrPort, error) {
	if it, ok := s.sys.popHeld(); ok {
		from, _ := sockaddrAddrPort(it.sa) // received before a Deregister
		return copy(p, it.data), from, nil
	}
	var n int
	var from netip.AddrPort
	var err error
	if ovlDo(s.ovlReg(), func(c core, state uintptr) {
		b := s.sys.addrBufs()
		b.from = syscall.RawSockaddrAny{}
		if n, err = c.ovlRecvfrom(state, p, &b.from); err == nil {
			from, _ = rawAddrPort(&b.from)
		}
	}) {
		return n, from, err
	}
	return sysRecvfromAddrPort(s.fd, p)
}

// sysSendtoDest sends p to d; connected: the socket is connected to d, and
// sendto is given no address (the engine always needs it).
func (s *socket) sysSendtoDest(p []byte, d *udpDest, connected bool) error {
	if reg := s.ovlReg(); reg != nil {
		var n int
		var err error
		if ovlDo(reg, func(c core, state uintptr) {
			b := s.sys.addrBufs()
			l := b.to.set(d)
			n, err = c.ovlSend(state, p, unsafe.Pointer(&b.to), l)
		}) {
			_, err = ovlSendResult(n, len(p), err)
			return err
		}
	}
	if connected {
		d = nil
	}
	return sysSendtoDest(s.fd, p, d)
}
