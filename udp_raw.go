//go:build linux || windows

package poller

import (
	"net/netip"
	"syscall"
	"unsafe"
)

// The OS's own address layouts for the address-port paths of UDPSocket on
// Linux and Windows (same layout on both): a received sender is read out
// of a RawSockaddrAny and a destination laid out in a rawDest, each on the
// caller's stack, so that no Sockaddr interface value is made per datagram.

// rawAddrPort reads the sender recvfrom wrote into rsa.
func rawAddrPort(rsa *syscall.RawSockaddrAny) (netip.AddrPort, bool) {
	switch rsa.Addr.Family {
	case syscall.AF_INET:
		sa := (*syscall.RawSockaddrInet4)(unsafe.Pointer(rsa))
		return addrPortOf(syscall.AF_INET, sa.Addr[:], netPort(&sa.Port), 0)
	case syscall.AF_INET6:
		sa := (*syscall.RawSockaddrInet6)(unsafe.Pointer(rsa))
		return addrPortOf(syscall.AF_INET6, sa.Addr[:], netPort(&sa.Port), sa.Scope_id)
	}
	return netip.AddrPort{}, false
}

// netPort reads a port kept in network byte order.
func netPort(p *uint16) int {
	b := (*[2]byte)(unsafe.Pointer(p))
	return int(b[0])<<8 | int(b[1])
}

// rawDest holds a destination as sendto takes it: a sockaddr_in6, or a
// sockaddr_in in its first bytes.
type rawDest struct {
	sa syscall.RawSockaddrInet6
}

// set lays d out and returns the length to pass.
func (r *rawDest) set(d *udpDest) int32 {
	if d.family == syscall.AF_INET {
		sa := (*syscall.RawSockaddrInet4)(unsafe.Pointer(&r.sa))
		*sa = syscall.RawSockaddrInet4{Family: syscall.AF_INET, Addr: [4]byte(d.ip[:4])}
		b := (*[2]byte)(unsafe.Pointer(&sa.Port))
		b[0], b[1] = byte(d.port>>8), byte(d.port)
		return int32(unsafe.Sizeof(*sa))
	}
	r.sa = syscall.RawSockaddrInet6{Family: syscall.AF_INET6, Addr: d.ip, Scope_id: d.zoneID}
	b := (*[2]byte)(unsafe.Pointer(&r.sa.Port))
	b[0], b[1] = byte(d.port>>8), byte(d.port)
	return int32(unsafe.Sizeof(r.sa))
}

// dest lays d out and returns the address and length sendto takes: nil
// and 0 for no destination (a connected socket's peer).
func (r *rawDest) dest(d *udpDest) (unsafe.Pointer, int32) {
	if d == nil {
		return nil, 0
	}
	return unsafe.Pointer(&r.sa), r.set(d)
}
