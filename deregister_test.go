package poller

// Letting a source go (Deregister, Close, or both) loses nothing: accepted
// connections, datagrams and written bytes all reach their owner or peer.

import (
	"bytes"
	"errors"
	"io"
	"net"
	"testing"
	"time"
)

// deregisterHow is how the held-data tests let go of a registration that has
// reported Readable: Deregister, Deregister then Register again, or
// closing the Poll.
var deregisterHow = []string{"Deregister", "Reregister", "PollClose"}

// letGo applies how to src (registered on p with token 1) and, for
// Reregister, waits for the Readable of the new registration (token 2).
func letGo(t *testing.T, p *Poll, src Source, how string) {
	t.Helper()
	switch how {
	case "PollClose":
		if err := p.Close(); err != nil {
			t.Fatal(err)
		}
		return
	}
	if err := p.Registry().Deregister(src); err != nil {
		t.Fatal(err)
	}
	if how == "Reregister" {
		if err := p.Registry().Register(src, 2, Readable); err != nil {
			t.Fatal(err)
		}
		waitEvent(t, p, NewEvents(4), 2, readable)
	}
}

// A connection that was already accepted (reported Readable) survives
// Deregister, a new Register and Poll.Close: Accept still returns it, and it
// works both ways (the peer reads no EOF).
func TestDeregisterLosesNoAcceptedConnection(t *testing.T) {
	for _, how := range deregisterHow {
		t.Run(how, func(t *testing.T) {
			ForEachSkipMode(t, func(t *testing.T) {
				f := newFixture(t)
				ln, tok := f.listen()
				c, err := net.Dial("tcp4", ln.Addr().String())
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				f.wait(tok, readable)
				letGo(t, f.p, ln, how)

				s, _, err := ln.Accept()
				if err != nil {
					t.Fatalf("Accept after %s: %v", how, err)
				}
				defer s.Close()
				if n, err := s.Write([]byte("pong")); n != 4 || err != nil {
					t.Fatalf("Write = %d, %v", n, err)
				}
				c.SetReadDeadline(time.Now().Add(eventTimeout))
				buf := make([]byte, 4)
				if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "pong" {
					t.Fatalf("client read %q, %v: the accepted connection was lost", buf, err)
				}
				if _, _, err := ln.Accept(); !errors.Is(err, ErrWouldBlock) {
					t.Fatalf("second Accept = %v, want ErrWouldBlock", err)
				}
			})
		})
	}
}

// A datagram that was already received (reported Readable) survives
// Deregister, a new Register and Poll.Close: ReadFrom still returns it.
func TestDeregisterLosesNoReceivedDatagram(t *testing.T) {
	for _, how := range deregisterHow {
		t.Run(how, func(t *testing.T) {
			ForEachSkipMode(t, func(t *testing.T) {
				p := newPoll(t)
				recv := listenUDP(t)
				defer recv.Close()
				send := listenUDP(t)
				defer send.Close()
				if err := p.Registry().Register(recv, 1, Readable); err != nil {
					t.Fatal(err)
				}
				if _, err := send.WriteTo([]byte("datagram"), recv.LocalAddr()); err != nil {
					t.Fatal(err)
				}
				waitEvent(t, p, NewEvents(4), 1, readable)
				letGo(t, p, recv, how)

				buf := make([]byte, 64)
				n, from, err := recv.ReadFrom(buf)
				if err != nil || string(buf[:n]) != "datagram" {
					t.Fatalf("ReadFrom after %s = %q, %v: the datagram was lost", how, buf[:n], err)
				}
				if from == nil || from.String() != send.LocalAddr().String() {
					t.Fatalf("from %v, want %v", from, send.LocalAddr())
				}
				if _, _, err := recv.ReadFrom(buf); !errors.Is(err, ErrWouldBlock) {
					t.Fatalf("second ReadFrom = %v, want ErrWouldBlock", err)
				}
			})
		})
	}
}

// Closing an idle registered stream reaches the peer at once, with no Wait
// running afterwards: the peer reads EOF. Also while a Wait is blocked.
func TestClosingIdleStreamReachesPeer(t *testing.T) {
	for _, blocked := range []bool{false, true} {
		name := map[bool]string{false: "noWait", true: "waitBlocked"}[blocked]
		t.Run(name, func(t *testing.T) {
			ForEachSkipMode(t, func(t *testing.T) {
				p := newPoll(t)
				s, peer := streamPair(t)
				if err := p.Registry().Register(s, 1, Readable); err != nil {
					t.Fatal(err)
				}
				awaitPeer(t, peer)
				var waitDone chan error
				var w *Waker
				if blocked {
					var err error
					if w, err = NewWaker(p.Registry(), 9); err != nil {
						t.Fatal(err)
					}
					waitDone = make(chan error, 1)
					go func() { waitDone <- p.Wait(NewEvents(4), -1) }()
					waitBlocked(p)
				}
				if err := s.Close(); err != nil {
					t.Fatal(err)
				}
				peer.SetReadDeadline(time.Now().Add(10 * time.Second))
				n, err := peer.Read(make([]byte, 1))
				if blocked {
					w.Wake()
					if werr := <-waitDone; werr != nil {
						t.Fatal(werr)
					}
				}
				if ne, ok := err.(net.Error); ok && ne.Timeout() {
					t.Fatal("no FIN: the close did not reach the peer")
				}
				if err != io.EOF {
					t.Fatalf("peer Read = %d, %v, want EOF", n, err)
				}
			})
		})
	}
}

// Deregister while the socket's send is in flight, then Close: what Write
// accepted still reaches the peer, every byte, then EOF. Also with a new
// Register between the Deregister and the Close, with or without more
// writes.
func TestDeregisterThenCloseDeliversEverything(t *testing.T) {
	for _, how := range []string{"close", "registerClose", "registerWriteClose"} {
		t.Run(how, func(t *testing.T) { ForEachSkipMode(t, func(t *testing.T) { deregisterThenClose(t, how) }) })
	}
}

// deregisterThenClose is one run of TestDeregisterThenCloseDeliversEverything.
func deregisterThenClose(t *testing.T, how string) {
	f := newFixture(t)
	p, events := f.p, f.events
	s, peer, _ := f.writableStream()
	var sent []byte
	fill := func() {
		for chunk := make([]byte, 64<<10); ; {
			for i := range chunk {
				chunk[i] = byte(len(sent) + i*7)
			}
			n, err := s.Write(chunk)
			sent = append(sent, chunk[:n]...)
			if errors.Is(err, ErrWouldBlock) {
				return // the peer reads nothing yet: a send stays in flight
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(sent) > 256<<20 {
				t.Fatal("the send path never filled")
			}
		}
	}
	fill()
	if err := p.Registry().Deregister(s); err != nil {
		t.Fatal(err)
	}
	if how != "close" {
		if err := p.Registry().Register(s, 2, Writable); err != nil {
			t.Fatal(err)
		}
		// Writable (maybe at once: the new registration has no send
		// of its own), or nothing while the kernel is full.
		deadline := time.Now().Add(quiet)
		for time.Now().Before(deadline) {
			if err := p.Wait(events, time.Until(deadline)); err != nil {
				t.Fatal(err)
			}
		}
		if how == "registerWriteClose" {
			fill()
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// A Poll keeps waiting meanwhile (engines that finish sends from
	// their completions need one).
	quit := make(chan struct{})
	loopDone := make(chan struct{})
	go func() {
		defer close(loopDone)
		ev := NewEvents(8)
		for {
			select {
			case <-quit:
				return
			default:
			}
			p.Wait(ev, 20*time.Millisecond)
		}
	}()
	defer func() { close(quit); <-loopDone }()
	peer.SetReadDeadline(time.Now().Add(3 * eventTimeout))
	got, err := io.ReadAll(peer)
	if err != nil || !bytes.Equal(got, sent) {
		t.Fatalf("peer got %d of %d bytes (equal prefix %v), %v", len(got), len(sent),
			bytes.HasPrefix(sent, got), err)
	}
}

// Deregister with nothing received yet hands nothing back: a pending
// accept or receive (cancelled by the overlapped engine) is no connection
// and no datagram. Then a new client is still accepted.
func TestDeregisterWithNothingHeld(t *testing.T) {
	ForEachSkipMode(t, func(t *testing.T) {
		f := newFixture(t)
		ln, _ := f.listen()
		u := listenUDP(t)
		defer u.Close()
		f.register(u, Readable)
		r := f.p.Registry()
		if err := r.Deregister(ln); err != nil {
			t.Fatal(err)
		}
		if err := r.Deregister(u); err != nil {
			t.Fatal(err)
		}
		if s, _, err := ln.Accept(); !errors.Is(err, ErrWouldBlock) {
			t.Fatalf("Accept = %v, %v, want ErrWouldBlock", s, err)
		}
		if n, _, err := u.ReadFrom(make([]byte, 16)); !errors.Is(err, ErrWouldBlock) {
			t.Fatalf("ReadFrom = %d, %v, want ErrWouldBlock", n, err)
		}
		c, err := net.Dial("tcp4", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if err := r.Register(ln, 3, Readable); err != nil {
			t.Fatal(err)
		}
		f.wait(3, readable)
		s, _, err := ln.Accept()
		if err != nil {
			t.Fatalf("Accept = %v", err)
		}
		s.Close()
	})
}
