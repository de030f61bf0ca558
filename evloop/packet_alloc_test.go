package evloop_test

import (
	"errors"
	"net"
	"net/netip"
	"runtime"
	"testing"
	"time"

	"github.com/evpoll/poller"
	"github.com/evpoll/poller/evloop"
)

// packetEchoOnly replies with the datagram itself: no allocation of its own.
type packetEchoOnly struct{}

func (packetEchoOnly) OnPacket(pc *evloop.PacketConn, from netip.AddrPort, in []byte) { pc.Reply(in) }

// packetClient sends a datagram to the server and waits for the echo,
// allocating nothing itself: package net's address-port calls on Linux,
// poller's with a Poll of its own on Windows (package net's UDP sockets
// fail under Wine 8).
type packetClient struct {
	t   testing.TB
	to  netip.AddrPort
	nc  *net.UDPConn
	udp *udpClient
	buf []byte
}

func newPacketClient(t testing.TB, to netip.AddrPort) *packetClient {
	c := &packetClient{t: t, to: to, buf: make([]byte, 2048)}
	if runtime.GOOS != "windows" {
		nc, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			t.Fatal(err)
		}
		nc.SetReadDeadline(time.Now().Add(5 * time.Minute))
		t.Cleanup(func() { nc.Close() })
		c.nc = nc
		return c
	}
	c.udp = newUDPClient(t)
	return c
}

// roundTrip sends msg and waits for its echo.
func (c *packetClient) roundTrip(msg []byte) {
	if c.nc != nil {
		if _, err := c.nc.WriteToUDPAddrPort(msg, c.to); err != nil {
			c.t.Fatal(err)
		}
		n, _, err := c.nc.ReadFromUDPAddrPort(c.buf)
		if err != nil || n != len(msg) {
			c.t.Fatalf("echo: %d bytes, %v", n, err)
		}
		return
	}
	for {
		_, err := c.udp.sock.WriteToAddrPort(msg, c.to)
		if err == nil {
			break
		}
		if !errors.Is(err, poller.ErrWouldBlock) {
			c.t.Fatal(err)
		}
		c.udp.p.Wait(c.udp.events, time.Second)
	}
	for {
		n, _, err := c.udp.sock.ReadFromAddrPort(c.buf)
		if err == nil {
			if n != len(msg) {
				c.t.Fatalf("echo: %d bytes", n)
			}
			return
		}
		if !errors.Is(err, poller.ErrWouldBlock) {
			c.t.Fatal(err)
		}
		c.udp.p.Wait(c.udp.events, time.Second)
	}
}

func startPacketEcho(t testing.TB) *packetClient {
	srv := &evloop.Server{PacketHandler: packetEchoOnly{}, Loops: 1, PacketAddrs: []string{"127.0.0.1:0"}}
	start(t, srv)
	to := srv.PacketConnAddrs()[0].(*net.UDPAddr).AddrPort()
	return newPacketClient(t, to)
}

// The UDP path of the loop (OnPacket, Reply) allocates nothing per
// datagram: the whole process, server loop and client, averaged over a
// thousand round trips.
func TestPacketZeroAllocs(t *testing.T) {
	c := startPacketEcho(t)
	msg := pattern(256)
	for range 100 {
		c.roundTrip(msg)
	}
	if n := testing.AllocsPerRun(1000, func() { c.roundTrip(msg) }); n != 0 {
		t.Fatalf("%v allocations per echoed datagram, want 0", n)
	}
}

// BenchmarkPacketEcho: one datagram to the loop and its Reply back.
func BenchmarkPacketEcho(b *testing.B) {
	c := startPacketEcho(b)
	msg := pattern(256)
	for range 100 {
		c.roundTrip(msg)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		c.roundTrip(msg)
	}
}
