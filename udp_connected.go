package poller

import (
	"fmt"
	"net"
	"net/netip"
	"syscall"
)

// Connected UDP: a UDPSocket that DialUDP connected to one peer. It sends
// with Write to that peer only and receives from that peer only (the kernel
// drops datagrams from anyone else). An ICMP port-unreachable that a
// datagram of it drew fails the next Read (or ReadFrom) with an error
// matching syscall.ECONNREFUSED, once, as package net does on Linux.
//
// Windows: a UDP socket gets WSAECONNRESET on its next receive after an
// ICMP port-unreachable unless SIO_UDP_CONNRESET is turned off. Package
// net turns it off for every UDP socket, connected or not, and so loses
// the error; poller turns it off for the sockets of ListenUDP (where one
// unreachable sender would otherwise fail the receive of a server that
// talks to many) and leaves it on for those of DialUDP, whose one peer is
// the one that is unreachable: there Read reports it as ECONNREFUSED, as
// on Linux. The event that comes with it is Readable (Windows) or Error
// (Linux: EPOLLERR alone), so a loop reads on both.
//
// Wine 8 has no SIO_UDP_CONNRESET. With the overlapped engine its
// WSARecvFrom fails with the refusal and Read reports ECONNREFUSED, as
// on Windows; with AFD polling Wine signals an Error event and keeps the
// refusal in SO_ERROR (which reading does not clear), and Read says
// ErrWouldBlock: there the datagram is lost silently, as with package net
// on Windows.

// DialUDP connects a new non-blocking UDP socket to address (network
// "udp", "udp4" or "udp6"): the zero Dialer's DialUDP.
func DialUDP(network, address string) (*UDPSocket, error) {
	return (&Dialer{}).DialUDP(network, address)
}

// DialUDP connects a new non-blocking UDP socket to address (network
// "udp", "udp4" or "udp6") with d's options: LocalAddr, if set, must be a
// *net.UDPAddr of the remote address's family; Control runs after the
// socket is made, before bind and connect. No packet is sent: a peer that
// is not there shows as ECONNREFUSED on a Read after a Write. An empty or
// unspecified host is the loopback address, as in package net.
func (d *Dialer) DialUDP(network, address string) (*UDPSocket, error) {
	if network != "udp" && network != "udp4" && network != "udp6" {
		return nil, &net.OpError{Op: "dial", Net: network, Err: ErrInvalidAddress}
	}
	t, err := d.prepare(network, address, syscall.SOCK_DGRAM)
	if err != nil {
		return nil, err
	}
	if err := sysConnect(t.sock.fd, t.sa); err != nil {
		sysCloseSocket(t.sock.fd)
		return nil, sysError("connect", err)
	}
	sysUDPConnected(t.sock.fd)
	u := &UDPSocket{sock: t.sock, family: t.family}
	peer, _ := sockaddrAddrPort(t.sa)
	if u.peer, err = u.destination(peer.Addr(), peer.Port(), t.zone); err != nil {
		u.Close()
		return nil, err
	}
	return u, nil
}

// connected reports whether DialUDP connected the socket.
func (u *UDPSocket) connected() bool { return u.peer.family != 0 }

// holdForWriteTo takes the reference WriteTo and WriteToAddrPort release,
// unless the socket is nil, closed or connected (an error matching
// net.ErrWriteToConnected, as in package net).
func (u *UDPSocket) holdForWriteTo() error {
	if u == nil {
		return ErrNilSource
	}
	if err := u.sock.acquire(); err != nil {
		return err
	}
	if u.connected() {
		u.sock.release()
		return &net.OpError{Op: "write", Net: "udp", Err: net.ErrWriteToConnected}
	}
	return nil
}

// Read reads one datagram into p (truncating what does not fit), or
// returns ErrWouldBlock when none is queued. On a connected socket a
// refused earlier datagram fails it with ECONNREFUSED. On a socket that is
// not connected it reads a datagram from anyone, as ReadFrom does.
func (u *UDPSocket) Read(p []byte) (int, error) {
	if u == nil {
		return 0, ErrNilSource
	}
	if err := u.sock.acquire(); err != nil {
		return 0, err
	}
	defer u.sock.release()
	n, _, err := u.readFrom(p)
	return n, err
}

// Write sends p as one datagram to the connected peer. On a socket that is
// not connected it fails with an error matching syscall.EDESTADDRREQ.
func (u *UDPSocket) Write(p []byte) (int, error) {
	if u == nil {
		return 0, ErrNilSource
	}
	if err := u.sock.acquire(); err != nil {
		return 0, err
	}
	defer u.sock.release()
	if !u.connected() {
		return 0, &net.OpError{Op: "write", Net: "udp", Err: syscall.EDESTADDRREQ}
	}
	return u.writeTo(p, nil)
}

// RemoteAddr returns the connected peer (a *net.UDPAddr), or nil when the
// socket is not connected.
func (u *UDPSocket) RemoteAddr() net.Addr {
	if u == nil || !u.connected() {
		return nil
	}
	return udpAddrOf(u.peer.addrPort())
}

// addrPort is d as a netip.AddrPort (an IPv4 one for an IPv4 socket).
func (d *udpDest) addrPort() netip.AddrPort {
	ip := netip.AddrFrom16(d.ip)
	if d.family == syscall.AF_INET {
		ip = netip.AddrFrom4([4]byte(d.ip[:4]))
	} else if d.zoneID != 0 {
		ip = ip.WithZone(zoneName(d.zoneID))
	}
	return netip.AddrPortFrom(ip, uint16(d.port))
}

// String is for messages.
func (d *udpDest) String() string { return fmt.Sprint(d.addrPort()) }
