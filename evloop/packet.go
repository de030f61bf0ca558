package evloop

import (
	"errors"
	"net"
	"net/netip"

	"github.com/evpoll/poller"
)

// maxPacketErrors bounds the errors in a row one readiness event of a UDP
// socket may read (ICMP reports on some systems) before the loop moves on.
const maxPacketErrors = 16

// PacketConn is one UDP socket of Server.PacketAddrs, served by one loop.
// Its methods run on that loop's goroutine.
type PacketConn struct {
	l    *Loop
	sock *poller.UDPSocket
	tok  poller.Token
	from netip.AddrPort // sender of the packet being handled
}

func newPacketConn(l *Loop, addr string, tok poller.Token) (*PacketConn, error) {
	sock, err := poller.ListenUDP("udp", addr)
	if err != nil {
		return nil, err
	}
	pc := &PacketConn{l: l, sock: sock, tok: tok}
	if err := l.p.Registry().Register(sock, tok, poller.Readable); err != nil {
		sock.Close()
		return nil, err
	}
	l.packets = append(l.packets, pc)
	return pc, nil
}

// Addr returns the socket's local address.
func (pc *PacketConn) Addr() net.Addr { return pc.sock.LocalAddr() }

// Loop returns the socket's loop.
func (pc *PacketConn) Loop() *Loop { return pc.l }

// Reply sends b as one datagram to the sender of the packet being handled.
func (pc *PacketConn) Reply(b []byte) error { return pc.WriteTo(b, pc.from) }

// WriteTo sends b as one datagram to to. A datagram the socket has no room
// for is dropped with an error matching poller.ErrWouldBlock.
func (pc *PacketConn) WriteTo(b []byte, to netip.AddrPort) error {
	return writePacket(pc.sock, b, to)
}

// servePackets reads datagrams until ErrWouldBlock and hands each to
// OnPacket.
func (l *Loop) servePackets(pc *PacketConn) {
	h := l.srv.PacketHandler
	for errs := 0; errs < maxPacketErrors; {
		n, from, err := readPacket(pc.sock, l.buf)
		if errors.Is(err, poller.ErrWouldBlock) || errors.Is(err, net.ErrClosed) {
			return
		}
		if err != nil {
			errs++
			continue
		}
		pc.from = from
		l.protect(nil, func() { h.OnPacket(pc, from, l.buf[:n]) })
	}
	l.srv.logf("evloop: UDP socket %v: %d errors in a row", pc.Addr(), maxPacketErrors)
}

// readPacket and writePacket are poller's address-port calls, which make
// no allocation per datagram.
func readPacket(sock *poller.UDPSocket, buf []byte) (int, netip.AddrPort, error) {
	return sock.ReadFromAddrPort(buf)
}

func writePacket(sock *poller.UDPSocket, b []byte, to netip.AddrPort) error {
	_, err := sock.WriteToAddrPort(b, to)
	return err
}
