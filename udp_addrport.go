package poller

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"syscall"
)

// The address-port calls of UDPSocket: the datagram paths without a
// net.Addr. On Linux and Windows they make no allocation per call (see
// udp_raw.go); ReadFrom and WriteTo are built on them.
//
// Concurrency: like ReadFrom and WriteTo, these may be called from several
// goroutines at once. The addresses are kept on the caller's stack, except
// on Windows' overlapped engine, which uses buffers of the socket under the
// lock of the Poll the socket is bound to (socket_udp_windows.go).

// ReadFromAddrPort reads one datagram into p (truncating what does not fit)
// and returns its sender, or ErrWouldBlock when none is queued. On a socket
// bound to an IPv6 address the sender of an IPv4 datagram is an
// IPv4-mapped address (netip.Addr.Unmap gives the IPv4 one), as in package
// net. A sender with an IPv6 zone carries it (that case allocates: the
// zone's name is looked up). On a connected socket (DialUDP) a refused
// earlier datagram fails the call with ECONNREFUSED, once.
func (u *UDPSocket) ReadFromAddrPort(p []byte) (int, netip.AddrPort, error) {
	if u == nil {
		return 0, netip.AddrPort{}, ErrNilSource
	}
	if err := u.sock.acquire(); err != nil {
		return 0, netip.AddrPort{}, err
	}
	defer u.sock.release()
	return u.readFrom(p)
}

// readFrom is ReadFromAddrPort with the socket held.
func (u *UDPSocket) readFrom(p []byte) (int, netip.AddrPort, error) {
	var from netip.AddrPort
	n, err := u.sock.recvDatagram(func() (n int, err error) {
		n, from, err = u.recvfrom(p)
		return n, u.recvError(err)
	})
	if err != nil {
		return 0, netip.AddrPort{}, err
	}
	return n, from, nil
}

// recvfrom takes one datagram: an injected fault, or the OS layer's.
func (u *UDPSocket) recvfrom(p []byte) (int, netip.AddrPort, error) {
	if err := takeInjectedFault(); err != nil {
		return 0, netip.AddrPort{}, err
	}
	return u.sock.sysRecvfromAddrPort(p)
}

// WriteToAddrPort sends p as one datagram to addr. An invalid addr, or an
// IPv6 one (not IPv4-mapped) on an IPv4 socket, fails with
// ErrInvalidAddress; an IPv4 addr on an IPv6 socket goes as IPv4-mapped.
// On a connected socket (DialUDP) it fails with an error matching
// net.ErrWriteToConnected, as in package net: use Write.
func (u *UDPSocket) WriteToAddrPort(p []byte, addr netip.AddrPort) (int, error) {
	if err := u.holdForWriteTo(); err != nil {
		return 0, err
	}
	defer u.sock.release()
	to, err := u.destination(addr.Addr(), addr.Port(), addr.Addr().Zone())
	if err != nil {
		return 0, err
	}
	return u.writeTo(p, &to)
}

// udpDest is a destination in the socket's family: the address as 16
// bytes (IPv4 in the first 4 for an IPv4 socket), the port and the zone's
// interface index.
type udpDest struct {
	family int
	ip     [16]byte
	port   int
	zoneID uint32
}

// destination checks and converts a destination for the socket's family.
func (u *UDPSocket) destination(ip netip.Addr, port uint16, zone string) (udpDest, error) {
	d := udpDest{family: u.family, port: int(port)}
	switch {
	case !ip.IsValid():
		return d, fmt.Errorf("%w: an invalid (zero) netip.AddrPort", ErrInvalidAddress)
	case u.family == syscall.AF_INET:
		ip = ip.Unmap()
		if !ip.Is4() {
			return d, fmt.Errorf("%w: %v is not IPv4", ErrInvalidAddress, ip)
		}
		a := ip.As4()
		copy(d.ip[:], a[:])
	default:
		d.ip = ip.As16() // an IPv4 one v4-mapped
		d.zoneID = zoneIndex(zone)
	}
	return d, nil
}

// writeTo sends p to d (nil: the connected peer) with the socket held.
func (u *UDPSocket) writeTo(p []byte, d *udpDest) (int, error) {
	connected := d == nil
	if connected {
		d = &u.peer
	}
	return u.sock.sendDatagram(len(p), func() error { return u.sock.sysSendtoDest(p, d, connected) })
}

// addrPortOf is the sender of a received datagram; ok is false for an
// address that is not IPv4 or IPv6.
func addrPortOf(family int, ip []byte, port int, zoneID uint32) (netip.AddrPort, bool) {
	switch family {
	case syscall.AF_INET:
		return netip.AddrPortFrom(netip.AddrFrom4([4]byte(ip)), uint16(port)), true
	case syscall.AF_INET6:
		a := netip.AddrFrom16([16]byte(ip))
		if zoneID != 0 {
			a = a.WithZone(zoneName(zoneID))
		}
		return netip.AddrPortFrom(a, uint16(port)), true
	}
	return netip.AddrPort{}, false
}

// zoneName is the name of the interface with index id, or the index in
// decimal if there is none (as package net names zones).
func zoneName(id uint32) string {
	if ifi, err := net.InterfaceByIndex(int(id)); err == nil {
		return ifi.Name
	}
	return strconv.FormatUint(uint64(id), 10)
}

// sockaddrAddrPort converts a Sockaddr of package syscall.
func sockaddrAddrPort(sa syscall.Sockaddr) (netip.AddrPort, bool) {
	switch sa := sa.(type) {
	case *syscall.SockaddrInet4:
		return addrPortOf(syscall.AF_INET, sa.Addr[:], sa.Port, 0)
	case *syscall.SockaddrInet6:
		return addrPortOf(syscall.AF_INET6, sa.Addr[:], sa.Port, sa.ZoneId)
	}
	return netip.AddrPort{}, false
}

// sockaddr is d as a Sockaddr of package syscall (the paths that allocate).
func (d *udpDest) sockaddr() syscall.Sockaddr {
	if d.family == syscall.AF_INET {
		return &syscall.SockaddrInet4{Port: d.port, Addr: [4]byte(d.ip[:4])}
	}
	return &syscall.SockaddrInet6{Port: d.port, Addr: d.ip, ZoneId: d.zoneID}
}

// udpAddrOf is a *net.UDPAddr for ap, in one allocation (the IP's bytes
// live in the same object).
func udpAddrOf(ap netip.AddrPort) *net.UDPAddr {
	b := new(struct {
		a  net.UDPAddr
		ip [16]byte
	})
	a := ap.Addr()
	if a.Is4() {
		*(*[4]byte)(b.ip[:4]) = a.As4()
		b.a.IP = b.ip[:4:4]
	} else {
		b.ip = a.As16()
		b.a.IP = b.ip[:]
	}
	b.a.Port = int(ap.Port())
	b.a.Zone = a.Zone()
	return &b.a
}
