package poller

import (
	"fmt"
	"net"
	"net/netip"
	"syscall"
)

// UDPSocket is a non-blocking UDP socket: bound (ListenUDP) or connected
// to one peer (DialUDP).
type UDPSocket struct {
	sock   *socket
	family int     // AF_INET or AF_INET6
	peer   udpDest // the connected peer; family 0 when not connected
}

func (u *UDPSocket) source() (uintptr, *socket, error) {
	if u == nil {
		return 0, nil, ErrNilSource
	}
	return u.sock.source()
}

// Close closes the socket, deregistering it first.
func (u *UDPSocket) Close() error {
	if u == nil {
		return ErrNilSource
	}
	return u.sock.close()
}

// ListenUDP binds a non-blocking UDP socket to address: the zero
// ListenConfig's ListenUDP ("udp" with an empty host or "[::]" is dual
// stack where the OS allows it).
func ListenUDP(network, address string) (*UDPSocket, error) {
	return (&ListenConfig{}).ListenUDP(network, address)
}

// ReadFrom reads one datagram into p (truncating what does not fit) and
// returns its sender (a *net.UDPAddr, one allocation), or ErrWouldBlock
// when none is queued. ReadFromAddrPort makes no allocation.
func (u *UDPSocket) ReadFrom(p []byte) (int, net.Addr, error) {
	n, from, err := u.ReadFromAddrPort(p)
	if err != nil {
		return 0, nil, err
	}
	return n, udpAddrOf(from), nil
}

// WriteTo sends p as one datagram to addr (a *net.UDPAddr; a nil IP is the
// unspecified address of the socket's family). It makes no allocation for
// an address without a zone.
func (u *UDPSocket) WriteTo(p []byte, addr net.Addr) (int, error) {
	if err := u.holdForWriteTo(); err != nil {
		return 0, err
	}
	defer u.sock.release()
	ua, ok := addr.(*net.UDPAddr)
	if !ok || ua == nil {
		return 0, fmt.Errorf("%w: %T is not a *net.UDPAddr", ErrInvalidAddress, addr)
	}
	if ua.Port < 0 || ua.Port > 0xFFFF {
		return 0, fmt.Errorf("%w: port %d out of range", ErrInvalidAddress, ua.Port)
	}
	ip, ok := netip.AddrFromSlice(ua.IP)
	switch {
	case len(ua.IP) == 0 && u.family == syscall.AF_INET:
		ip = netip.IPv4Unspecified()
	case len(ua.IP) == 0:
		ip = netip.IPv6Unspecified()
	case !ok:
		return 0, fmt.Errorf("%w: IP %v", ErrInvalidAddress, ua.IP)
	}
	to, err := u.destination(ip, uint16(ua.Port), ua.Zone)
	if err != nil {
		return 0, err
	}
	return u.writeTo(p, &to)
}

// LocalAddr returns the socket's local address.
func (u *UDPSocket) LocalAddr() net.Addr {
	if u == nil {
		return nil
	}
	if a := udpAddr(u.sock.localAddr()); a != nil {
		return a
	}
	return nil
}
