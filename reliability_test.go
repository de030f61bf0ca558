package poller

// Reliability: faults, misuse, load and soak. Every test here runs
// unchanged on Linux and on Windows (under Wine, with either core), uses
// only the public API and package net for peers, and ends with a leak check
// (leak_test.go): descriptors on Unix, handles and the core's live
// allocations on Windows, back to where they were.
//
// Load and soak run scaled down by default; -poller.stress (or
// POLLER_STRESS=1) runs them full size: 10,000 connections on Linux and 500
// on Windows echoing 1 MB each, 1,000,000 Wake/Wait cycles and 100,000
// register/deregister cycles (make stress).

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"math/rand"
	"net"
	"os"
	"os/exec"
	"reflect"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

var stressFlag = flag.Bool("poller.stress", false, "run the load and soak tests full size")

func stress() bool { return *stressFlag || os.Getenv("POLLER_STRESS") == "1" }

// size picks a test size: scaled down or full (-poller.stress), and smaller
// on Windows, where every socket call is a round trip to wineserver.
func size(unixSmall, windowsSmall, unixFull, windowsFull int) int {
	full := stress()
	switch {
	case runtime.GOOS == "windows" && full:
		return windowsFull
	case runtime.GOOS == "windows":
		return windowsSmall
	case full:
		return unixFull
	}
	return unixSmall
}

// stressLog prints a count checked by a load or soak test; make stress
// shows these lines.
func stressLog(t testing.TB, format string, args ...any) {
	t.Helper()
	t.Logf("STRESS "+format, args...)
}

// isConnBroken matches the errors of an operation on a connection the peer
// reset or closed: ECONNRESET, EPIPE or ECONNABORTED (Windows maps its
// WSAECONNRESET and WSAECONNABORTED to these).
func isConnBroken(err error) bool {
	return errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, syscall.ECONNABORTED)
}

// ---- Faults ----

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
	peer.(*net.TCPConn).SetLinger(0)
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
	// orderly end of stream (shared notes).
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
	p := newPoll(t)
	s, peer := streamPair(t)
	if err := p.Registry().Register(s, 1, Readable|Writable); err != nil {
		t.Fatal(err)
	}
	events := NewEvents(8)
	waitEvent(t, p, events, 1, writable)
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
	got := readUntil(t, p, events, s, 1, 5)
	if string(got) != "reply" {
		t.Fatalf("read %q after our CloseWrite, want reply", got)
	}
	peer.Close()
	if rest, err := readToEOF(t, p, events, s, 1); err != nil || len(rest) != 0 {
		t.Fatalf("after peer close: %q, %v; want EOF", rest, err)
	}
}

// The peer shuts down its sending side: we read everything then io.EOF, and
// can still send to it.
func TestFaultHalfClosePeer(t *testing.T) {
	checkLeaks(t)
	p := newPoll(t)
	s, peer := streamPair(t)
	if err := p.Registry().Register(s, 1, Readable|Writable); err != nil {
		t.Fatal(err)
	}
	events := NewEvents(8)
	if _, err := peer.Write([]byte("question")); err != nil {
		t.Fatal(err)
	}
	if err := peer.(*net.TCPConn).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	got, err := readToEOF(t, p, events, s, 1)
	if err != nil || string(got) != "question" {
		t.Fatalf("read %q, %v; want question then EOF", got, err)
	}
	// A read after EOF keeps saying EOF.
	if n, err := s.Read(make([]byte, 4)); n != 0 || err != io.EOF {
		t.Fatalf("second Read after EOF = %d, %v", n, err)
	}
	if n, err := s.Write([]byte("answer")); n != 6 || err != nil {
		t.Fatalf("Write after the peer's CloseWrite = %d, %v", n, err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	all, err := io.ReadAll(peer)
	if err != nil || string(all) != "answer" {
		t.Fatalf("peer read %q, %v", all, err)
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

// readUntil reads from s, waiting for events of token, until it has want
// bytes.
func readUntil(t *testing.T, p *Poll, events *Events, s *TCPStream, token Token, want int) []byte {
	t.Helper()
	var got []byte
	buf := make([]byte, 4096)
	deadline := time.Now().Add(eventTimeout)
	for len(got) < want {
		if time.Now().After(deadline) {
			t.Fatalf("read %d of %d bytes in %v", len(got), want, eventTimeout)
		}
		n, err := s.Read(buf)
		got = append(got, buf[:n]...)
		switch {
		case err == nil:
		case errors.Is(err, ErrWouldBlock):
			waitEvent(t, p, events, token, nil)
		default:
			t.Fatalf("Read: %v", err)
		}
	}
	return got
}

// readToEOF reads from s until io.EOF and returns what came before it, or
// the first other error.
func readToEOF(t *testing.T, p *Poll, events *Events, s *TCPStream, token Token) ([]byte, error) {
	t.Helper()
	var got []byte
	buf := make([]byte, 4096)
	deadline := time.Now().Add(eventTimeout)
	for time.Now().Before(deadline) {
		n, err := s.Read(buf)
		got = append(got, buf[:n]...)
		switch {
		case err == io.EOF:
			return got, nil
		case err == nil:
		case errors.Is(err, ErrWouldBlock):
			waitEvent(t, p, events, token, nil)
		default:
			return got, err
		}
	}
	t.Fatalf("no EOF within %v", eventTimeout)
	return nil, nil
}

// ---- Misuse ----

// misuseFixture makes what a misuse case needs, on demand, all closed at
// the end of the case.
type misuseFixture struct {
	t *testing.T
}

func (f misuseFixture) poll() *Poll { return newPoll(f.t) }

func (f misuseFixture) closedPoll() *Poll {
	p, err := New()
	if err != nil {
		f.t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		f.t.Fatal(err)
	}
	return p
}

func (f misuseFixture) stream() *TCPStream {
	s, _ := streamPair(f.t)
	return s
}

func (f misuseFixture) closedStream() *TCPStream {
	s := f.stream()
	if err := s.Close(); err != nil {
		f.t.Fatal(err)
	}
	return s
}

func (f misuseFixture) listener() *TCPListener {
	ln, err := ListenTCP("tcp4", "127.0.0.1:0")
	if err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(func() { ln.Close() })
	return ln
}

func (f misuseFixture) udp() *UDPSocket {
	u := listenUDP(f.t)
	f.t.Cleanup(func() { u.Close() })
	return u
}

// registered returns a poll and a stream registered with it.
func (f misuseFixture) registered() (*Poll, *TCPStream) {
	p, s := f.poll(), f.stream()
	if err := p.Registry().Register(s, 1, Readable); err != nil {
		f.t.Fatal(err)
	}
	return p, s
}

// waitWoken runs Wait with timeout while another goroutine wakes it, and
// checks that it returned the wake (and so did not give up early or spin).
func waitWoken(f misuseFixture, timeout time.Duration) error {
	p := f.poll()
	w, err := NewWaker(p.Registry(), 5)
	if err != nil {
		return err
	}
	events := NewEvents(4)
	done := make(chan error, 1)
	go func() { done <- p.Wait(events, timeout) }()
	waitBlocked(p)
	if err := w.Wake(); err != nil {
		return err
	}
	if err := <-done; err != nil {
		return err
	}
	if events.Len() != 1 || events.At(0).Token() != 5 {
		return fmt.Errorf("Wait(%v) returned %d events, want the wake", timeout, events.Len())
	}
	return nil
}

var readBuf = make([]byte, 16)

// nilAddr is nil for a nil net.Addr (also a typed nil), else an error.
func nilAddr(a net.Addr) error {
	if a == nil || reflect.ValueOf(a).IsNil() {
		return nil
	}
	return fmt.Errorf("got %v, want a nil address", a)
}

// writeToPort sends a datagram from a UDP socket of ours to 127.0.0.1:port.
func writeToPort(f misuseFixture, port int) error {
	_, err := f.udp().WriteTo(readBuf, &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port})
	return err
}

// The misuse table: every public entry point with bad input gives a
// documented error that errors.Is recognises, and never panics. The same
// table runs on every OS.
func TestMisuseTable(t *testing.T) {
	checkLeaks(t)
	type misuse struct {
		name string
		run  func(f misuseFixture) error
		want error // nil: the call must succeed (documented behaviour)
	}
	cases := []misuse{
		// nil and zero-valued arguments
		{"Register nil Source", func(f misuseFixture) error { return f.poll().Registry().Register(nil, 1, Readable) }, ErrNilSource},
		{"Register nil *TCPStream", func(f misuseFixture) error { return f.poll().Registry().Register((*TCPStream)(nil), 1, Readable) }, ErrNilSource},
		{"Register nil *TCPListener", func(f misuseFixture) error { return f.poll().Registry().Register((*TCPListener)(nil), 1, Readable) }, ErrNilSource},
		{"Register nil *UDPSocket", func(f misuseFixture) error { return f.poll().Registry().Register((*UDPSocket)(nil), 1, Readable) }, ErrNilSource},
		{"Register zero TCPStream", func(f misuseFixture) error { return f.poll().Registry().Register(&TCPStream{}, 1, Readable) }, ErrNilSource},
		{"Register raw source with an invalid handle", func(f misuseFixture) error { return f.poll().Registry().Register(invalidRawSource(), 1, Readable) }, ErrNilSource},
		{"Reregister nil Source", func(f misuseFixture) error { return f.poll().Registry().Reregister(nil, 1, Readable) }, ErrNilSource},
		{"Deregister nil Source", func(f misuseFixture) error { return f.poll().Registry().Deregister(nil) }, ErrNilSource},
		{"Read on a zero TCPStream", func(f misuseFixture) error { _, err := (&TCPStream{}).Read(readBuf); return err }, ErrNilSource},
		{"Write on a zero TCPStream", func(f misuseFixture) error { _, err := (&TCPStream{}).Write(readBuf); return err }, ErrNilSource},
		{"Close a zero TCPStream", func(f misuseFixture) error { return (&TCPStream{}).Close() }, ErrNilSource},
		{"Accept on a zero TCPListener", func(f misuseFixture) error { _, _, err := (&TCPListener{}).Accept(); return err }, ErrNilSource},
		{"ReadFrom on a zero UDPSocket", func(f misuseFixture) error { _, _, err := (&UDPSocket{}).ReadFrom(readBuf); return err }, ErrNilSource},
		{"Read on a nil *TCPStream", func(f misuseFixture) error { _, err := (*TCPStream)(nil).Read(readBuf); return err }, ErrNilSource},
		{"Wake a nil *Waker", func(f misuseFixture) error { return (*Waker)(nil).Wake() }, ErrNilSource},
		{"NewWaker with a nil Registry", func(f misuseFixture) error { _, err := NewWaker(nil, 1); return err }, net.ErrClosed},
		{"NewWaker on a zero Registry", func(f misuseFixture) error { _, err := NewWaker(new(Registry), 1); return err }, net.ErrClosed},
		{"Addr of a nil *TCPListener", func(f misuseFixture) error { return nilAddr((*TCPListener)(nil).Addr()) }, nil},
		{"RemoteAddr of a nil *TCPStream", func(f misuseFixture) error { return nilAddr((*TCPStream)(nil).RemoteAddr()) }, nil},
		{"LocalAddr of a nil *TCPStream", func(f misuseFixture) error { return nilAddr((*TCPStream)(nil).LocalAddr()) }, nil},
		{"LocalAddr of a nil *UDPSocket", func(f misuseFixture) error { return nilAddr((*UDPSocket)(nil).LocalAddr()) }, nil},
		{"Len, Cap and All of a nil *Events", func(f misuseFixture) error {
			var e *Events
			for range e.All() {
				return errors.New("a nil Events yielded an event")
			}
			if e.Len() != 0 || e.Cap() != 0 {
				return fmt.Errorf("nil Events: Len %d, Cap %d, want 0 and 0", e.Len(), e.Cap())
			}
			return nil
		}, nil},
		// Events
		{"Wait with nil Events", func(f misuseFixture) error { return f.poll().Wait(nil, 0) }, ErrInvalidEvents},
		{"Wait with zero-capacity Events", func(f misuseFixture) error { return f.poll().Wait(NewEvents(0), 0) }, ErrInvalidEvents},
		{"Wait with negative-capacity Events", func(f misuseFixture) error { return f.poll().Wait(NewEvents(-7), 0) }, ErrInvalidEvents},
		{"Wait with a zero Events value", func(f misuseFixture) error { return f.poll().Wait(&Events{}, 0) }, ErrInvalidEvents},
		{"NewEvents(math.MaxInt) is clamped to maxEventsCap", func(f misuseFixture) error {
			e := NewEvents(math.MaxInt)
			if e.Cap() != maxEventsCap {
				return fmt.Errorf("Cap %d, want %d", e.Cap(), maxEventsCap)
			}
			return f.poll().Wait(e, 0)
		}, nil},
		{"NewEvents(maxEventsCap+1) is clamped to maxEventsCap", func(f misuseFixture) error {
			if c := NewEvents(maxEventsCap + 1).Cap(); c != maxEventsCap {
				return fmt.Errorf("Cap %d, want %d", c, maxEventsCap)
			}
			return nil
		}, nil},
		// a closed Poll
		{"Wait on a closed Poll", func(f misuseFixture) error { return f.closedPoll().Wait(NewEvents(1), -1) }, net.ErrClosed},
		{"Wait with nil Events on a closed Poll", func(f misuseFixture) error { return f.closedPoll().Wait(nil, 0) }, net.ErrClosed},
		{"Close a closed Poll", func(f misuseFixture) error { return f.closedPoll().Close() }, net.ErrClosed},
		{"Register with a closed Poll", func(f misuseFixture) error { return f.closedPoll().Registry().Register(f.stream(), 1, Readable) }, net.ErrClosed},
		{"Reregister with a closed Poll", func(f misuseFixture) error { return f.closedPoll().Registry().Reregister(f.stream(), 1, Readable) }, net.ErrClosed},
		{"Register with Interest 0 on a closed Poll", func(f misuseFixture) error { return f.closedPoll().Registry().Register(f.stream(), 1, 0) }, net.ErrClosed},
		{"Register with an unknown Interest bit on a closed Poll", func(f misuseFixture) error {
			return f.closedPoll().Registry().Register(f.stream(), 1, 0x80)
		}, net.ErrClosed},
		{"Reregister with Interest 0 on a closed Poll", func(f misuseFixture) error {
			p, s := f.registered()
			p.Close()
			return p.Registry().Reregister(s, 1, 0)
		}, net.ErrClosed},
		{"Register a nil Source on a closed Poll", func(f misuseFixture) error { return f.closedPoll().Registry().Register(nil, 1, Readable) }, net.ErrClosed},
		{"Deregister a source of a Poll since closed", func(f misuseFixture) error {
			p, s := f.registered()
			p.Close()
			return p.Registry().Deregister(s)
		}, net.ErrClosed},
		{"NewWaker on a closed Poll", func(f misuseFixture) error { _, err := NewWaker(f.closedPoll().Registry(), 1); return err }, net.ErrClosed},
		{"Wake after its Poll closed", func(f misuseFixture) error {
			p := f.poll()
			w, err := NewWaker(p.Registry(), 1)
			if err != nil {
				return err
			}
			p.Close()
			return w.Wake()
		}, net.ErrClosed},
		// a Poll not made by New
		{"Wait on a zero Poll", func(f misuseFixture) error { return new(Poll).Wait(NewEvents(1), 0) }, net.ErrClosed},
		{"Close a zero Poll", func(f misuseFixture) error { return new(Poll).Close() }, net.ErrClosed},
		{"Register with a zero Poll", func(f misuseFixture) error { return new(Poll).Registry().Register(f.stream(), 1, Readable) }, net.ErrClosed},
		{"Deregister with a zero Registry", func(f misuseFixture) error { return new(Registry).Deregister(f.stream()) }, net.ErrClosed},
		{"Wait on a nil *Poll", func(f misuseFixture) error { return (*Poll)(nil).Wait(NewEvents(1), 0) }, net.ErrClosed},
		// a closed socket
		{"Register a closed stream", func(f misuseFixture) error { return f.poll().Registry().Register(f.closedStream(), 1, Readable) }, net.ErrClosed},
		{"Reregister a closed stream", func(f misuseFixture) error { return f.poll().Registry().Reregister(f.closedStream(), 1, Readable) }, net.ErrClosed},
		{"Deregister a closed stream", func(f misuseFixture) error {
			p, s := f.registered()
			s.Close()
			return p.Registry().Deregister(s)
		}, net.ErrClosed},
		{"Close a stream twice", func(f misuseFixture) error { return f.closedStream().Close() }, net.ErrClosed},
		{"Read a closed stream", func(f misuseFixture) error { _, err := f.closedStream().Read(readBuf); return err }, net.ErrClosed},
		{"Write a closed stream", func(f misuseFixture) error { _, err := f.closedStream().Write(readBuf); return err }, net.ErrClosed},
		{"CloseWrite a closed stream", func(f misuseFixture) error { return f.closedStream().CloseWrite() }, net.ErrClosed},
		{"TakeError of a closed stream", func(f misuseFixture) error { return f.closedStream().TakeError() }, net.ErrClosed},
		{"SetNoDelay on a closed stream", func(f misuseFixture) error { return f.closedStream().SetNoDelay(true) }, net.ErrClosed},
		{"Accept on a closed listener", func(f misuseFixture) error {
			ln := f.listener()
			ln.Close()
			_, _, err := ln.Accept()
			return err
		}, net.ErrClosed},
		{"Register a closed listener", func(f misuseFixture) error {
			ln := f.listener()
			ln.Close()
			return f.poll().Registry().Register(ln, 1, Readable)
		}, net.ErrClosed},
		{"ReadFrom a closed UDP socket", func(f misuseFixture) error {
			u := f.udp()
			u.Close()
			_, _, err := u.ReadFrom(readBuf)
			return err
		}, net.ErrClosed},
		{"WriteTo from a closed UDP socket", func(f misuseFixture) error {
			u := f.udp()
			u.Close()
			_, err := u.WriteTo(readBuf, &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 9})
			return err
		}, net.ErrClosed},
		// socket control (issue 13): nil and zero receivers
		{"SyscallConn of a nil *TCPStream", func(f misuseFixture) error { _, err := (*TCPStream)(nil).SyscallConn(); return err }, ErrNilSource},
		{"SyscallConn of a zero TCPStream", func(f misuseFixture) error { _, err := (&TCPStream{}).SyscallConn(); return err }, ErrNilSource},
		{"SyscallConn of a nil *TCPListener", func(f misuseFixture) error { _, err := (*TCPListener)(nil).SyscallConn(); return err }, ErrNilSource},
		{"SyscallConn of a nil *UDPSocket", func(f misuseFixture) error { _, err := (*UDPSocket)(nil).SyscallConn(); return err }, ErrNilSource},
		{"TakeError of a nil *TCPListener", func(f misuseFixture) error { return (*TCPListener)(nil).TakeError() }, ErrNilSource},
		{"TakeError of a zero UDPSocket", func(f misuseFixture) error { return (&UDPSocket{}).TakeError() }, ErrNilSource},
		{"SetKeepAlive on a nil *TCPStream", func(f misuseFixture) error { return (*TCPStream)(nil).SetKeepAlive(true) }, ErrNilSource},
		{"SetKeepAliveConfig on a zero TCPStream", func(f misuseFixture) error { return (&TCPStream{}).SetKeepAliveConfig(net.KeepAliveConfig{}) }, ErrNilSource},
		{"SetLinger on a nil *TCPStream", func(f misuseFixture) error { return (*TCPStream)(nil).SetLinger(1) }, ErrNilSource},
		{"SetReadBuffer on a nil *TCPStream", func(f misuseFixture) error { return (*TCPStream)(nil).SetReadBuffer(1) }, ErrNilSource},
		{"SetWriteBuffer on a zero TCPStream", func(f misuseFixture) error { return (&TCPStream{}).SetWriteBuffer(1) }, ErrNilSource},
		{"SetReadBuffer on a nil *UDPSocket", func(f misuseFixture) error { return (*UDPSocket)(nil).SetReadBuffer(1) }, ErrNilSource},
		{"SetWriteBuffer on a zero UDPSocket", func(f misuseFixture) error { return (&UDPSocket{}).SetWriteBuffer(1) }, ErrNilSource},
		{"NoDelay of a nil *TCPStream", func(f misuseFixture) error { _, err := (*TCPStream)(nil).NoDelay(); return err }, ErrNilSource},
		{"CloseRead a nil *TCPStream", func(f misuseFixture) error { return (*TCPStream)(nil).CloseRead() }, ErrNilSource},
		{"Peek on a zero TCPStream", func(f misuseFixture) error { _, err := (&TCPStream{}).Peek(readBuf); return err }, ErrNilSource},
		{"Writev on a nil *TCPStream", func(f misuseFixture) error { _, err := (*TCPStream)(nil).Writev([][]byte{readBuf}); return err }, ErrNilSource},
		{"TCPStreamFrom nil", func(f misuseFixture) error { _, err := TCPStreamFrom(nil); return err }, ErrNilSource},
		{"TCPStreamFrom a nil *net.TCPConn", func(f misuseFixture) error { _, err := TCPStreamFrom((*net.TCPConn)(nil)); return err }, ErrNilSource},
		{"TCPListenerFrom a nil *net.TCPListener", func(f misuseFixture) error { _, err := TCPListenerFrom((*net.TCPListener)(nil)); return err }, ErrNilSource},
		{"UDPSocketFrom a nil *UDPSocket", func(f misuseFixture) error { _, err := UDPSocketFrom((*UDPSocket)(nil)); return err }, ErrNilSource},
		// socket control: closed sockets
		{"SyscallConn of a closed stream", func(f misuseFixture) error { _, err := f.closedStream().SyscallConn(); return err }, net.ErrClosed},
		{"RawConn Control after Close", func(f misuseFixture) error {
			s := f.stream()
			raw, err := s.SyscallConn()
			if err != nil {
				return err
			}
			s.Close()
			return raw.Control(func(uintptr) {})
		}, net.ErrClosed},
		{"RawConn Read after Close", func(f misuseFixture) error {
			u := f.udp()
			raw, err := u.SyscallConn()
			if err != nil {
				return err
			}
			u.Close()
			return raw.Read(func(uintptr) bool { return true })
		}, net.ErrClosed},
		{"TakeError of a closed listener", func(f misuseFixture) error { ln := f.listener(); ln.Close(); return ln.TakeError() }, net.ErrClosed},
		{"SyscallConn of a closed listener", func(f misuseFixture) error { ln := f.listener(); ln.Close(); _, err := ln.SyscallConn(); return err }, net.ErrClosed},
		{"TakeError of a closed UDP socket", func(f misuseFixture) error { u := f.udp(); u.Close(); return u.TakeError() }, net.ErrClosed},
		{"SetReadBuffer on a closed UDP socket", func(f misuseFixture) error { u := f.udp(); u.Close(); return u.SetReadBuffer(1 << 16) }, net.ErrClosed},
		{"SetKeepAlive on a closed stream", func(f misuseFixture) error { return f.closedStream().SetKeepAlive(true) }, net.ErrClosed},
		{"SetKeepAliveConfig on a closed stream", func(f misuseFixture) error {
			return f.closedStream().SetKeepAliveConfig(net.KeepAliveConfig{Enable: true})
		}, net.ErrClosed},
		{"SetLinger on a closed stream", func(f misuseFixture) error { return f.closedStream().SetLinger(0) }, net.ErrClosed},
		{"SetWriteBuffer on a closed stream", func(f misuseFixture) error { return f.closedStream().SetWriteBuffer(1 << 16) }, net.ErrClosed},
		{"NoDelay of a closed stream", func(f misuseFixture) error { _, err := f.closedStream().NoDelay(); return err }, net.ErrClosed},
		{"CloseRead a closed stream", func(f misuseFixture) error { return f.closedStream().CloseRead() }, net.ErrClosed},
		{"Peek a closed stream", func(f misuseFixture) error { _, err := f.closedStream().Peek(readBuf); return err }, net.ErrClosed},
		{"Writev a closed stream", func(f misuseFixture) error { _, err := f.closedStream().Writev([][]byte{readBuf}); return err }, net.ErrClosed},
		{"TCPStreamFrom a closed stream of ours", func(f misuseFixture) error { _, err := TCPStreamFrom(f.closedStream()); return err }, net.ErrClosed},
		{"TCPStreamFrom a closed net.TCPConn", func(f misuseFixture) error {
			ln := f.listener()
			c, err := net.Dial("tcp4", ln.Addr().String())
			if err != nil {
				return err
			}
			c.Close()
			_, err = TCPStreamFrom(c.(*net.TCPConn))
			return err
		}, net.ErrClosed},
		// socket control: bad arguments
		{"RawConn Control with a nil function", func(f misuseFixture) error {
			raw, err := f.stream().SyscallConn()
			if err != nil {
				return err
			}
			return raw.Control(nil)
		}, ErrInvalidArgument},
		{"RawConn Write with a nil function", func(f misuseFixture) error {
			raw, err := f.listener().SyscallConn()
			if err != nil {
				return err
			}
			return raw.Write(nil)
		}, ErrInvalidArgument},
		{"SetLinger(65536)", func(f misuseFixture) error { return f.stream().SetLinger(65536) }, ErrInvalidArgument},
		{"SetReadBuffer(-1)", func(f misuseFixture) error { return f.stream().SetReadBuffer(-1) }, ErrInvalidArgument},
		{"SetWriteBuffer(-1) on UDP", func(f misuseFixture) error { return f.udp().SetWriteBuffer(-1) }, ErrInvalidArgument},
		{"Writev of nil buffers writes nothing", func(f misuseFixture) error {
			if n, err := f.stream().Writev(nil); n != 0 || err != nil {
				return fmt.Errorf("Writev(nil) = %d, %v", n, err)
			}
			return nil
		}, nil},
		{"Peek into an empty buffer", func(f misuseFixture) error {
			// (ENOTCONN: the overlapped engine's stream, never registered, never connects.)
			_, err := f.stream().Peek(nil)
			if err != nil && !errors.Is(err, ErrWouldBlock) && !errors.Is(err, syscall.ENOTCONN) {
				return err
			}
			return nil
		}, nil},
		{"ListenConfig with a negative Backlog", func(f misuseFixture) error {
			_, err := (&ListenConfig{Backlog: -1}).ListenTCP("tcp4", "127.0.0.1:0")
			return err
		}, ErrInvalidArgument},
		{"ListenConfig.ListenTCP of udp", func(f misuseFixture) error { _, err := (&ListenConfig{}).ListenTCP("udp", "127.0.0.1:0"); return err }, ErrInvalidAddress},
		{"ListenConfig.ListenUDP of tcp", func(f misuseFixture) error { _, err := (&ListenConfig{}).ListenUDP("tcp", "127.0.0.1:0"); return err }, ErrInvalidAddress},
		{"ListenConfig.ListenTCP with a bad port", func(f misuseFixture) error {
			_, err := (&ListenConfig{}).ListenTCP("tcp4", "127.0.0.1:99999")
			return err
		}, ErrInvalidAddress},
		{"a nil *ListenConfig is the zero one", func(f misuseFixture) error {
			ln, err := (*ListenConfig)(nil).ListenTCP("tcp4", "127.0.0.1:0")
			if err == nil {
				ln.Close()
			}
			return err
		}, nil},
		{"Dialer.DialTCP of udp", func(f misuseFixture) error { _, err := (&Dialer{}).DialTCP("udp", "127.0.0.1:1"); return err }, ErrInvalidAddress},
		{"Dialer with a UDP LocalAddr", func(f misuseFixture) error {
			_, err := (&Dialer{LocalAddr: &net.UDPAddr{}}).DialTCP("tcp4", f.listener().Addr().String())
			return err
		}, ErrInvalidAddress},
		{"a nil *Dialer is the zero one", func(f misuseFixture) error {
			s, err := (*Dialer)(nil).DialTCP("tcp4", f.listener().Addr().String())
			if err == nil {
				s.Close()
			}
			return err
		}, nil},
		{"TCPListenerFrom a stream", func(f misuseFixture) error { _, err := TCPListenerFrom(f.stream()); return err }, ErrInvalidAddress},
		{"UDPSocketFrom a listener", func(f misuseFixture) error { _, err := UDPSocketFrom(f.listener()); return err }, ErrInvalidAddress},
		// registration state
		{"Register twice", func(f misuseFixture) error {
			p, s := f.registered()
			return p.Registry().Register(s, 1, Readable)
		}, ErrAlreadyRegistered},
		{"Register twice with another token and interest", func(f misuseFixture) error {
			p, s := f.registered()
			return p.Registry().Register(s, 2, Writable)
		}, ErrAlreadyRegistered},
		{"Reregister an unknown source", func(f misuseFixture) error { return f.poll().Registry().Reregister(f.stream(), 1, Readable) }, ErrNotRegistered},
		{"Deregister an unknown source", func(f misuseFixture) error { return f.poll().Registry().Deregister(f.stream()) }, ErrNotRegistered},
		{"Deregister twice", func(f misuseFixture) error {
			p, s := f.registered()
			if err := p.Registry().Deregister(s); err != nil {
				return err
			}
			return p.Registry().Deregister(s)
		}, ErrNotRegistered},
		{"Reregister after Deregister", func(f misuseFixture) error {
			p, s := f.registered()
			if err := p.Registry().Deregister(s); err != nil {
				return err
			}
			return p.Registry().Reregister(s, 1, Readable)
		}, ErrNotRegistered},
		{"Register a source registered with another Poll", func(f misuseFixture) error {
			_, s := f.registered()
			return f.poll().Registry().Register(s, 1, Readable)
		}, ErrRegisteredElsewhere},
		{"Reregister through another Poll", func(f misuseFixture) error {
			_, s := f.registered()
			return f.poll().Registry().Reregister(s, 1, Writable)
		}, ErrRegisteredElsewhere},
		{"Deregister through another Poll", func(f misuseFixture) error {
			_, s := f.registered()
			return f.poll().Registry().Deregister(s)
		}, ErrRegisteredElsewhere},
		// interest
		{"Register with Interest 0", func(f misuseFixture) error { return f.poll().Registry().Register(f.stream(), 1, 0) }, ErrInvalidInterest},
		{"Register with an unknown Interest bit", func(f misuseFixture) error { return f.poll().Registry().Register(f.stream(), 1, 4) }, ErrInvalidInterest},
		{"Register with Readable and an unknown bit", func(f misuseFixture) error {
			return f.poll().Registry().Register(f.stream(), 1, Readable|0x80)
		}, ErrInvalidInterest},
		{"Register with every Interest bit", func(f misuseFixture) error { return f.poll().Registry().Register(f.stream(), 1, 0xFF) }, ErrInvalidInterest},
		{"Reregister with Interest 0", func(f misuseFixture) error {
			p, s := f.registered()
			return p.Registry().Reregister(s, 1, 0)
		}, ErrInvalidInterest},
		{"Reregister with an unknown Interest bit", func(f misuseFixture) error {
			p, s := f.registered()
			return p.Registry().Reregister(s, 1, Writable|0x10)
		}, ErrInvalidInterest},
		// use after shutdown, concurrency
		{"Write after CloseWrite", func(f misuseFixture) error {
			s := f.stream()
			if err := s.CloseWrite(); err != nil {
				return err
			}
			_, err := s.Write([]byte("late"))
			return err
		}, errWriteShutdown},
		{"A second concurrent Wait", func(f misuseFixture) error {
			p := f.poll()
			w, _ := NewWaker(p.Registry(), 1)
			done := make(chan error, 1)
			go func() { done <- p.Wait(NewEvents(1), -1) }()
			waitBlocked(p)
			err := p.Wait(NewEvents(1), 0)
			w.Wake()
			if e := <-done; e != nil {
				return e
			}
			return err
		}, ErrConcurrentWait},
		// addresses
		{"ListenTCP on a udp network", func(f misuseFixture) error { _, err := ListenTCP("udp", "127.0.0.1:0"); return err }, ErrInvalidAddress},
		{"DialTCP on a unix network", func(f misuseFixture) error { _, err := DialTCP("unix", "/tmp/x"); return err }, ErrInvalidAddress},
		{"ListenUDP on a tcp network", func(f misuseFixture) error { _, err := ListenUDP("tcp4", "127.0.0.1:0"); return err }, ErrInvalidAddress},
		{"ListenTCP tcp4 with an IPv6 address", func(f misuseFixture) error { _, err := ListenTCP("tcp4", "[::1]:0"); return err }, ErrInvalidAddress},
		{"WriteTo a TCP address", func(f misuseFixture) error { _, err := f.udp().WriteTo(readBuf, &net.TCPAddr{}); return err }, ErrInvalidAddress},
		{"WriteTo a nil address", func(f misuseFixture) error { _, err := f.udp().WriteTo(readBuf, nil); return err }, ErrInvalidAddress},
		{"WriteTo port 65536", func(f misuseFixture) error { return writeToPort(f, 65536) }, ErrInvalidAddress},
		{"WriteTo port 65536+9", func(f misuseFixture) error { return writeToPort(f, 65536+9) }, ErrInvalidAddress},
		{"WriteTo port -5", func(f misuseFixture) error { return writeToPort(f, -5) }, ErrInvalidAddress},
		{"WriteTo port MaxInt", func(f misuseFixture) error { return writeToPort(f, math.MaxInt) }, ErrInvalidAddress},
		{"WriteTo an IPv6 socket at port 65536", func(f misuseFixture) error {
			u, err := ListenUDP("udp6", "[::1]:0")
			if err != nil {
				return err
			}
			defer u.Close()
			_, err = u.WriteTo(readBuf, &net.UDPAddr{IP: net.IPv6loopback, Port: 65536})
			return err
		}, ErrInvalidAddress},
		{"ListenTCP on a port in use", func(f misuseFixture) error {
			_, err := ListenTCP("tcp4", f.listener().Addr().String())
			return err
		}, syscall.EADDRINUSE},
		// timeouts: documented behaviour, not errors
		{"Wait with timeout -1 waits for the wake", func(f misuseFixture) error { return waitWoken(f, -1) }, nil},
		{"Wait with timeout MinInt64 waits for the wake", func(f misuseFixture) error { return waitWoken(f, math.MinInt64) }, nil},
		{"Wait with timeout MaxInt64 waits for the wake", func(f misuseFixture) error { return waitWoken(f, math.MaxInt64) }, nil},
		{"Wait with timeout 1<<62 waits for the wake", func(f misuseFixture) error { return waitWoken(f, 1<<62) }, nil},
	}
	for _, c := range udpMisuseCases {
		cases = append(cases, misuse(c))
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var err error
			func() {
				defer func() {
					if v := recover(); v != nil {
						t.Fatalf("panic: %v", v)
					}
				}()
				err = c.run(misuseFixture{t})
			}()
			if c.want == nil {
				if err != nil {
					t.Fatalf("got %v, want success", err)
				}
				return
			}
			if !errors.Is(err, c.want) {
				t.Fatalf("got %v, want an error matching %v", err, c.want)
			}
		})
	}
	t.Logf("%d misuse cases", len(cases))
}

// ---- Load ----

// echoServer is a one-goroutine poller echo loop: it accepts until
// ErrWouldBlock, echoes every byte back, keeps what a Write did not take
// and stops reading a connection until it is written, and closes a
// connection once its peer has finished and everything is echoed.
type echoServer struct {
	p     *Poll
	ln    *TCPListener
	stop  *Waker
	conns map[Token]*echoConn
	next  Token
	buf   []byte

	accepted, closed, peak int
	bytes                  int64
}

type echoConn struct {
	s   *TCPStream
	out []byte // read, not yet echoed
}

const (
	echoListener Token = 0
	echoStop     Token = 1
)

func newEchoServer(t testing.TB) *echoServer {
	t.Helper()
	p := newPoll(t)
	ln, err := ListenTCP("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	if err := p.Registry().Register(ln, echoListener, Readable); err != nil {
		t.Fatal(err)
	}
	stop, err := NewWaker(p.Registry(), echoStop)
	if err != nil {
		t.Fatal(err)
	}
	return &echoServer{p: p, ln: ln, stop: stop, conns: map[Token]*echoConn{}, next: 2, buf: make([]byte, 64<<10)}
}

// run serves until the stop Waker fires; it returns the first error. Either
// way it closes every connection, so that clients never wait for ever.
func (e *echoServer) run() error {
	defer func() {
		for _, c := range e.conns {
			c.s.Close()
		}
	}()
	events := NewEvents(1024)
	for {
		if err := e.p.Wait(events, -1); err != nil {
			return err
		}
		for ev := range events.All() {
			switch ev.Token() {
			case echoStop:
				return nil
			case echoListener:
				if err := e.accept(); err != nil {
					return err
				}
			default:
				c := e.conns[ev.Token()]
				if c == nil {
					return fmt.Errorf("event %v for no connection", ev)
				}
				if err := e.serve(ev.Token(), c); err != nil {
					return fmt.Errorf("connection %d: %w", ev.Token(), err)
				}
			}
		}
	}
}

func (e *echoServer) accept() error {
	for {
		s, _, err := e.ln.Accept()
		if errors.Is(err, ErrWouldBlock) {
			return nil
		}
		if err != nil {
			return err
		}
		tok := e.next
		e.next++
		e.conns[tok] = &echoConn{s: s}
		if err := e.p.Registry().Register(s, tok, Readable|Writable); err != nil {
			return err
		}
		e.accepted++
		if open := e.accepted - e.closed; open > e.peak {
			e.peak = open
		}
	}
}

// serve flushes what is pending, then reads until ErrWouldBlock (or until
// a Write would block: the Writable event resumes it).
func (e *echoServer) serve(tok Token, c *echoConn) error {
	for {
		if len(c.out) > 0 {
			n, err := c.s.Write(c.out)
			e.bytes += int64(n)
			c.out = c.out[n:]
			if errors.Is(err, ErrWouldBlock) {
				return nil
			}
			if err != nil {
				return err
			}
			c.out = nil
		}
		n, err := c.s.Read(e.buf)
		if n > 0 {
			w, werr := c.s.Write(e.buf[:n])
			e.bytes += int64(w)
			if w < n {
				c.out = append([]byte(nil), e.buf[w:n]...)
			}
			if werr != nil && !errors.Is(werr, ErrWouldBlock) {
				return werr
			}
		}
		switch {
		case err == io.EOF:
			if len(c.out) > 0 {
				return fmt.Errorf("EOF with %d bytes not echoed", len(c.out))
			}
			delete(e.conns, tok)
			e.closed++
			return c.s.Close() // all echoed: the FIN follows the data
		case errors.Is(err, ErrWouldBlock):
			return nil
		case err != nil:
			return err
		}
	}
}

// loadResult is what the client side of a load test found.
type loadResult struct {
	Conns    int
	Bytes    int64 // echoed bytes received
	Failed   int
	Errs     []string // the first few failures
	Connect  time.Duration
	Transfer time.Duration
}

// loadWindow bounds how far a client's writes may run ahead of the echo it
// has read. Without it the echo piles up in the server's send buffers (Linux
// grows them up to tcp_wmem's 4 MB each) and 10,000 connections exhaust the
// kernel's TCP memory (tcp_mem): the kernel then stalls sockets, which looks
// like lost events on both sides.
const loadWindow = 64 << 10

// loadClients opens conns connections to addr with package net, all of them
// before any sends, then each sends perConn bytes in random-sized writes (1
// byte to 16 KiB) while reading the echo, at most loadWindow ahead of it,
// and checks length and CRC-32 of what came back.
func loadClients(addr string, conns, perConn int) loadResult {
	// One random buffer; connection i sends perConn bytes of it from its own
	// offset, so bytes crossing between connections would be caught.
	data := make([]byte, 2*perConn+65536)
	rand.New(rand.NewSource(1)).Read(data)
	offset := func(i int) int { return (i * 7919) % (perConn + 65536) }

	res := loadResult{Conns: conns}
	var mu sync.Mutex
	fail := func(err error) {
		mu.Lock()
		defer mu.Unlock()
		res.Failed++
		if len(res.Errs) < 10 {
			res.Errs = append(res.Errs, err.Error())
		}
	}
	var total atomic.Int64
	start := time.Now()
	var connected, wg sync.WaitGroup
	connected.Add(conns)
	begin := make(chan struct{})
	dialSlots := make(chan struct{}, 64)
	for i := 0; i < conns; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			dialSlots <- struct{}{}
			c, err := net.Dial("tcp4", addr)
			<-dialSlots
			connected.Done()
			if err != nil {
				fail(fmt.Errorf("conn %d: dial: %w", i, err))
				return
			}
			defer c.Close()
			<-begin
			want := data[offset(i) : offset(i)+perConn]
			var echoed atomic.Int64
			progress := make(chan struct{}, 1)
			readDone := make(chan struct{})
			wrote := make(chan error, 1)
			go func() {
				rng := rand.New(rand.NewSource(int64(i)))
				sent := 0
				for sent < len(want) {
					n := min(1+rng.Intn(16<<10), len(want)-sent)
					for int64(sent+n)-echoed.Load() > loadWindow {
						select {
						case <-progress:
						case <-readDone:
							wrote <- fmt.Errorf("echo ended after %d of %d bytes sent", sent, len(want))
							return
						}
					}
					if _, err := c.Write(want[sent : sent+n]); err != nil {
						wrote <- err
						return
					}
					sent += n
				}
				wrote <- c.(*net.TCPConn).CloseWrite()
			}()
			crc := crc32.NewIEEE()
			buf := make([]byte, 16<<10)
			var n int64
			for {
				m, rerr := c.Read(buf)
				crc.Write(buf[:m])
				n += int64(m)
				echoed.Store(n)
				select {
				case progress <- struct{}{}:
				default:
				}
				if rerr == io.EOF {
					break
				}
				if rerr != nil {
					err = rerr
					break
				}
			}
			close(readDone)
			if werr := <-wrote; werr != nil && err == nil {
				err = werr
			}
			total.Add(n)
			switch {
			case err != nil:
				err = fmt.Errorf("conn %d: %w", i, err)
			case n != int64(perConn):
				err = fmt.Errorf("conn %d: echoed %d bytes, sent %d", i, n, perConn)
			case crc.Sum32() != crc32.ChecksumIEEE(want):
				err = fmt.Errorf("conn %d: echo differs from what was sent (CRC-32)", i)
			}
			if err != nil {
				fail(err)
			}
		}()
	}
	connected.Wait()
	res.Connect = time.Since(start)
	close(begin)
	wg.Wait()
	res.Transfer = time.Since(start) - res.Connect
	res.Bytes = total.Load()
	return res
}

// The client side can run in a child process (the test binary again), so
// that each process holds one end of every connection: at 10,000
// connections both ends in one process need more descriptors than a hard
// limit of 20,000 allows, and raising the hard limit needs privileges.
const (
	loadChildEnv   = "POLLER_LOAD_CHILD" // "addr conns perConn"
	loadChildProto = "LOAD-PROTO "
)

// loadClientsChild runs loadClients in a child process.
func loadClientsChild(t *testing.T, addr string, conns, perConn int) loadResult {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestLoadEcho$", "-test.v", "-test.count=1", "-test.timeout=30m")
	cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%s %d %d", loadChildEnv, addr, conns, perConn))
	out, err := cmd.CombinedOutput()
	var res loadResult
	found := false
	for _, line := range strings.Split(string(out), "\n") {
		if i := strings.Index(line, loadChildProto); i >= 0 {
			if err := json.Unmarshal([]byte(line[i+len(loadChildProto):]), &res); err != nil {
				t.Fatalf("child result %q: %v", line, err)
			}
			found = true
		}
	}
	if err != nil || !found {
		t.Fatalf("client process: %v\n%s", err, out)
	}
	return res
}

// runLoadChild is the child's side of loadClientsChild.
func runLoadChild(t *testing.T, spec string) {
	var addr string
	var conns, perConn int
	if _, err := fmt.Sscanf(spec, "%s %d %d", &addr, &conns, &perConn); err != nil {
		t.Fatalf("%s=%q: %v", loadChildEnv, spec, err)
	}
	if err := raiseOpenFiles(conns + 256); err != nil {
		t.Fatal(err)
	}
	res := loadClients(addr, conns, perConn)
	b, _ := json.Marshal(res)
	fmt.Printf("%s%s\n", loadChildProto, b)
}

// loadEcho serves conns connections of perConn bytes each with the poller
// echo loop, the clients in this process or, if asked or if the descriptor
// limit is too low for both ends, in a child process; it checks every byte
// and returns the server and the clients' result.
func loadEcho(t *testing.T, conns, perConn int, child bool) (*echoServer, loadResult) {
	if !child && raiseOpenFiles(2*conns+256) != nil {
		child = true
	}
	if child {
		if err := raiseOpenFiles(conns + 256); err != nil {
			t.Fatal(err)
		}
	}
	checkLeaks(t)
	e := newEchoServer(t)
	served := make(chan error, 1)
	go func() { served <- e.run() }()
	clients := make(chan loadResult, 1)
	go func() {
		if child {
			clients <- loadClientsChild(t, e.ln.Addr().String(), conns, perConn)
		} else {
			clients <- loadClients(e.ln.Addr().String(), conns, perConn)
		}
	}()
	var res loadResult
	select {
	case res = <-clients:
		e.stop.Wake()
		if err := <-served; err != nil {
			t.Fatalf("echo loop: %v", err)
		}
	case err := <-served:
		<-clients // the loop closed every connection: the clients end
		t.Fatalf("echo loop ended before the clients: %v", err)
	}
	for _, err := range res.Errs {
		t.Error(err)
	}
	if res.Failed > 0 {
		t.Fatalf("%d of %d connections failed", res.Failed, conns)
	}
	want := int64(conns) * int64(perConn)
	if res.Bytes != want || e.bytes != want {
		t.Fatalf("echoed %d bytes (server wrote %d), want %d", res.Bytes, e.bytes, want)
	}
	if e.accepted != conns || e.closed != conns {
		t.Fatalf("server accepted %d and closed %d connections, want %d", e.accepted, e.closed, conns)
	}
	where := "in this process"
	if child {
		where = "in a child process"
	}
	stressLog(t, "load: %d connections (peak %d open at once, clients %s), %d bytes each way (%d per connection), 0 lost or corrupted; connect %v, transfer %v",
		conns, e.peak, where, want, perConn, res.Connect.Round(time.Millisecond), res.Transfer.Round(time.Millisecond))
	return e, res
}

// TestLoadEcho: many concurrent connections, all open at once, each sending
// a stream of random-sized writes to the poller echo loop and checking the
// echo byte for byte (length and CRC-32).
func TestLoadEcho(t *testing.T) {
	if spec := os.Getenv(loadChildEnv); spec != "" {
		runLoadChild(t, spec)
		return
	}
	conns, perConn := size(200, 100, 10000, 500), size(256<<10, 256<<10, 1<<20, 1<<20)
	// For investigations: POLLER_LOAD="connections bytes-per-connection".
	if v := os.Getenv("POLLER_LOAD"); v != "" {
		if _, err := fmt.Sscanf(v, "%d %d", &conns, &perConn); err != nil {
			t.Fatalf("POLLER_LOAD=%q: %v", v, err)
		}
	}
	loadEcho(t, conns, perConn, false)
}

// TestLoadEchoClientProcess runs a small load with the clients in a child
// process, the way the full-size load runs where descriptors are short.
func TestLoadEchoClientProcess(t *testing.T) {
	loadEcho(t, size(50, 20, 50, 20), 64<<10, true)
}

// ---- Soak ----

// heapInUse is the live heap after a collection.
func heapInUse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// heapSlack is how much the live heap may grow over a whole soak: a leak of
// even a few bytes per cycle would exceed it at full size.
const heapSlack = 1 << 20

func TestSoakWakeWait(t *testing.T) {
	cycles := size(20000, 20000, 1000000, 1000000)
	checkLeaks(t)
	p := newPoll(t)
	w, err := NewWaker(p.Registry(), 77)
	if err != nil {
		t.Fatal(err)
	}
	events := NewEvents(4)
	cycle := func(i int) {
		if err := w.Wake(); err != nil {
			t.Fatalf("cycle %d: Wake: %v", i, err)
		}
		if err := p.Wait(events, eventTimeout); err != nil {
			t.Fatalf("cycle %d: Wait: %v", i, err)
		}
		if events.Len() != 1 || events.At(0).Token() != 77 {
			t.Fatalf("cycle %d: %d events, want the wake", i, events.Len())
		}
	}
	warm := cycles / 10
	for i := 0; i < warm; i++ {
		cycle(i)
	}
	heap0, snap0 := heapInUse(), takeLeakSnapshot(t)
	var ms0, ms1 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	start := time.Now()
	for i := warm; i < cycles; i++ {
		cycle(i)
	}
	elapsed := time.Since(start)
	runtime.ReadMemStats(&ms1)
	heap1, snap1 := heapInUse(), takeLeakSnapshot(t)
	handles0, handles1 := snap0.handles, snap1.handles
	if heap1 > heap0+heapSlack {
		t.Errorf("live heap grew from %d to %d bytes over %d cycles", heap0, heap1, cycles-warm)
	}
	if handles1 > handles0+handleSlack(snap0, snap1) {
		t.Errorf("%s went from %d to %d over %d cycles", handleKind, handles0, handles1, cycles-warm)
	}
	if err := p.Wait(events, 0); err != nil || events.Len() != 0 {
		t.Fatalf("after the soak: %d events, %v", events.Len(), err)
	}
	stressLog(t, "soak: %d Wake/Wait cycles in %v, live heap %d -> %d bytes, %.3f allocations per cycle, %s %d -> %d",
		cycles, elapsed.Round(time.Millisecond), heap0, heap1,
		float64(ms1.Mallocs-ms0.Mallocs)/float64(cycles-warm), handleKind, handles0, handles1)
}

func TestSoakRegisterDeregister(t *testing.T) {
	cycles := size(5000, 5000, 100000, 100000)
	checkLeaks(t)
	p := newPoll(t)
	r := p.Registry()
	const k = 8
	streams := make([]*TCPStream, k)
	peers := make([]net.Conn, k)
	for i := range streams {
		streams[i], peers[i] = streamPair(t)
	}
	events := NewEvents(64)
	cycle := func(i int) {
		s := streams[i%k]
		tok := Token(i)
		if err := r.Register(s, tok, Readable|Writable); err != nil {
			t.Fatalf("cycle %d: Register: %v", i, err)
		}
		if i%7 == 0 {
			if err := r.Reregister(s, tok, Readable); err != nil {
				t.Fatalf("cycle %d: Reregister: %v", i, err)
			}
		}
		if i%16 == 0 {
			// Let queued events and cancelled polls come in.
			if err := p.Wait(events, 0); err != nil {
				t.Fatalf("cycle %d: Wait: %v", i, err)
			}
			for ev := range events.All() {
				if ev.Token() != tok {
					t.Fatalf("cycle %d: event %v of a deregistered source", i, ev)
				}
			}
		}
		if err := r.Deregister(s); err != nil {
			t.Fatalf("cycle %d: Deregister: %v", i, err)
		}
	}
	settle := func() {
		for j := 0; j < 4; j++ {
			if err := p.Wait(events, 10*time.Millisecond); err != nil {
				t.Fatal(err)
			}
			if events.Len() != 0 {
				t.Fatalf("event %v with nothing registered", events.At(0))
			}
		}
	}
	warm := cycles / 10
	for i := 0; i < warm; i++ {
		cycle(i)
	}
	settle()
	heap0, snap0 := heapInUse(), takeLeakSnapshot(t)
	start := time.Now()
	for i := warm; i < cycles; i++ {
		cycle(i)
	}
	elapsed := time.Since(start)
	settle()
	heap1, snap1 := heapInUse(), takeLeakSnapshot(t)
	handles0, handles1, allocs0, allocs1 := snap0.handles, snap1.handles, snap0.allocs, snap1.allocs
	if heap1 > heap0+heapSlack {
		t.Errorf("live heap grew from %d to %d bytes over %d cycles", heap0, heap1, cycles-warm)
	}
	if handles1 > handles0+handleSlack(snap0, snap1) {
		t.Errorf("%s went from %d to %d over %d cycles", handleKind, handles0, handles1, cycles-warm)
	}
	if allocs1 != allocs0 {
		t.Errorf("core allocations went from %d to %d over %d cycles", allocs0, allocs1, cycles-warm)
	}
	stressLog(t, "soak: %d register/deregister cycles in %v, live heap %d -> %d bytes, %s %d -> %d, core allocations %d -> %d",
		cycles, elapsed.Round(time.Millisecond), heap0, heap1, handleKind, handles0, handles1, allocs0, allocs1)
}
