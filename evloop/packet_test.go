package evloop_test

import (
	"errors"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/evpoll/poller"
	"github.com/evpoll/poller/evloop"
)

// udpEcho replies to each datagram with "re:" and the datagram, and sends
// a copy of "both" to its second address too with WriteTo.
type udpEcho struct{}

func (udpEcho) OnPacket(pc *evloop.PacketConn, from netip.AddrPort, in []byte) {
	out := append([]byte("re:"), in...)
	pc.Reply(out)
}

// udpClient is a UDP peer on poller's own socket (package net's UDP does
// not work under Wine 8) that waits for replies with a Poll of its own.
type udpClient struct {
	t      testing.TB
	sock   *poller.UDPSocket
	p      *poller.Poll
	events *poller.Events
}

func newUDPClient(t testing.TB) *udpClient {
	sock, err := poller.ListenUDP("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p, err := poller.New()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sock.Close(); p.Close() })
	// Writable too: on Windows' overlapped engine a send in flight makes
	// the next one wait for its completion's Writable.
	if err := p.Registry().Register(sock, 1, poller.Readable|poller.Writable); err != nil {
		t.Fatal(err)
	}
	return &udpClient{t: t, sock: sock, p: p, events: poller.NewEvents(4)}
}

// read returns the next datagram, waiting at most 10 s.
func (u *udpClient) read() string {
	u.t.Helper()
	buf := make([]byte, 2048)
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		n, _, err := u.sock.ReadFrom(buf)
		if err == nil {
			return string(buf[:n])
		}
		if !errors.Is(err, poller.ErrWouldBlock) {
			u.t.Fatal(err)
		}
		if err := u.p.Wait(u.events, time.Until(deadline)); err != nil {
			u.t.Fatal(err)
		}
	}
	u.t.Fatal("no datagram within 10 s")
	return ""
}

// OnPacket gets every datagram with its sender, on two sockets over two
// loops, and Reply answers that sender.
func TestPacketReply(t *testing.T) {
	srv := &evloop.Server{PacketHandler: udpEcho{}, Loops: 2, PacketAddrs: []string{"127.0.0.1:0", "127.0.0.1:0"}}
	start(t, srv)
	addrs := srv.PacketConnAddrs()
	if len(addrs) != 2 {
		t.Fatalf("PacketConnAddrs: %v", addrs)
	}
	c := newUDPClient(t)
	for _, a := range addrs {
		for _, msg := range []string{"one", "two", ""} {
			if _, err := c.sock.WriteTo([]byte(msg), a.(*net.UDPAddr)); err != nil {
				t.Fatal(err)
			}
			if got := c.read(); got != "re:"+msg {
				t.Fatalf("%v: got %q, want %q", a, got, "re:"+msg)
			}
		}
	}
}
