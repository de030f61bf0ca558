package poller

// Faults: peers that reset or half-close, connects to a closed port,
// closes while a Wait blocks or with a thousand events pending, and OS
// failures injected into Accept, Read and ReadFrom. Every test here runs
// unchanged on Linux and on Windows (under Wine, with either core), uses only
// the public API and package net for peers, and most end with a leak check
// (leak_test.go): descriptors on Unix, handles and the core's live
// allocations on Windows, back to where they were.

import (
	"bytes"
	"errors"
	"io"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// injectFault makes the next Accept, Read or ReadFrom fail with the OS's
// ENOBUFS (WSAENOBUFS on Windows).
func injectFault(t *testing.T) {
	t.Helper()
	err := errNoBufs
	injectedFault.Store(&err)
	t.Cleanup(func() { injectedFault.Store(nil) })
}

func wantNoBufs(t *testing.T, op string, err error) {
	t.Helper()
	if !errors.Is(err, syscall.ENOBUFS) {
		t.Fatalf("%s with the injected fault = %v, want ENOBUFS", op, err)
	}
}

func TestAcceptKeepsReportingAfterFailure(t *testing.T) {
	f := newFixture(t)
	ln, tok := f.listen()
	var clients []net.Conn
	defer func() {
		for _, c := range clients {
			c.Close()
		}
	}()
	dial := func() {
		c, err := net.Dial("tcp4", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		clients = append(clients, c)
	}
	dial()
	f.wait(tok, readable)
	injectFault(t)
	_, _, err := ln.Accept()
	wantNoBufs(t, "Accept", err)
	dial()
	f.wait(tok, readable)
	accepted := 0
	for {
		s, _, err := ln.Accept()
		if errors.Is(err, ErrWouldBlock) {
			break
		}
		if err != nil {
			t.Fatalf("Accept: %v", err)
		}
		s.Close()
		accepted++
	}
	if accepted == 0 {
		t.Fatal("the event after the failure brought no connection")
	}
}

func TestReadKeepsReportingAfterFailure(t *testing.T) {
	p := newPoll(t)
	s, peer := streamPair(t)
	if err := p.Registry().Register(s, 2, Readable); err != nil {
		t.Fatal(err)
	}
	awaitPeer(t, peer)
	events := NewEvents(8)
	peer.Write([]byte("one"))
	waitEvent(t, p, events, 2, readable)
	injectFault(t)
	_, err := s.Read(make([]byte, 16))
	wantNoBufs(t, "Read", err)
	peer.Write([]byte("two"))
	waitEvent(t, p, events, 2, readable)
	got := string(drain(t, s))
	for got != "onetwo" {
		if len(got) >= len("onetwo") {
			t.Fatalf("read %q, want %q", got, "onetwo")
		}
		waitEvent(t, p, events, 2, readable)
		got += string(drain(t, s))
	}
}

func TestReadFromKeepsReportingAfterFailure(t *testing.T) {
	p := newPoll(t)
	u := listenUDP(t)
	defer u.Close()
	sender := listenUDP(t)
	defer sender.Close()
	if err := p.Registry().Register(u, 3, Readable); err != nil {
		t.Fatal(err)
	}
	events := NewEvents(8)
	send := func(msg string) {
		if _, err := sender.WriteTo([]byte(msg), u.LocalAddr()); err != nil {
			t.Fatal(err)
		}
	}
	send("one")
	waitEvent(t, p, events, 3, readable)
	injectFault(t)
	_, _, err := u.ReadFrom(make([]byte, 16))
	wantNoBufs(t, "ReadFrom", err)
	send("two")
	waitEvent(t, p, events, 3, readable)
	buf := make([]byte, 16)
	var got []string
	for len(got) < 2 {
		n, _, err := u.ReadFrom(buf)
		if errors.Is(err, ErrWouldBlock) {
			waitEvent(t, p, events, 3, readable)
			continue
		}
		if err != nil {
			t.Fatalf("ReadFrom: %v", err)
		}
		got = append(got, string(buf[:n]))
	}
	if got[0] != "one" || got[1] != "two" {
		t.Fatalf("datagrams %q, want one, two", got)
	}
}

// A peer that resets the connection in mid-stream, with data unread on both
// sides: every byte read is a byte the peer sent, in order, then the read
// reports the reset; writes report it too; nothing leaks.
func TestFaultPeerResetMidStream(t *testing.T) {
	checkLeaks(t)
	p := newPoll(t)
	s, peer := streamPair(t)
	if err := p.Registry().Register(s, 1, Readable|Writable); err != nil {
		t.Fatal(err)
	}
	events := NewEvents(8)
	sent := bytes.Repeat([]byte("0123456789abcdef"), 4096) // 64 KiB
	if _, err := peer.Write(sent); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, p, events, 1, readable)
	buf := make([]byte, 1024)
	n, err := s.Read(buf) // mid-stream: one read, the rest stays queued
	if err != nil {
		t.Fatalf("first Read: %v", err)
	}
	got := append([]byte(nil), buf[:n]...)
	// Unread data on the peer's side too: its close sends a reset.
	if _, err := s.Write(bytes.Repeat([]byte("x"), 4096)); err != nil && !errors.Is(err, ErrWouldBlock) {
		t.Fatalf("Write before reset: %v", err)
	}
	peer.(tcpPeer).SetLinger(0)
	peer.Close()

	var readErr error
	deadline := time.Now().Add(eventTimeout)
	for readErr == nil && time.Now().Before(deadline) {
		n, err := s.Read(buf)
		got = append(got, buf[:n]...)
		switch {
		case err == nil:
		case errors.Is(err, ErrWouldBlock):
			waitEvent(t, p, events, 1, nil)
		default:
			readErr = err
		}
	}
	if !bytes.HasPrefix(sent, got) {
		t.Fatalf("read %d bytes that are not a prefix of what the peer sent", len(got))
	}
	// Linux and Windows report ECONNRESET; Wine 8 reports a reset as an
	// orderly end of stream (a Wine limitation).
	wantRead := isConnBroken(readErr) || (runtime.GOOS == "windows" && readErr == io.EOF)
	if !wantRead {
		t.Fatalf("Read after reset = %v, want ECONNRESET", readErr)
	}
	var writeErr error
	for i := 0; i < 64 && writeErr == nil; i++ {
		_, writeErr = s.Write(buf)
		if errors.Is(writeErr, ErrWouldBlock) {
			writeErr = nil
			waitEvent(t, p, events, 1, nil)
		}
	}
	if !isConnBroken(writeErr) {
		t.Fatalf("Write after reset = %v, want ECONNRESET, EPIPE or ECONNABORTED", writeErr)
	}
	t.Logf("read %d of %d bytes, then %v; write: %v", len(got), len(sent), readErr, writeErr)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

// We shut down our sending side: the peer reads everything then EOF, and
// can still send to us; our Write fails with the documented error.
func TestFaultHalfCloseLocal(t *testing.T) {
	checkLeaks(t)
	f := newFixture(t)
	s, peer := streamPair(t)
	tok := f.register(s, Readable|Writable)
	f.wait(tok, writable)
	if n, err := s.Write([]byte("request")); n != 7 || err != nil {
		t.Fatalf("Write = %d, %v", n, err)
	}
	if err := s.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	all, err := io.ReadAll(peer)
	if err != nil || string(all) != "request" {
		t.Fatalf("peer read %q, %v; want request then EOF", all, err)
	}
	if _, err := s.Write([]byte("more")); !isWriteShutdown(err) {
		t.Fatalf("Write after CloseWrite = %v, want %v", err, errWriteShutdown)
	}
	// The other direction still works.
	if _, err := peer.Write([]byte("reply")); err != nil {
		t.Fatal(err)
	}
	got := f.read(s, tok, 5)
	if string(got) != "reply" {
		t.Fatalf("read %q after our CloseWrite, want reply", got)
	}
	peer.Close()
	if rest, err := f.readToEOF(s, tok); err != nil || len(rest) != 0 {
		t.Fatalf("after peer close: %q, %v; want EOF", rest, err)
	}
}

// The peer shuts down its sending side: we read everything then io.EOF, and
// can still send to it.
func TestFaultHalfClosePeer(t *testing.T) {
	checkLeaks(t)
	f := newFixture(t)
	s, peer := streamPair(t)
	tok := f.register(s, Readable|Writable)
	if _, err := peer.Write([]byte("question")); err != nil {
		t.Fatal(err)
	}
	if err := peer.(tcpPeer).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	got, err := f.readToEOF(s, tok)
	if err != nil || string(got) != "question" {
		t.Fatalf("read %q, %v; want question then EOF", got, err)
	}
	// A read after EOF keeps saying EOF.
	if n, err := s.Read(make([]byte, 4)); n != 0 || err != io.EOF {
		t.Fatalf("second Read after EOF = %d, %v", n, err)
	}
	// No send is in flight: the Write takes it all, on every engine (on the
	// overlapped one also before a Wait has collected the completion of
	// the connect: the stream has read its peer already).
	if n, err := s.Write([]byte("answer")); n != 6 || err != nil {
		t.Fatalf("Write after the peer's CloseWrite = %d, %v", n, err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// The FIN follows at once, or, with a send still in flight on the
	// overlapped engine, once a Wait has collected its completion: keep
	// waiting until the peer has read to EOF.
	peer.SetReadDeadline(time.Now().Add(eventTimeout))
	type result struct {
		all []byte
		err error
	}
	read := make(chan result, 1)
	go func() {
		all, err := io.ReadAll(peer)
		read <- result{all, err}
	}()
	for {
		select {
		case r := <-read:
			if r.err != nil || string(r.all) != "answer" {
				t.Fatalf("peer read %q, %v", r.all, r.err)
			}
			return
		default:
		}
		if err := f.p.Wait(f.events, 10*time.Millisecond); err != nil {
			t.Fatal(err)
		}
	}
}

// Connecting to a closed port, many times on one Poll: each gives an event
// and TakeError matches ECONNREFUSED; nothing leaks.
func TestFaultConnectClosedPort(t *testing.T) {
	checkLeaks(t)
	p := newPoll(t)
	addr := closedPortAddr(t)
	events := NewEvents(8)
	const tries = 20
	for i := 0; i < tries; i++ {
		s, err := DialTCP("tcp4", addr)
		if err != nil {
			if errors.Is(err, syscall.ECONNREFUSED) {
				continue // refused at once: also documented
			}
			t.Fatal(err)
		}
		if err := p.Registry().Register(s, Token(i), Readable|Writable); err != nil {
			t.Fatal(err)
		}
		waitEvent(t, p, events, Token(i), nil)
		if err := s.TakeError(); !errors.Is(err, syscall.ECONNREFUSED) {
			t.Fatalf("try %d: TakeError = %v, want ECONNREFUSED", i, err)
		}
		if _, err := s.Write([]byte("x")); err == nil || errors.Is(err, ErrWouldBlock) {
			t.Fatalf("try %d: Write on a refused stream = %v, want an error", i, err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// Deregister and Close of sources while another goroutine is blocked in
// Wait: that Wait (and every later one) never reports them.
func TestFaultDeregisterAndCloseWhileWaiting(t *testing.T) {
	checkLeaks(t)
	p := newPoll(t)
	r := p.Registry()
	events := NewEvents(16)
	rounds := size(30, 10, 30, 10)
	for round := 0; round < rounds; round++ {
		a, peerA := streamPair(t)
		b, peerB := streamPair(t)
		c, peerC := streamPair(t)
		base := Token(round * 10)
		for i, s := range []*TCPStream{a, b, c} {
			if err := r.Register(s, base+Token(i+1), Readable); err != nil {
				t.Fatal(err)
			}
		}
		type result struct {
			seen []Token
			err  error
		}
		done := make(chan result, 1)
		go func() {
			var res result
			deadline := time.Now().Add(eventTimeout)
			for time.Now().Before(deadline) {
				if res.err = p.Wait(events, time.Until(deadline)); res.err != nil {
					break
				}
				hit := false
				for ev := range events.All() {
					res.seen = append(res.seen, ev.Token())
					hit = hit || ev.Token() == base+3
				}
				if hit {
					break
				}
			}
			done <- res
		}()
		waitBlocked(p)
		if err := r.Deregister(a); err != nil {
			t.Fatal(err)
		}
		if err := b.Close(); err != nil {
			t.Fatal(err)
		}
		peerA.Write([]byte("to a"))
		peerB.Write([]byte("to b"))
		peerC.Write([]byte("to c"))
		res := <-done
		if res.err != nil {
			t.Fatal(res.err)
		}
		sawC := false
		for _, tok := range res.seen {
			switch tok {
			case base + 1, base + 2:
				t.Fatalf("round %d: event for token %d after its Deregister/Close", round, tok)
			case base + 3:
				sawC = true
			}
		}
		if !sawC {
			t.Fatalf("round %d: no event for the source still registered", round)
		}
		if err := r.Deregister(a); !errors.Is(err, ErrNotRegistered) {
			t.Fatalf("second Deregister = %v, want ErrNotRegistered", err)
		}
		if err := r.Deregister(b); !errors.Is(err, net.ErrClosed) {
			t.Fatalf("Deregister of a closed socket = %v, want net.ErrClosed", err)
		}
		a.Close()
		c.Close()
	}
	expectQuiet(t, p, events, 1)
}

// Poll.Close with 1,000 registered sockets whose polls are pending, whose
// events are queued, or both, while another goroutine waits: the Wait ends
// with net.ErrClosed, the sockets stay open and usable, and once they are
// closed nothing is left.
func TestFaultCloseWithThousandPending(t *testing.T) {
	requireAFD(t, "its streams are accepted before they are registered (dialAccept)")
	base := checkLeaks(t)
	ln := netListener(t)
	p, err := New()
	if err != nil {
		t.Fatal(err)
	}
	const n = 1000
	streams := make([]*TCPStream, n)
	peers := make([]net.Conn, n)
	for i := range streams {
		s, c := dialAccept(t, ln)
		streams[i], peers[i] = s, c
		t.Cleanup(func() { s.Close(); c.Close() })
		interest := Readable // pending, nothing to read
		switch i % 3 {
		case 1:
			interest = Readable | Writable // writable at once, read pending
		case 2:
			c.Write([]byte("queued")) // an event waiting to be dequeued
		}
		if err := p.Registry().Register(s, Token(i), interest); err != nil {
			t.Fatal(err)
		}
	}
	// Dequeue a little, leaving most events queued.
	if err := p.Wait(NewEvents(16), eventTimeout); err != nil {
		t.Fatal(err)
	}
	waitErr := make(chan error, 1)
	go func() {
		events := NewEvents(8)
		for {
			if err := p.Wait(events, -1); err != nil {
				waitErr <- err
				return
			}
		}
	}()
	waitBlocked(p)
	if err := p.Close(); err != nil {
		t.Fatalf("Close with %d registered: %v", n, err)
	}
	select {
	case err := <-waitErr:
		if !errors.Is(err, net.ErrClosed) {
			t.Fatalf("Wait during Close = %v, want net.ErrClosed", err)
		}
	case <-time.After(eventTimeout):
		t.Fatal("Close did not end the blocked Wait")
	}
	if err := p.Wait(NewEvents(1), 0); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Wait after Close = %v", err)
	}
	if got := liveAllocsOrZero(); got != base.allocs {
		t.Fatalf("core allocations %d after Close, %d before the Poll", got, base.allocs)
	}
	// The sockets outlive the Poll: they read, write and join a new Poll.
	p2 := newPoll(t)
	for i, s := range streams {
		if _, err := s.Write([]byte("!")); err != nil {
			t.Fatalf("stream %d after Close: Write: %v", i, err)
		}
		if i%100 == 0 {
			if err := p2.Registry().Register(s, Token(i), Readable); err != nil {
				t.Fatalf("stream %d: Register with a new Poll: %v", i, err)
			}
		}
	}
	stressLog(t, "close: Poll.Close with %d registered sockets (polls pending, events queued) during a Wait: Wait gave net.ErrClosed, core allocations back to %d, sockets usable after",
		n, base.allocs)
}

// Wakers hammered from other goroutines while the Poll closes: every Wake
// returns nil or net.ErrClosed, and after Close only net.ErrClosed.
func TestFaultWakerAfterClose(t *testing.T) {
	checkLeaks(t)
	p, err := New()
	if err != nil {
		t.Fatal(err)
	}
	const wakers = 4
	var ws []*Waker
	for i := 0; i < wakers; i++ {
		w, err := NewWaker(p.Registry(), Token(100+i))
		if err != nil {
			t.Fatal(err)
		}
		ws = append(ws, w)
	}
	var wg sync.WaitGroup
	var closedSeen atomic.Int64
	stop := make(chan struct{})
	for _, w := range ws {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				err := w.Wake()
				switch {
				case err == nil:
				case errors.Is(err, net.ErrClosed):
					closedSeen.Add(1)
					return
				default:
					t.Errorf("Wake during Close = %v", err)
					return
				}
				select {
				case <-stop:
					return
				default:
				}
			}
		}()
	}
	events := NewEvents(wakers)
	for i := 0; i < 20; i++ {
		if err := p.Wait(events, eventTimeout); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	close(stop)
	for i, w := range ws {
		if err := w.Wake(); !errors.Is(err, net.ErrClosed) {
			t.Fatalf("waker %d after Close: %v, want net.ErrClosed", i, err)
		}
	}
	if closedSeen.Load() != wakers {
		t.Fatalf("%d of %d waking goroutines saw net.ErrClosed", closedSeen.Load(), wakers)
	}
	if _, err := NewWaker(p.Registry(), 1); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("NewWaker after Close = %v", err)
	}
}
