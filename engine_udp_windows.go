package poller

import (
	"net/netip"
	"syscall"
	"unsafe"
)

// UDPSocket on the overlapped engine (engine_windows.go), by address-port:
// the engine's WSARecvFrom holds a datagram and its sender in C, and
// iocp_ovl_recvfrom copies both out; iocp_ovl_send copies a datagram and
// its destination into the engine's send buffer. Addresses pass through
// the UDPSocket's udpSys: a call into the engine goes through an interface,
// so an address on the stack would escape to the heap. udpSys is used only
// under sysPoll.mu (engineDo) of the one Poll an overlapped socket is bound
// to for good, which serialises concurrent ReadFroms and WriteTos.

// udpSys holds the UDPSocket's address buffers for the overlapped engine,
// made at first use. They are an object of their own, with no Go pointer
// in it: cgo's pointer check looks at the whole object that a pointer
// passed to C points into.
type udpSys struct {
	bufs *udpAddrBufs
}

type udpAddrBufs struct {
	from syscall.RawSockaddrAny
	to   rawDest
}

// addrBufs returns the buffers; under sysPoll.mu.
func (u *UDPSocket) addrBufs() *udpAddrBufs {
	if u.sys.bufs == nil {
		u.sys.bufs = new(udpAddrBufs)
	}
	return u.sys.bufs
}

func (u *UDPSocket) engineRecvfrom(p []byte) (int, netip.AddrPort, error, bool) {
	s := u.sock
	if it, ok := s.sys.popHeld(); ok {
		from, _ := sockaddrAddrPort(it.sa) // received before a Deregister
		return copy(p, it.data), from, nil, true
	}
	var n int
	var from netip.AddrPort
	var err error
	if !engineDo(s.engineReg(), func(ec engineCore, state uintptr) {
		b := u.addrBufs()
		b.from = syscall.RawSockaddrAny{}
		if n, err = ec.recvfrom(state, p, &b.from); err == nil {
			from, _ = rawAddrPort(&b.from)
		}
	}) {
		return 0, netip.AddrPort{}, nil, false
	}
	return n, from, err, true
}

// engineWriteTo sends p to d (nil: the connected peer, which the engine
// needs spelt out).
func (u *UDPSocket) engineWriteTo(p []byte, d *udpDest) (int, error, bool) {
	reg := u.sock.engineReg()
	if reg == nil {
		return 0, nil, false
	}
	if d == nil {
		d = &u.peer
	}
	var n int
	var err error
	if !engineDo(reg, func(ec engineCore, state uintptr) {
		b := u.addrBufs()
		l := b.to.set(d)
		n, err = ec.send(state, p, unsafe.Pointer(&b.to), l)
	}) {
		return 0, nil, false
	}
	switch {
	case err == nil && n == len(p):
		return n, nil, true
	case err == nil || err == wsaEWouldBlock:
		return n, ErrWouldBlock, true // the engine re-armed Writable
	}
	return n, sysError("sendto", err), true
}
