package poller

import (
	"errors"
	"net"
	"net/netip"
	"syscall"
	"testing"
)

// closedUDPPort returns a loopback UDP port nobody listens on: one of ours,
// closed.
func closedUDPPort(t testing.TB) netip.AddrPort {
	t.Helper()
	u := listenUDP(t)
	ap := addrPortOfSocket(t, u)
	u.Close()
	return ap
}

// DialUDP connects: Write reaches the peer, the peer's reply comes back
// through Read, RemoteAddr names the peer, datagrams from anyone else are
// dropped, and WriteTo and an unconnected Write fail as in package net.
func TestDialUDP(t *testing.T) {
	r := newUDPRig(t)
	srv := r.listen("udp4", "127.0.0.1:0")
	other := r.listen("udp4", "127.0.0.1:0")
	srvAP := addrPortOfSocket(t, srv)
	c, err := DialUDP("udp4", srvAP.String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r.register(c)
	cAP := addrPortOfSocket(t, c)
	if ra, ok := c.RemoteAddr().(*net.UDPAddr); !ok || ra.AddrPort() != srvAP {
		t.Fatalf("RemoteAddr %v, want %v", c.RemoteAddr(), srvAP)
	}
	if ra := srv.RemoteAddr(); ra != nil {
		t.Fatalf("RemoteAddr of a ListenUDP socket: %v, want nil", ra)
	}
	buf := make([]byte, 64)
	r.retry(func() error { _, err := c.Write([]byte("ping")); return err })
	r.retry(func() error {
		n, from, err := srv.ReadFromAddrPort(buf)
		if err == nil && (string(buf[:n]) != "ping" || from != cAP) {
			t.Fatalf("server got %q from %v, want \"ping\" from %v", buf[:n], from, cAP)
		}
		return err
	})
	// A stranger's datagram goes first, the peer's second: Read gets only
	// the peer's.
	r.retry(func() error { _, err := other.WriteToAddrPort([]byte("stranger"), cAP); return err })
	r.retry(func() error { _, err := srv.WriteToAddrPort([]byte("pong"), cAP); return err })
	r.retry(func() error {
		n, err := c.Read(buf)
		if err == nil && string(buf[:n]) != "pong" {
			t.Fatalf("Read %q, want \"pong\" (a stranger's datagram got through)", buf[:n])
		}
		return err
	})
	if _, err := c.WriteTo([]byte("x"), srv.LocalAddr()); !errors.Is(err, net.ErrWriteToConnected) {
		t.Fatalf("WriteTo on a connected socket: %v, want net.ErrWriteToConnected", err)
	}
	if _, err := c.WriteToAddrPort([]byte("x"), srvAP); !errors.Is(err, net.ErrWriteToConnected) {
		t.Fatalf("WriteToAddrPort on a connected socket: %v, want net.ErrWriteToConnected", err)
	}
	if _, err := srv.Write([]byte("x")); !errors.Is(err, syscall.EDESTADDRREQ) {
		t.Fatalf("Write on a socket not connected: %v, want EDESTADDRREQ", err)
	}
}

func readableOrError(e Event) bool { return e.IsReadable() || e.IsError() }

// A datagram to a port nobody listens on draws an ICMP port-unreachable:
// the connected socket becomes readable and its next Read fails with
// ECONNREFUSED, once; the one after says ErrWouldBlock.
func TestDialUDPRefused(t *testing.T) {
	for _, network := range []string{"udp4", "udp6"} {
		t.Run(network, func(t *testing.T) {
			r := newUDPRig(t)
			var dead netip.AddrPort
			if network == "udp4" {
				dead = closedUDPPort(t)
			} else {
				u := r.listen("udp6", "[::1]:0")
				dead = addrPortOfSocket(t, u)
				r.p.Registry().Deregister(u)
				u.Close()
			}
			c, err := DialUDP(network, dead.String())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if err := r.p.Registry().Register(c, 7, Readable); err != nil {
				t.Fatal(err)
			}
			if _, err := c.Write([]byte("anyone?")); err != nil {
				t.Fatal(err)
			}
			ev := waitEvent(t, r.p, r.events, 7, readableOrError)
			buf := make([]byte, 16)
			t.Logf("event %v", ev)
			n, err := c.Read(buf)
			if errors.Is(err, ErrWouldBlock) && onWine() && !c.sock.overlappedBound() {
				// udp_connected.go: Wine 8's AFD path reports the refusal
				// as an Error event only.
				if !ev.IsError() {
					t.Fatalf("Wine, AFD: event %v, want an Error event", ev)
				}
				t.Logf("Wine 8, AFD: the refusal came as %v; Read says ErrWouldBlock (documented)", ev)
				return
			}
			if !errors.Is(err, syscall.ECONNREFUSED) {
				t.Fatalf("Read after a refused datagram = %d, %v; want ECONNREFUSED", n, err)
			}
			if _, err := c.Read(buf); !errors.Is(err, ErrWouldBlock) {
				t.Fatalf("second Read: %v, want ErrWouldBlock (the error is reported once)", err)
			}
		})
	}
}

// Dialer.DialUDP binds LocalAddr and runs Control before connecting.
func TestDialerDialUDP(t *testing.T) {
	r := newUDPRig(t)
	srv := r.listen("udp4", "127.0.0.1:0")
	local := closedUDPPort(t)
	var ctlNet, ctlAddr string
	d := &Dialer{
		LocalAddr: net.UDPAddrFromAddrPort(local),
		Control: func(network, address string, c syscall.RawConn) error {
			ctlNet, ctlAddr = network, address
			return nil
		},
	}
	c, err := d.DialUDP("udp", srv.LocalAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if got := addrPortOfSocket(t, c); got != local {
		t.Fatalf("LocalAddr %v, want %v", got, local)
	}
	if ctlNet != "udp4" || ctlAddr != srv.LocalAddr().String() {
		t.Fatalf("Control got %q %q, want \"udp4\" %q", ctlNet, ctlAddr, srv.LocalAddr())
	}
	r.register(c)
	r.retry(func() error { _, err := c.Write([]byte("via dialer")); return err })
	buf := make([]byte, 32)
	r.retry(func() error {
		n, from, err := srv.ReadFromAddrPort(buf)
		if err == nil && (string(buf[:n]) != "via dialer" || from != local) {
			t.Fatalf("got %q from %v", buf[:n], from)
		}
		return err
	})
	refuse := errors.New("refused by Control")
	_, err = (&Dialer{Control: func(string, string, syscall.RawConn) error { return refuse }}).DialUDP("udp4", srv.LocalAddr().String())
	if !errors.Is(err, refuse) {
		t.Fatalf("a failing Control: %v", err)
	}
}
