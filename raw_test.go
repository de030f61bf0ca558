package poller

// Raw sources (RawFD on Unix, RawSocket on Windows) driven by the caller's
// own I/O: Registry.Rearm after would-block brings every edge, on every OS.

import (
	"errors"
	"net"
	"testing"
)

// netConnHandle returns the descriptor (SOCKET) under a package-net
// connection, which stays valid while c is open.
func netConnHandle(t testing.TB, c *net.TCPConn) uintptr {
	t.Helper()
	rc, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var h uintptr
	if err := rc.Control(func(fd uintptr) { h = fd }); err != nil {
		t.Fatal(err)
	}
	return h
}

// rawDrain is the caller's own receive loop on a raw source: recv (read on
// Unix) until would-block, without this package's re-arm hooks.
func rawDrain(t testing.TB, h uintptr) []byte {
	t.Helper()
	var out []byte
	buf := make([]byte, 4096)
	for {
		n, err := sysRead(h, buf)
		switch {
		case isWouldBlock(err):
			return out
		case isInterrupted(err):
			continue
		case err != nil:
			t.Fatalf("raw recv: %v", err)
		case n == 0:
			t.Fatal("raw recv: end of stream")
		}
		out = append(out, buf[:n]...)
	}
}

// checkRawEdges registers src (over handle h, connected to peer) for
// Readable and sees three readable edges in a row: each one drained by
// the caller's own recv until would-block and followed by Rearm, never by
// Reregister.
func checkRawEdges(t *testing.T, src Source, h uintptr, peer net.Conn) {
	p := newPoll(t)
	reg := p.Registry()
	if err := reg.Register(src, 5, Readable); err != nil {
		t.Fatal(err)
	}
	defer reg.Deregister(src)
	events := NewEvents(8)
	for i, msg := range []string{"first", "second", "third"} {
		if _, err := peer.Write([]byte(msg)); err != nil {
			t.Fatal(err)
		}
		var got []byte
		for len(got) < len(msg) {
			waitEvent(t, p, events, 5, readable)
			got = append(got, rawDrain(t, h)...)
			if err := reg.Rearm(src, Readable); err != nil {
				t.Fatalf("Rearm: %v", err)
			}
		}
		if string(got) != msg {
			t.Fatalf("edge %d: read %q, want %q", i+1, got, msg)
		}
	}
}

func TestRawSourceEveryEdgeWithRearm(t *testing.T) {
	t.Run("net.TCPConn", func(t *testing.T) {
		if why := rawNetConnUnsupported(); why != "" {
			t.Skip(why)
		}
		ln := netListener(t)
		c, err := net.Dial("tcp4", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close() // after checkRawEdges' Deregister
		peer, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		defer peer.Close()
		h := netConnHandle(t, c.(*net.TCPConn))
		checkRawEdges(t, rawSource(t, h), h, peer)
	})
	t.Run("own socket", func(t *testing.T) {
		// One of our sockets, never registered itself, through its raw
		// handle: on Windows' forced overlapped engine too, which binds
		// the handle to the Poll's port.
		s, peer := acceptedPair(t)
		checkRawEdges(t, rawSource(t, s.sock.fd), s.sock.fd, peer)
	})
}

// acceptedPair returns a connected stream of ours, accepted by a listener
// of ours and never registered, and its package-net peer; closed at the
// test's end (after deferred Deregisters).
func acceptedPair(t testing.TB) (*TCPStream, net.Conn) {
	t.Helper()
	ln, err := ListenTCP("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	peer, err := net.Dial("tcp4", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { peer.Close() })
	s := acceptOne(t, ln)
	t.Cleanup(func() { s.Close() })
	return s, peer
}

// acceptOne accepts the connection just dialled to ln, which it registers
// with a Poll of its own meanwhile.
func acceptOne(t testing.TB, ln *TCPListener) *TCPStream {
	t.Helper()
	p := newPoll(t)
	defer p.Close()
	if err := p.Registry().Register(ln, 1, Readable); err != nil {
		t.Fatal(err)
	}
	events := NewEvents(4)
	for {
		s, _, err := ln.Accept()
		if err == nil {
			return s
		}
		if !errors.Is(err, ErrWouldBlock) {
			t.Fatalf("Accept: %v", err)
		}
		waitEvent(t, p, events, 1, readable)
	}
}

// Rearm returns Reregister's errors, in the same order.
func TestRearmErrors(t *testing.T) {
	p := newPoll(t)
	reg := p.Registry()
	s, _ := streamPair(t)
	if err := reg.Rearm(s, Readable); !errors.Is(err, ErrNotRegistered) {
		t.Fatalf("Rearm unregistered = %v, want ErrNotRegistered", err)
	}
	if err := reg.Register(s, 1, Readable); err != nil {
		t.Fatal(err)
	}
	if err := reg.Rearm(s, Readable); err != nil {
		t.Fatalf("Rearm registered = %v", err)
	}
	for _, bad := range []Interest{0, 4, Readable | 8} {
		if err := reg.Rearm(s, bad); !errors.Is(err, ErrInvalidInterest) {
			t.Fatalf("Rearm(%v) = %v, want ErrInvalidInterest", bad, err)
		}
	}
	if err := reg.Rearm(nil, Readable); !errors.Is(err, ErrNilSource) {
		t.Fatalf("Rearm(nil) = %v, want ErrNilSource", err)
	}
	other := newPoll(t)
	if err := other.Registry().Rearm(s, Readable); !errors.Is(err, ErrRegisteredElsewhere) {
		t.Fatalf("Rearm on another poll = %v, want ErrRegisteredElsewhere", err)
	}
	var zero Registry
	if err := zero.Rearm(s, Readable); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("zero Registry Rearm = %v, want net.ErrClosed", err)
	}
	s.Close()
	if err := reg.Rearm(s, Readable); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Rearm closed socket = %v, want net.ErrClosed", err)
	}
	p.Close()
	if err := reg.Rearm(s, Readable); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Rearm after Close = %v, want net.ErrClosed", err)
	}
}

// Rearm and the Wait that applies it allocate nothing.
func TestRearmZeroAllocs(t *testing.T) {
	p := newPoll(t)
	s, _ := acceptedPair(t)
	src := rawSource(t, s.sock.fd)
	if err := p.Registry().Register(src, 1, Readable); err != nil {
		t.Fatal(err)
	}
	defer p.Registry().Deregister(src)
	events := NewEvents(8)
	round := func() {
		if err := p.Registry().Rearm(src, Readable); err != nil {
			t.Fatal(err)
		}
		if err := p.Wait(events, 0); err != nil {
			t.Fatal(err)
		}
	}
	round()
	if a := testing.AllocsPerRun(200, round); a != 0 {
		t.Fatalf("Rearm + Wait: %v allocs per run, want 0", a)
	}
}
