package poller

import (
	"errors"
	"net"
	"syscall"
	"testing"
	"time"
)

// rawConnected returns a connected socket of the test's own (not package
// net's), non-blocking, and its accepted peer.
func rawConnected(t *testing.T, ln net.Listener) (syscall.Handle, net.Conn) {
	t.Helper()
	h, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, syscall.IPPROTO_TCP)
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().(*net.TCPAddr)
	if err := syscall.Connect(h, &syscall.SockaddrInet4{Port: addr.Port, Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		syscall.Closesocket(h)
		t.Fatal(err)
	}
	peer, err := ln.Accept()
	if err != nil {
		syscall.Closesocket(h)
		t.Fatal(err)
	}
	if err := syscall.SetNonblock(h, true); err != nil {
		t.Fatal(err)
	}
	return h, peer
}

// A RawSocket closed without Deregister (misuse) does not keep its handle
// number registered for good: the poll in flight sees the close
// (AFD_POLL_LOCAL_CLOSE) and the registry drops the registration, as
// wepoll does. A socket that gets the number afterwards can be registered.
func TestRawSocketClosedWithoutDeregister(t *testing.T) {
	requireAFD(t, "it tests AFD_POLL_LOCAL_CLOSE; the overlapped engine reports a socket closed under its pending receive as an error event")
	p := newPoll(t)
	r := p.Registry()
	ln := netListener(t)
	events := NewEvents(16)
	for round := 0; round < 3; round++ {
		h, peer := rawConnected(t, ln)
		defer peer.Close()
		tok := Token(10 + round)
		if err := r.Register(RawSocket(h), tok, Readable|Writable); err != nil {
			t.Fatal(err)
		}
		// Writable comes at once; Readable stays polled for, so a poll
		// is in flight when the socket is closed.
		waitEvent(t, p, events, tok, writable)
		if err := syscall.Closesocket(h); err != nil {
			t.Fatal(err)
		}
		// A new socket, which may well get the same number.
		h2, peer2 := rawConnected(t, ln)
		defer peer2.Close()
		defer syscall.Closesocket(h2)
		// Bounded polling: no event tells that the close was seen.
		deadline := time.Now().Add(eventTimeout)
		for {
			if err := p.Wait(events, 10*time.Millisecond); err != nil {
				t.Fatal(err)
			}
			for ev := range events.All() {
				if ev.Token() == tok {
					t.Fatalf("round %d: event %v for a socket closed", round, ev)
				}
			}
			err := r.Register(RawSocket(h), tok+100, Readable)
			if !errors.Is(err, ErrAlreadyRegistered) {
				if h == h2 && err != nil {
					t.Fatalf("round %d: Register of the new socket with the closed one's number: %v", round, err)
				}
				t.Logf("round %d: new socket reused the number: %v; Register: %v", round, h == h2, err)
				if err == nil {
					if err := r.Deregister(RawSocket(h)); err != nil {
						t.Fatal(err)
					}
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("round %d: handle %#x still registered %v after its socket was closed (new socket %#x)", round, h, eventTimeout, h2)
			}
		}
	}
}
