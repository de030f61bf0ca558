package poller

import (
	"bytes"
	"errors"
	"net"
	"net/netip"
	"strings"
	"testing"
)

// udpRig is a Poll with UDP sockets of ours registered on it (Readable and
// Writable: on Windows' overlapped engine a send in flight ends with a
// Writable event).
type udpRig struct {
	t      testing.TB
	p      *Poll
	events *Events
}

func newUDPRig(t testing.TB) *udpRig {
	return &udpRig{t: t, p: newPoll(t), events: NewEvents(64)}
}

// listen opens and registers a UDP socket; network "udp6" skips the test
// where the host has no IPv6 loopback.
func (r *udpRig) listen(network, address string) *UDPSocket {
	r.t.Helper()
	u, err := ListenUDP(network, address)
	if err != nil {
		if network == "udp6" {
			r.t.Skipf("no IPv6 loopback here: %v", err)
		}
		r.t.Fatal(err)
	}
	r.t.Cleanup(func() { u.Close() })
	r.register(u)
	return u
}

func (r *udpRig) register(u *UDPSocket) {
	r.t.Helper()
	if err := r.p.Registry().Register(u, Token(len(r.t.Name())), Readable|Writable); err != nil {
		r.t.Fatal(err)
	}
}

// retry runs op until it does not return ErrWouldBlock, waiting for an
// event of the Poll in between; any other error fails the test.
func (r *udpRig) retry(op func() error) {
	for {
		err := op()
		if err == nil {
			return
		}
		if !errors.Is(err, ErrWouldBlock) {
			r.t.Fatal(err)
		}
		if err := r.p.Wait(r.events, eventTimeout); err != nil {
			r.t.Fatal(err)
		}
		if r.events.Len() == 0 {
			r.t.Fatalf("no event within %v", eventTimeout)
		}
	}
}

// addrPortOfSocket is u's local address as a netip.AddrPort.
func addrPortOfSocket(t testing.TB, u *UDPSocket) netip.AddrPort {
	t.Helper()
	a, ok := u.LocalAddr().(*net.UDPAddr)
	if !ok {
		t.Fatalf("LocalAddr %v", u.LocalAddr())
	}
	return a.AddrPort()
}

// ReadFromAddrPort and WriteToAddrPort carry datagrams (empty, truncated)
// with the right sender, over IPv4 and IPv6, and mix with ReadFrom and
// WriteTo.
func TestUDPAddrPort(t *testing.T) {
	for _, tc := range []struct{ network, address string }{{"udp4", "127.0.0.1:0"}, {"udp6", "[::1]:0"}} {
		t.Run(tc.network, func(t *testing.T) {
			r := newUDPRig(t)
			a, b := r.listen(tc.network, tc.address), r.listen(tc.network, tc.address)
			aAP, bAP := addrPortOfSocket(t, a), addrPortOfSocket(t, b)
			buf := make([]byte, 256)
			exchange := func(msg []byte, bufLen int) {
				t.Helper()
				r.retry(func() error {
					n, err := a.WriteToAddrPort(msg, bAP)
					if err == nil && n != len(msg) {
						t.Fatalf("WriteToAddrPort = %d, want %d", n, len(msg))
					}
					return err
				})
				r.retry(func() error {
					n, from, err := b.ReadFromAddrPort(buf[:bufLen])
					if err != nil {
						return err
					}
					want := msg[:min(len(msg), bufLen)]
					if !bytes.Equal(buf[:n], want) || from != aAP {
						t.Fatalf("ReadFromAddrPort = %q from %v, want %q from %v", buf[:n], from, want, aAP)
					}
					return nil
				})
			}
			exchange([]byte("hello"), len(buf))
			exchange(nil, len(buf)) // an empty datagram
			exchange([]byte(strings.Repeat("x", 100)), 10)
			if _, _, err := b.ReadFromAddrPort(buf); !errors.Is(err, ErrWouldBlock) {
				t.Fatalf("after a truncated datagram: %v, want ErrWouldBlock (the rest is dropped)", err)
			}

			// WriteTo and ReadFrom, on the same path.
			r.retry(func() error { _, err := a.WriteTo([]byte("net"), b.LocalAddr()); return err })
			r.retry(func() error {
				n, from, err := b.ReadFrom(buf)
				if err == nil && (string(buf[:n]) != "net" || from.String() != a.LocalAddr().String()) {
					t.Fatalf("ReadFrom = %q from %v, want \"net\" from %v", buf[:n], from, a.LocalAddr())
				}
				return err
			})
			if tc.network == "udp4" {
				// An IPv4-mapped destination on an IPv4 socket is IPv4.
				mapped := netip.AddrPortFrom(netip.AddrFrom16(bAP.Addr().As16()), bAP.Port())
				r.retry(func() error { _, err := a.WriteToAddrPort([]byte("mapped"), mapped); return err })
				r.retry(func() error {
					n, _, err := b.ReadFromAddrPort(buf)
					if err == nil && string(buf[:n]) != "mapped" {
						t.Fatalf("got %q", buf[:n])
					}
					return err
				})
			}
		})
	}
}

// The address-port calls, WriteTo, and connected Read and Write make no
// allocation per datagram; ReadFrom makes one (its *net.UDPAddr).
func TestUDPAddrPortZeroAllocs(t *testing.T) {
	r := newUDPRig(t)
	a, b := r.listen("udp4", "127.0.0.1:0"), r.listen("udp4", "127.0.0.1:0")
	bAP := addrPortOfSocket(t, b)
	bUA := b.LocalAddr()
	c, err := DialUDP("udp4", bAP.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	r.register(c)
	cAP := addrPortOfSocket(t, c)
	msg := []byte("0123456789abcdef")
	buf := make([]byte, 64)
	writeAP := func() error { _, err := a.WriteToAddrPort(msg, bAP); return err }
	writeTo := func() error { _, err := a.WriteTo(msg, bUA); return err }
	readAP := func() error {
		n, _, err := b.ReadFromAddrPort(buf)
		if err == nil && n != len(msg) {
			t.Fatalf("read %d bytes, want %d", n, len(msg))
		}
		return err
	}
	readFrom := func() error { _, _, err := b.ReadFrom(buf); return err }
	replyToC := func() error { _, err := b.WriteToAddrPort(msg, cAP); return err }
	writeC := func() error { _, err := c.Write(msg); return err }
	readC := func() error {
		n, err := c.Read(buf)
		if err == nil && n != len(msg) {
			t.Fatalf("Read %d bytes, want %d", n, len(msg))
		}
		return err
	}
	for _, tc := range []struct {
		name  string
		steps []func() error
		want  float64
	}{
		{"WriteToAddrPort+ReadFromAddrPort", []func() error{writeAP, readAP}, 0},
		{"WriteTo+ReadFromAddrPort", []func() error{writeTo, readAP}, 0},
		{"WriteToAddrPort+ReadFrom", []func() error{writeAP, readFrom}, 1},
		{"connected Write+Read", []func() error{writeC, readAP, replyToC, readC}, 0},
	} {
		round := func() {
			for _, s := range tc.steps {
				r.retry(s)
			}
		}
		round() // warm up: first calls resolve procedures, grow the Events
		if got := testing.AllocsPerRun(200, round); got != tc.want {
			t.Errorf("%s: %v allocations per round, want %v", tc.name, got, tc.want)
		}
	}
}
