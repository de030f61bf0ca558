//go:build windows && cgo

package poller

// Tests of the overlapped engine (iocp_ovl.c, poller_ovl_windows.go) through the
// public API: the automatic fallback, its documented differences from AFD,
// writes through the C send buffer, both skip-on-success modes, leaks; and
// the measurements behind BENCHMARKS.md's engines section.

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"testing"
	"time"
)

const wsaEOpNotSupp = syscall.Errno(10045)

// withOverlapped makes the Polls and dials of the test use the overlapped
// engine (with the C core, whichever core the run's other tests use).
func withOverlapped(t testing.TB) {
	t.Helper()
	oldCore, oldForce := newCore, forceOverlapped.Swap(true)
	newCore = newCCore
	t.Cleanup(func() {
		forceOverlapped.Store(oldForce)
		newCore = oldCore
	})
}

func init() {
	figureCounters = &struct {
		liveBytes func() int64
		syscalls  func() uint64
	}{cLiveBytes, cSyscalls}
}

// withSwitches sets the C core's test switches for the test.
func withSwitches(t testing.TB, failBaseQuery syscall.Errno, skipMode int) {
	t.Helper()
	setTestSwitches(failBaseQuery, skipMode)
	t.Cleanup(func() { setTestSwitches(0, -1) })
}

// ForEachSkipMode runs f as two subtests, skip-on-success off and on, when
// the overlapped engine is forced (POLLER_WINDOWS_ENGINE=overlapped or
// withOverlapped); otherwise once. Exported for example_test.go.
func ForEachSkipMode(t *testing.T, f func(t *testing.T)) {
	t.Helper()
	if !overlappedForced() {
		f(t)
		return
	}
	for _, mode := range []int{0, 1} {
		name := map[int]string{0: "skip=off", 1: "skip=on"}[mode]
		t.Run(name, func(t *testing.T) {
			withSwitches(t, 0, mode)
			f(t)
		})
	}
}

// pattern is the byte stream the write tests send: byte i is i mod 251.
func pattern(off int64, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte((off + int64(i)) % 251)
	}
	return b
}

// fillPattern writes the pattern on from *sent until Write would block (a
// send stays in flight), advancing *sent and copying what s took to tee.
func fillPattern(t testing.TB, s *TCPStream, sent *int64, tee io.Writer) {
	t.Helper()
	for {
		b := pattern(*sent, 100_000)
		n, err := s.Write(b)
		tee.Write(b[:n])
		*sent += int64(n)
		if errors.Is(err, ErrWouldBlock) {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		if *sent > 256<<20 {
			t.Fatal("the send path never filled")
		}
	}
}

// readPattern reads n bytes of pattern from off and reports a mismatch.
func readPattern(peer io.Reader, off, n int64) error {
	buf := make([]byte, 64<<10)
	for n > 0 {
		k := int64(len(buf))
		if k > n {
			k = n
		}
		if _, err := io.ReadFull(peer, buf[:k]); err != nil {
			return err
		}
		if !bytes.Equal(buf[:k], pattern(off, int(k))) {
			return fmt.Errorf("bytes at %d differ", off)
		}
		off += k
		n -= k
	}
	return nil
}

// Writes go through the C send buffer: while a send is in flight Write takes
// nothing; its completion is Writable; every accepted byte arrives, in
// order, also when the registration is dropped with a send in flight.
func TestOverlappedWriteNothingLost(t *testing.T) {
	withOverlapped(t)
	f := newFixture(t)
	p := f.p
	s, peer, tok := f.writableStream()

	var sent int64
	fill := func() { fillPattern(t, s, &sent, io.Discard) }
	fill()
	if n, err := s.Write([]byte("more")); n != 0 || !errors.Is(err, ErrWouldBlock) {
		t.Fatalf("Write with a send in flight = %d, %v, want 0, ErrWouldBlock", n, err)
	}
	read := make(chan error, 1)
	go func(n int64) { read <- readPattern(peer, 0, n) }(sent)
	f.wait(tok, writable)
	if err := <-read; err != nil {
		t.Fatalf("peer: %v", err)
	}

	// Again, then Deregister with the send in flight: it still finishes.
	first := sent
	fill()
	if err := p.Registry().Deregister(s); err != nil {
		t.Fatal(err)
	}
	if err := readPattern(peer, first, sent-first); err != nil {
		t.Fatalf("peer after Deregister: %v", err)
	}
	t.Logf("%d bytes, all delivered", sent)
}

// Without skip-on-success (as where the provider has no IFS handles) every
// operation completes through its packet: no event twice, none lost, and a
// send stays in flight until its packet is dequeued.
func TestOverlappedSkipOff(t *testing.T) {
	withOverlapped(t)
	withSwitches(t, 0, 0)
	f := newFixture(t)
	p, events := f.p, f.events
	s, peer := streamPair(t)
	tok := f.register(s, Readable|Writable)
	if s.sock.sys.boundSkip.Load() {
		t.Fatal("skip-on-success set with the switch off")
	}
	awaitPeer(t, peer)
	f.wait(tok, writable)
	buf := make([]byte, 8)
	for round := 0; round < 5; round++ {
		peer.Write([]byte("ping"))
		f.wait(tok, readable)
		if got := f.drain(s); string(got) != "ping" {
			t.Fatalf("round %d: read %q", round, got)
		}
		f.writeAll(s, tok, []byte("pong"))
		if _, err := io.ReadFull(peer, buf[:4]); err != nil || string(buf[:4]) != "pong" {
			t.Fatalf("round %d: peer read %q, %v", round, buf[:4], err)
		}
	}

	// Data there before Register completes at once: one event only.
	s2, peer2 := streamPair(t)
	p2 := newPoll(t)
	go peer2.Write([]byte("early"))
	if err := p2.Registry().Register(s2, 7, Readable); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, p2, events, 7, readable)
	expectQuiet(t, p2, events, 7)
	if got := drain(t, s2); string(got) != "early" {
		t.Fatalf("read %q", got)
	}

	// Accept and UDP.
	ln, lnTok := f.listen()
	for i := 0; i < 3; i++ {
		c, err := net.Dial("tcp4", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
	}
	for accepted := 0; accepted < 3; {
		f.wait(lnTok, readable)
		for {
			a, _, err := ln.Accept()
			if errors.Is(err, ErrWouldBlock) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			a.Close()
			accepted++
		}
	}
	u1 := listenUDP(t)
	defer u1.Close()
	u2 := listenUDP(t)
	defer u2.Close()
	p.Registry().Register(u1, 3, Writable)
	p.Registry().Register(u2, 4, Readable)
	waitEvent(t, p, events, 3, writable)
	// One datagram at a time: each send is in flight until its packet is
	// dequeued, and that is u1's next Writable. Waiting for one token drops
	// the batch's others, so u2 is read first, then waited for.
	var got []byte
	for i := 0; i < 3; i++ {
		for {
			_, err := u1.WriteTo([]byte{'a' + byte(i)}, u2.LocalAddr())
			if err == nil {
				break
			}
			if !errors.Is(err, ErrWouldBlock) {
				t.Fatal(err)
			}
			waitEvent(t, p, events, 3, writable)
		}
	}
	for len(got) < 3 {
		n, _, err := u2.ReadFrom(buf)
		if errors.Is(err, ErrWouldBlock) {
			waitEvent(t, p, events, 4, readable)
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, buf[:n]...)
	}
	if string(got) != "abc" {
		t.Fatalf("datagrams %q, want abc in order", got)
	}
}

// Register, use and drop states every way, with listeners and UDP sockets:
// no C allocation and no handle (AcceptEx's pre-created sockets included)
// left behind.
func TestOverlappedNoLeaks(t *testing.T) {
	withOverlapped(t)
	ln := netListener(t)
	cycles := func(n int) {
		polls := cyclingPoll{t: t}
		for i := 0; i < n; i++ {
			p := polls.get()
			r := p.Registry()
			s, err := DialTCP("tcp4", ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			if err := r.Register(s, Token(i), Readable); err != nil {
				t.Fatal(err)
			}
			c, err := ln.Accept()
			if err != nil {
				t.Fatal(err)
			}
			switch i % 4 {
			case 0:
				r.Deregister(s)
			case 1:
				s.Write([]byte("x")) // a send, maybe still in flight
			}
			if i%10 == 0 {
				l, _ := ListenTCP("tcp4", "127.0.0.1:0")
				u, _ := ListenUDP("udp4", "127.0.0.1:0")
				r.Register(l, 1<<20, Readable) // an AcceptEx pending
				r.Register(u, 1<<21, Readable) // a WSARecvFrom pending
				if i%20 == 0 {
					l.Close()
					u.Close()
				} else {
					defer l.Close() // closed after their Poll
					defer u.Close()
				}
			}
			s.Close()
			c.Close()
			if i%25 == 24 {
				p.Wait(NewEvents(64), 0)
			}
			if i%50 == 49 {
				polls.close()
			}
		}
		polls.close()
	}
	cycles(50)
	base, baseBytes := takeLeakSnapshot(t), cLiveBytes()
	const n = 400
	cycles(n)
	checkCycleLeaks(t, base, n)
	if got := cLiveBytes(); got != baseBytes {
		t.Errorf("C bytes %d after %d cycles, baseline %d", got, n, baseBytes)
	}
}

// runLoop keeps Waiting on p in a goroutine until the returned stop is
// called; stop returns the loop's Wait error, if any.
func runLoop(p *Poll) (stop func() error) {
	quit := make(chan struct{})
	result := make(chan error, 1)
	go func() {
		ev := NewEvents(8)
		for {
			select {
			case <-quit:
				result <- nil
				return
			default:
			}
			if err := p.Wait(ev, 20*time.Millisecond); err != nil {
				result <- err
				return
			}
		}
	}()
	return func() error {
		close(quit)
		return <-result
	}
}

// The lingering close: Close with the engine's send in flight loses nothing.
// 4 MiB and more go through Writes and Writable waits (the peer reading only
// between rounds), the last Write leaving a send in flight with the peer
// paused; then Close at once, with or without a Wait blocked meanwhile (a
// deferred delete and handover). The event loop keeps waiting; the peer
// reads every byte, checksum compared, then EOF; C's allocations go back.
// Also: the Poll closed before the socket's last reference is gone: Go
// closes the handle itself.
func TestOverlappedCloseLosesNothing(t *testing.T) {
	for _, blocked := range []bool{false, true} {
		t.Run(fmt.Sprintf("waitBlocked=%v", blocked), func(t *testing.T) {
			withOverlapped(t)
			base := cLiveAllocs()
			f := newFixture(t)
			p := f.p
			s, peer, tok := f.writableStream()

			// The peer reads what it is asked for, then (on close of more)
			// the rest to EOF; its count and checksum come back.
			more := make(chan int64)
			type result struct {
				n   int64
				sum [32]byte
				err error
			}
			done := make(chan result, 1)
			go func() {
				h := sha256.New()
				var n int64
				for k := range more {
					m, err := io.CopyN(h, peer, k)
					n += m
					if err != nil {
						done <- result{n: n, err: err}
						return
					}
				}
				peer.SetReadDeadline(time.Now().Add(30 * time.Second))
				m, err := io.Copy(h, peer)
				n += m
				var r result
				r.n, r.err = n, err
				copy(r.sum[:], h.Sum(nil))
				done <- r
			}()

			want := sha256.New()
			var sent, asked int64
			fill := func() { fillPattern(t, s, &sent, want) } // until a send stays in flight
			for fill(); sent < 4<<20; fill() {
				more <- sent - asked // the peer drains; Writable follows
				asked = sent
				f.wait(tok, writable)
			}
			if n, err := s.Write([]byte("x")); n != 0 || !errors.Is(err, ErrWouldBlock) {
				t.Fatalf("Write with a send in flight = %d, %v, want 0, ErrWouldBlock", n, err)
			}

			// The event loop keeps running; with blocked, Close comes
			// while its Wait is blocked.
			stopLoop := runLoop(p)
			if blocked {
				waitBlocked(p)
			} else if err := stopLoop(); err != nil {
				t.Fatal(err)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			if !blocked { // the loop resumes after the Close
				stopLoop = runLoop(p)
			}
			close(more)
			r := <-done
			if err := stopLoop(); err != nil {
				t.Fatal(err)
			}
			if r.err != nil {
				t.Fatalf("peer after %d of %d bytes: %v", r.n, sent, r.err)
			}
			if r.n != sent || !bytes.Equal(r.sum[:], want.Sum(nil)) {
				t.Fatalf("peer got %d bytes (checksum equal: %v), want %d", r.n, bytes.Equal(r.sum[:], want.Sum(nil)), sent)
			}
			if err := p.Close(); err != nil {
				t.Fatal(err)
			}
			if got := cLiveAllocs(); got != base {
				t.Fatalf("C allocations %d, want %d", got, base)
			}
			t.Logf("%d bytes, all delivered, then EOF", sent)
		})
	}

	// The Poll closes while an operation still holds the closed socket:
	// its last release finds the Poll gone and closes the handle itself.
	t.Run("pollClosedFirst", func(t *testing.T) {
		withOverlapped(t)
		base := cLiveAllocs()
		p := newPoll(t)
		s, peer := streamPair(t)
		if err := p.Registry().Register(s, 1, Writable|Readable); err != nil {
			t.Fatal(err)
		}
		awaitPeer(t, peer)
		if err := s.sock.acquire(); err != nil { // an operation in flight
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if s.sock.sys.linger.Load() == nil {
			t.Fatal("Close did not delete with linger")
		}
		if err := p.Close(); err != nil {
			t.Fatal(err)
		}
		if got := cLiveAllocs(); got != base {
			t.Fatalf("C allocations %d, want %d", got, base)
		}
		s.sock.release() // the last reference: Go closes the handle
		peer.SetReadDeadline(time.Now().Add(10 * time.Second))
		if n, err := peer.Read(make([]byte, 1)); err == nil {
			t.Fatalf("peer read %d bytes, want EOF", n)
		} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
			t.Fatal("the handle was never closed")
		}
	})
}

// A send that fails at once partway through a large Write (the second of
// its 64 KiB sends, injected) returns the accepted count with
// ErrWouldBlock; a Writable must follow, and the next Write reports the
// failure.
func TestOverlappedShortWriteFailureIsReported(t *testing.T) {
	withOverlapped(t)
	ForEachSkipMode(t, func(t *testing.T) {
		f := newFixture(t)
		s, _, tok := f.writableStream()
		setTestFailSend(1, wsaEConnReset)
		t.Cleanup(func() { setTestFailSend(-1, 0) })
		b := make([]byte, 200<<10)
		n, err := s.Write(b)
		t.Logf("Write = %d, %v", n, err)
		for errors.Is(err, ErrWouldBlock) {
			b = b[n:]
			f.wait(tok, writable) // never came before the fix
			n, err = s.Write(b)
		}
		if !errors.Is(err, syscall.ECONNRESET) {
			t.Fatalf("Write = %d, %v, want the injected ECONNRESET", n, err)
		}
	})
}

// The overlapped engine with skip-on-success off names a source once per
// Wait (TestWaitOneEventPerSource), also in runs that do not force it.
func TestOverlappedOneEventPerSource(t *testing.T) {
	withOverlapped(t)
	withSwitches(t, 0, 0)
	checkOneEventPerSource(t)
}

// TestFaultHalfClosePeer on the overlapped engine, also in runs that do not
// force it: its Write comes before any Wait collected the connect's
// completion, and must send.
func TestOverlappedHalfClosePeer(t *testing.T) {
	withOverlapped(t)
	ForEachSkipMode(t, TestFaultHalfClosePeer)
}
