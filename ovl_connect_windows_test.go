//go:build windows && cgo

package poller

// The overlapped engine's connects: a dial waits for Register (ConnectEx
// needs the port), and a Reregister while it is pending or queued behind a
// full backlog changes nothing of its outcome.

import (
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"testing"
	"time"
)

// Documented difference: a stream dialed for this engine connects only
// when registered (ConnectEx needs the socket bound to the port).
func TestOverlappedConnectStartsAtRegister(t *testing.T) {
	withOverlapped(t)
	p := newPoll(t)
	ln := netListener(t).(*net.TCPListener)
	s, err := DialTCP("tcp4", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if !s.sock.connectDeferred() {
		t.Fatal("connect not deferred under the overlapped engine")
	}
	ln.SetDeadline(time.Now().Add(200 * time.Millisecond))
	if c, err := ln.Accept(); err == nil {
		c.Close()
		t.Fatal("a connection arrived before Register")
	}
	if _, err := s.Write([]byte("x")); err == nil || errors.Is(err, ErrWouldBlock) {
		t.Fatalf("Write before Register = %v, want a not-connected error", err)
	}
	if err := p.Registry().Register(s, 1, Writable); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, p, NewEvents(4), 1, writable)
	if err := s.TakeError(); err != nil {
		t.Fatalf("TakeError: %v", err)
	}
	ln.SetDeadline(time.Time{})
	peer, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	if _, err := s.Write([]byte("hi")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 2)
	if _, err := io.ReadFull(peer, buf); err != nil || string(buf) != "hi" {
		t.Fatalf("peer read %q, %v", buf, err)
	}
}

// fullListener returns the address of a listener (backlog 1) whose accept
// queue is full: a new connect to it stays pending (its SYNs dropped).
func fullListener(t *testing.T) string {
	t.Helper()
	addr, _ := fullListenerHandle(t)
	return addr
}

// fullListenerHandle is fullListener, with the listener's handle (to make
// room by accepting).
func fullListenerHandle(t *testing.T) (string, syscall.Handle) {
	t.Helper()
	h, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, syscall.IPPROTO_TCP)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Closesocket(h) })
	if err := syscall.Bind(h, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Listen(h, 1); err != nil {
		t.Fatal(err)
	}
	sa, err := syscall.Getsockname(h)
	if err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", sa.(*syscall.SockaddrInet4).Port)
	for i := 0; ; i++ {
		if i == 16 {
			t.Fatal("the listener's queue never filled")
		}
		c, err := net.DialTimeout("tcp4", addr, 500*time.Millisecond)
		if err != nil {
			return addr, h // timed out: the queue is full
		}
		t.Cleanup(func() { c.Close() })
	}
}

// pendingConnect dials addr, a full listener's, on a new fixture's Poll
// and registers the stream Writable: its connect stays pending, so no event
// comes.
func pendingConnect(t *testing.T, addr string) (*fixture, *TCPStream, Token) {
	t.Helper()
	f := newFixture(t)
	s, err := DialTCP("tcp4", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	tok := f.register(s, Writable)
	f.quiet(tok)
	return f, s, tok
}

// Deregister while the deferred connect (ConnectEx) is in flight, then
// Register again: the stream must not report a connect that did not
// happen. Every Writable after the re-Register either comes with TakeError
// reporting a failure, or the stream really is connected.
func TestOverlappedReregisterDuringConnect(t *testing.T) {
	withOverlapped(t)
	ForEachSkipMode(t, func(t *testing.T) {
		f, s, tok := pendingConnect(t, fullListener(t))
		r := f.p.Registry()
		if err := r.Deregister(s); err != nil {
			t.Fatal(err)
		}
		if err := r.Register(s, tok, Writable); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(2 * time.Second)
		for time.Now().Before(deadline) {
			if err := f.p.Wait(f.events, time.Until(deadline)); err != nil {
				t.Fatal(err)
			}
			for ev := range f.events.All() {
				if ev.Token() != tok || !ev.IsWritable() {
					continue
				}
				terr := s.TakeError()
				_, perr := syscall.Getpeername(syscall.Handle(s.sock.fd))
				if terr == nil && perr != nil {
					t.Fatalf("Writable (%v) with TakeError nil, yet not connected (getpeername: %v)", ev, perr)
				}
				t.Logf("Writable %v: TakeError %v, getpeername %v", ev, terr, perr)
				return
			}
		}
		t.Log("no Writable: the restarted connect is pending")
	})
}

// Deregister and Register again (twice) while the connect is really
// pending (the listener's queue is full) leave the connect alone, as AFD and epoll do:
// once the listener makes room, the stream connects (Writable, TakeError
// nil, a peer address).
func TestOverlappedReregisterDuringPendingConnectConnects(t *testing.T) {
	withOverlapped(t)
	ForEachSkipMode(t, func(t *testing.T) {
		addr, lh := fullListenerHandle(t)
		f, s, tok := pendingConnect(t, addr)
		r := f.p.Registry()
		// Twice, with no Wait between: the second Register finds the
		// connect through a state deleted and not yet freed.
		for i := 0; i < 2; i++ {
			if err := r.Deregister(s); err != nil {
				t.Fatal(err)
			}
			if err := r.Register(s, tok, Writable); err != nil {
				t.Fatal(err)
			}
		}
		// Make room: accept what the queue holds; the stream's SYN is
		// retried and accepted.
		setNonblock(uintptr(lh))
		for i := 0; i < 2; i++ {
			if a, _, err := sysAccept(uintptr(lh)); err == nil {
				sysCloseSocket(a)
			}
		}
		ev := f.wait(tok, writable)
		if err := s.TakeError(); err != nil {
			t.Fatalf("Writable (%v) with TakeError %v: the Deregister aborted the connect", ev, err)
		}
		if _, err := syscall.Getpeername(syscall.Handle(s.sock.fd)); err != nil {
			t.Fatalf("Writable (%v), yet not connected: getpeername %v", ev, err)
		}
	})
}
