package poller

// The cross-platform behaviour suite: it runs unchanged on Linux, on the BSDs
// and on Windows (under Wine in CI), so it uses only the public API, package
// net for peers, and errors that every platform maps.

import (
	"bytes"
	"errors"
	"io"
	"net"
	"runtime"
	"syscall"
	"testing"
	"time"
)

func TestReadableAfterPeerWrites(t *testing.T) {
	p := newPoll(t)
	s, peer := streamPair(t)
	if err := p.Registry().Register(s, 7, Readable); err != nil {
		t.Fatal(err)
	}
	events := NewEvents(8)
	if _, err := peer.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	ev := waitEvent(t, p, events, 7, readable)
	if ev.IsWritable() {
		t.Errorf("event %v: writable without Writable interest", ev)
	}
	if got := drain(t, s); string(got) != "ping" {
		t.Fatalf("read %q, want ping", got)
	}
}

func TestNoEventAfterDrainUntilNewData(t *testing.T) {
	p := newPoll(t)
	s, peer := streamPair(t)
	events := NewEvents(8)
	if err := p.Registry().Register(s, 1, Readable); err != nil {
		t.Fatal(err)
	}
	for round := 0; round < 3; round++ {
		peer.Write([]byte("x"))
		waitEvent(t, p, events, 1, readable)
		if got := drain(t, s); string(got) != "x" {
			t.Fatalf("round %d: read %q", round, got)
		}
		expectQuiet(t, p, events, 1)
	}
}

func TestWritableAfterConnect(t *testing.T) {
	p := newPoll(t)
	ln := netListener(t)
	s, err := DialTCP("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := p.Registry().Register(s, 3, Readable|Writable); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, p, NewEvents(8), 3, writable)
	if err := s.TakeError(); err != nil {
		t.Fatalf("TakeError after connect: %v", err)
	}
	if a, ok := s.LocalAddr().(*net.TCPAddr); !ok || a.Port == 0 {
		t.Fatalf("LocalAddr = %v", s.LocalAddr())
	}
	if s.RemoteAddr().String() != ln.Addr().String() {
		t.Fatalf("RemoteAddr = %v, want %v", s.RemoteAddr(), ln.Addr())
	}
}

func TestConnectRefused(t *testing.T) {
	p := newPoll(t)
	s, err := DialTCP("tcp4", closedPortAddr(t))
	if err != nil {
		if errors.Is(err, syscall.ECONNREFUSED) {
			return // refused at once: also allowed
		}
		t.Fatal(err)
	}
	defer s.Close()
	if err := p.Registry().Register(s, 9, Writable); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, p, NewEvents(8), 9, nil)
	if err := s.TakeError(); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("TakeError = %v, want ECONNREFUSED", err)
	}
}

func TestAcceptUntilWouldBlock(t *testing.T) {
	f := newFixture(t)
	ln, tok := f.listen()
	const clients = 3
	for i := 0; i < clients; i++ {
		c, err := net.Dial("tcp4", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
	}
	accepted := 0
	for accepted < clients {
		f.wait(tok, readable)
		for {
			s, addr, err := ln.Accept()
			if errors.Is(err, ErrWouldBlock) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			if addr == nil || s.RemoteAddr() == nil {
				t.Fatal("accepted stream without a remote address")
			}
			s.Close()
			accepted++
		}
	}
	if accepted != clients {
		t.Fatalf("accepted %d, want %d", accepted, clients)
	}
}

func TestPeerCloseGivesReadClosedAndEOF(t *testing.T) {
	p := newPoll(t)
	s, peer := streamPair(t)
	if err := p.Registry().Register(s, 5, Readable); err != nil {
		t.Fatal(err)
	}
	events := NewEvents(8)
	peer.Write([]byte("hi"))
	waitEvent(t, p, events, 5, readable)
	if got := drain(t, s); string(got) != "hi" {
		t.Fatalf("read %q, want hi", got)
	}
	peer.Close()
	waitEvent(t, p, events, 5, func(e Event) bool { return e.IsReadable() && e.IsReadClosed() })
	if n, err := s.Read(make([]byte, 8)); n != 0 || err != io.EOF {
		t.Fatalf("Read after peer close = %d, %v, want 0, io.EOF", n, err)
	}
}

func TestDataThenCloseReadsAllBeforeEOF(t *testing.T) {
	p := newPoll(t)
	s, peer := streamPair(t)
	if err := p.Registry().Register(s, 5, Readable); err != nil {
		t.Fatal(err)
	}
	peer.Write([]byte("bye"))
	peer.Close()
	events := NewEvents(8)
	var got []byte
	buf := make([]byte, 2)
	for {
		n, err := s.Read(buf)
		got = append(got, buf[:n]...)
		if err == io.EOF {
			break
		}
		if errors.Is(err, ErrWouldBlock) {
			waitEvent(t, p, events, 5, readable)
			continue
		}
		if err != nil {
			t.Fatalf("Read: %v", err)
		}
	}
	if string(got) != "bye" {
		t.Fatalf("read %q before EOF, want bye", got)
	}
}

func TestPeerResetGivesReadError(t *testing.T) {
	p := newPoll(t)
	s, peer := streamPair(t)
	if err := p.Registry().Register(s, 5, Readable); err != nil {
		t.Fatal(err)
	}
	peer.(interface{ SetLinger(int) error }).SetLinger(0)
	peer.Close() // RST
	events := NewEvents(8)
	waitEvent(t, p, events, 5, nil)
	buf := make([]byte, 16)
	_, err := s.Read(buf)
	for errors.Is(err, ErrWouldBlock) {
		waitEvent(t, p, events, 5, nil)
		_, err = s.Read(buf)
	}
	if err == nil {
		t.Fatal("Read after reset: no error")
	}
	// Wine reports a reset as an orderly end of stream (a Wine limitation);
	// Linux and Windows report ECONNRESET.
	if err != io.EOF && !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("Read after reset = %v, want ECONNRESET", err)
	}
	if err == io.EOF && runtime.GOOS != "windows" {
		t.Fatalf("Read after reset = EOF, want ECONNRESET")
	}
}

func TestBatchesRespectCapacity(t *testing.T) {
	p := newPoll(t)
	ln := netListener(t)
	const n = 64
	for i := 0; i < n; i++ {
		s, err := DialTCP("tcp4", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		// Registered before the accept: a connect deferred to Register
		// (Windows' overlapped engine) starts here.
		if err := p.Registry().Register(s, Token(i), Readable); err != nil {
			t.Fatal(err)
		}
		peer, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		defer peer.Close()
		peer.Write([]byte{byte(i)})
	}
	events := NewEvents(4)
	seen := map[Token]bool{}
	deadline := time.Now().Add(eventTimeout)
	for len(seen) < n && time.Now().Before(deadline) {
		if err := p.Wait(events, time.Second); err != nil {
			t.Fatal(err)
		}
		if events.Len() > 4 {
			t.Fatalf("batch of %d with capacity 4", events.Len())
		}
		for ev := range events.All() {
			if ev.Token() >= n || !ev.IsReadable() {
				t.Fatalf("unexpected event %v", ev)
			}
			seen[ev.Token()] = true
		}
	}
	if len(seen) != n {
		t.Fatalf("saw %d of %d tokens", len(seen), n)
	}
}

func TestUDPRoundTrip(t *testing.T) {
	p := newPoll(t)
	a := listenUDP(t)
	defer a.Close()
	b := listenUDP(t)
	defer b.Close()
	r := p.Registry()
	if err := r.Register(a, 1, Writable); err != nil {
		t.Fatal(err)
	}
	if err := r.Register(b, 2, Readable); err != nil {
		t.Fatal(err)
	}
	events := NewEvents(8)
	waitEvent(t, p, events, 1, writable)
	if n, err := a.WriteTo([]byte("datagram"), b.LocalAddr()); err != nil || n != 8 {
		t.Fatalf("WriteTo = %d, %v", n, err)
	}
	waitEvent(t, p, events, 2, readable)
	buf := make([]byte, 64)
	n, from, err := b.ReadFrom(buf)
	if err != nil || string(buf[:n]) != "datagram" {
		t.Fatalf("ReadFrom = %q, %v", buf[:n], err)
	}
	if from.String() != a.LocalAddr().String() {
		t.Fatalf("from %v, want %v", from, a.LocalAddr())
	}
	if _, _, err := b.ReadFrom(buf); !errors.Is(err, ErrWouldBlock) {
		t.Fatalf("second ReadFrom = %v, want ErrWouldBlock", err)
	}
	if _, err := a.WriteTo([]byte("x"), &net.TCPAddr{}); !errors.Is(err, ErrInvalidAddress) {
		t.Fatalf("WriteTo a TCP address = %v, want ErrInvalidAddress", err)
	}
}

func TestEventsAreEdgeTriggeredForWrites(t *testing.T) {
	p := newPoll(t)
	s, peer := streamPair(t)
	events := NewEvents(8)
	if err := p.Registry().Register(s, 1, Writable); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, p, events, 1, writable)
	expectQuiet(t, p, events, 1)
	// Fill the send path until it would block, then let the peer drain it.
	chunk := bytes.Repeat([]byte("w"), 64<<10)
	total := 0
	for {
		n, err := s.Write(chunk)
		total += n
		if errors.Is(err, ErrWouldBlock) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if total > 256<<20 {
			t.Fatal("socket never filled")
		}
	}
	got := make(chan int64, 1)
	go func() {
		n, _ := io.CopyN(io.Discard, peer, int64(total))
		got <- n
	}()
	waitEvent(t, p, events, 1, writable)
	s.CloseWrite()
	if n := <-got; n != int64(total) {
		t.Fatalf("peer read %d of %d bytes", n, total)
	}
}

func TestZeroAllocs(t *testing.T) {
	p := newPoll(t)
	s, peer := streamPair(t)
	if err := p.Registry().Register(s, 1, Readable); err != nil {
		t.Fatal(err)
	}
	events := NewEvents(16)
	msg := []byte("0123456789abcdef")
	buf := make([]byte, 64)
	peerBuf := make([]byte, 64)
	waitAndRead := func() {
		if _, err := peer.Write(msg); err != nil {
			t.Fatal(err)
		}
		for got := 0; got < len(msg); {
			if err := p.Wait(events, eventTimeout); err != nil || events.Len() == 0 {
				t.Fatalf("Wait: %d events, %v", events.Len(), err)
			}
			for {
				n, err := s.Read(buf)
				got += n
				if err != nil {
					if !errors.Is(err, ErrWouldBlock) {
						t.Fatal(err)
					}
					break
				}
			}
		}
	}
	writeAndPeerRead := func() {
		if n, err := s.Write(msg); err != nil || n != len(msg) {
			t.Fatalf("Write = %d, %v", n, err)
		}
		if _, err := io.ReadFull(peer, peerBuf[:len(msg)]); err != nil {
			t.Fatal(err)
		}
	}
	waitAndRead()
	writeAndPeerRead()
	if a := testing.AllocsPerRun(200, waitAndRead); a != 0 {
		t.Errorf("Wait + Read until ErrWouldBlock: %v allocs per run, want 0", a)
	}
	if a := testing.AllocsPerRun(200, writeAndPeerRead); a != 0 {
		t.Errorf("Write: %v allocs per run, want 0", a)
	}
}

// 100 busy senders (always ready: each Writable sends a ping when its last
// one arrived, and Reregisters to be told again) and an Events of capacity
// 1: every Wait still makes progress, so every ping arrives and a Wake gets
// through.
func TestBusySourcesStarveNothing(t *testing.T) {
	ForEachSkipMode(t, func(t *testing.T) {
		const senders, rounds = 100, 3
		const wakeToken, recvToken = Token(1000), Token(0)
		p := newPoll(t)
		r := p.Registry()
		recv := listenUDP(t)
		defer recv.Close()
		if err := r.Register(recv, recvToken, Readable); err != nil {
			t.Fatal(err)
		}
		socks := make([]*UDPSocket, senders)
		for i := range socks {
			socks[i] = listenUDP(t)
			defer socks[i].Close()
			if err := r.Register(socks[i], Token(i+1), Writable); err != nil {
				t.Fatal(err)
			}
		}
		w, err := NewWaker(r, wakeToken)
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Wake(); err != nil {
			t.Fatal(err)
		}
		sent := make([]int, senders)
		got := make([]int, senders)
		total, woken := 0, false
		events := NewEvents(1)
		buf := make([]byte, 64)
		deadline := time.Now().Add(3 * eventTimeout)
		for total < senders*rounds || !woken {
			if time.Now().After(deadline) {
				t.Fatalf("after %v: %d of %d pings arrived, woken %v", 3*eventTimeout, total, senders*rounds, woken)
			}
			if err := p.Wait(events, time.Second); err != nil {
				t.Fatal(err)
			}
			if events.Len() > events.Cap() {
				t.Fatalf("%d events in an Events of capacity %d", events.Len(), events.Cap())
			}
			for ev := range events.All() {
				switch tok := ev.Token(); tok {
				case wakeToken:
					woken = true
				case recvToken:
					for {
						n, _, err := recv.ReadFrom(buf)
						if errors.Is(err, ErrWouldBlock) {
							break
						}
						if err != nil {
							t.Fatal(err)
						}
						if n != 2 || int(buf[0]) >= senders || int(buf[1]) != got[buf[0]] {
							t.Fatalf("ping %v, want sender < %d and its round %d", buf[:n], senders, got[buf[0]%senders])
						}
						got[buf[0]]++
						total++
					}
				default:
					i := int(tok) - 1
					if sent[i] == got[i] && sent[i] < rounds {
						_, err := socks[i].WriteTo([]byte{byte(i), byte(sent[i])}, recv.LocalAddr())
						switch {
						case err == nil:
							sent[i]++
						case !errors.Is(err, ErrWouldBlock):
							t.Fatal(err)
						}
					}
					if err := r.Reregister(socks[i], tok, Writable); err != nil {
						t.Fatal(err)
					}
				}
			}
		}
	})
}
