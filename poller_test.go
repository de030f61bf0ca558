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
	"sync"
	"syscall"
	"testing"
	"time"
)

// eventTimeout bounds every wait for an event that must come; Wine is slow.
const eventTimeout = 20 * time.Second

// quiet is how long a test waits to see that no event comes.
const quiet = 150 * time.Millisecond

func newPoll(t testing.TB) *Poll {
	t.Helper()
	p, err := New()
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// netListener returns a package-net listener on loopback.
func netListener(t testing.TB) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

// closedPortAddr returns a loopback address nobody listens on: a
// package-net listener's, closed.
func closedPortAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// dialAccept dials ln with DialTCP and accepts the peer; the caller closes
// both. Not for a stream whose connect waits for Register (Windows'
// overlapped engine): streamPair serves those.
func dialAccept(t testing.TB, ln net.Listener) (*TCPStream, net.Conn) {
	t.Helper()
	s, err := DialTCP("tcp4", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c, err := ln.Accept()
	if err != nil {
		s.Close()
		t.Fatal(err)
	}
	return s, c
}

// listenUDP returns a UDP socket of ours on loopback; the caller closes it.
func listenUDP(t testing.TB) *UDPSocket {
	t.Helper()
	u, err := ListenUDP("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// streamPair returns a connected stream of ours and its package-net peer.
// Where the stream's connect waits for Register (Windows' overlapped
// engine), the peer is accepted in the background and its methods wait for
// that: the caller registers the stream before using the peer.
func streamPair(t testing.TB) (*TCPStream, net.Conn) {
	t.Helper()
	ln := netListener(t)
	s, err := DialTCP("tcp4", ln.Addr().String())
	if err != nil {
		t.Fatalf("DialTCP: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	if s.sock.connectDeferred() {
		peer := acceptLater(ln)
		t.Cleanup(func() { peer.Close() })
		return s, peer
	}
	peer, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { peer.Close() })
	return s, peer
}

// laterConn is the peer of a stream whose connect waits for Register: it is
// accepted in the background, and its methods wait for the accept.
type laterConn struct {
	ln   net.Listener
	done chan struct{}
	conn net.Conn
	err  error
}

func acceptLater(ln net.Listener) *laterConn {
	c := &laterConn{ln: ln, done: make(chan struct{})}
	go func() {
		c.conn, c.err = ln.Accept()
		close(c.done)
	}()
	return c
}

func (c *laterConn) get() (net.Conn, error) {
	<-c.done
	return c.conn, c.err
}

func (c *laterConn) Read(p []byte) (int, error) {
	conn, err := c.get()
	if err != nil {
		return 0, err
	}
	return conn.Read(p)
}

func (c *laterConn) Write(p []byte) (int, error) {
	conn, err := c.get()
	if err != nil {
		return 0, err
	}
	return conn.Write(p)
}

// Close also ends an accept still waiting (its stream never connected).
func (c *laterConn) Close() error {
	c.ln.Close()
	if conn, err := c.get(); err == nil {
		return conn.Close()
	}
	return nil
}

func (c *laterConn) SetLinger(sec int) error {
	conn, err := c.get()
	if err != nil {
		return err
	}
	return conn.(*net.TCPConn).SetLinger(sec)
}

func (c *laterConn) LocalAddr() net.Addr  { return c.ln.Addr() }
func (c *laterConn) RemoteAddr() net.Addr { return nil }

func (c *laterConn) SetDeadline(d time.Time) error {
	return c.with(func(n net.Conn) error { return n.SetDeadline(d) })
}
func (c *laterConn) SetReadDeadline(d time.Time) error {
	return c.with(func(n net.Conn) error { return n.SetReadDeadline(d) })
}
func (c *laterConn) SetWriteDeadline(d time.Time) error {
	return c.with(func(n net.Conn) error { return n.SetWriteDeadline(d) })
}

func (c *laterConn) with(f func(net.Conn) error) error {
	conn, err := c.get()
	if err != nil {
		return err
	}
	return f(conn)
}

// awaitPeer waits until a registered stream's background peer is accepted.
func awaitPeer(t testing.TB, peer net.Conn) {
	t.Helper()
	if c, ok := peer.(*laterConn); ok {
		select {
		case <-c.done:
			if c.err != nil {
				t.Fatalf("accepting the peer: %v", c.err)
			}
		case <-time.After(eventTimeout):
			t.Fatal("the registered stream never connected")
		}
	}
}

// waitEvent waits until an event for token satisfies ok and returns it.
func waitEvent(t testing.TB, p *Poll, events *Events, token Token, ok func(Event) bool) Event {
	t.Helper()
	deadline := time.Now().Add(eventTimeout)
	for time.Now().Before(deadline) {
		if err := p.Wait(events, time.Until(deadline)); err != nil {
			t.Fatalf("Wait: %v", err)
		}
		for ev := range events.All() {
			if ev.Token() == token && (ok == nil || ok(ev)) {
				return ev
			}
		}
	}
	t.Fatalf("no matching event for token %d within %v", token, eventTimeout)
	return Event{}
}

func readable(e Event) bool { return e.IsReadable() }
func writable(e Event) bool { return e.IsWritable() }

// expectQuiet asserts that no event for token arrives within quiet.
func expectQuiet(t testing.TB, p *Poll, events *Events, token Token) {
	t.Helper()
	deadline := time.Now().Add(quiet)
	for {
		left := time.Until(deadline)
		if left <= 0 {
			return
		}
		if err := p.Wait(events, left); err != nil {
			t.Fatalf("Wait: %v", err)
		}
		for ev := range events.All() {
			if ev.Token() == token {
				t.Fatalf("unexpected event %v", ev)
			}
		}
	}
}

// drain reads s until ErrWouldBlock and returns what it read.
func drain(t testing.TB, s *TCPStream) []byte {
	t.Helper()
	var out []byte
	buf := make([]byte, 4096)
	for {
		n, err := s.Read(buf)
		out = append(out, buf[:n]...)
		if errors.Is(err, ErrWouldBlock) {
			return out
		}
		if err != nil {
			t.Fatalf("Read: %v", err)
		}
	}
}

// waitBlocked returns once another goroutine is inside p.Wait.
func waitBlocked(p *Poll) {
	for {
		w := p.state.Load()&pollWaiting != 0
		if w {
			return
		}
		runtime.Gosched()
	}
}

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
	p := newPoll(t)
	ln, err := ListenTCP("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if err := p.Registry().Register(ln, 100, Readable); err != nil {
		t.Fatal(err)
	}
	const clients = 3
	for i := 0; i < clients; i++ {
		c, err := net.Dial("tcp4", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
	}
	events := NewEvents(8)
	accepted := 0
	for accepted < clients {
		waitEvent(t, p, events, 100, readable)
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

func TestReregisterChangesInterestAndToken(t *testing.T) {
	p := newPoll(t)
	s, peer := streamPair(t)
	r := p.Registry()
	events := NewEvents(8)
	if err := r.Register(s, 1, Writable); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, p, events, 1, writable)
	if err := r.Reregister(s, 2, Readable); err != nil {
		t.Fatal(err)
	}
	peer.Write([]byte("a"))
	ev := waitEvent(t, p, events, 2, readable)
	if ev.IsWritable() {
		t.Fatalf("event %v: writable after reregistering for Readable only", ev)
	}
	drain(t, s)
	if err := r.Reregister(s, 3, Readable|Writable); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, p, events, 3, writable)
	peer.Write([]byte("b"))
	waitEvent(t, p, events, 3, readable)
}

func TestNoEventAfterDeregister(t *testing.T) {
	p := newPoll(t)
	s, peer := streamPair(t)
	r := p.Registry()
	events := NewEvents(8)
	if err := r.Register(s, 4, Readable|Writable); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, p, events, 4, writable)
	if err := r.Deregister(s); err != nil {
		t.Fatal(err)
	}
	peer.Write([]byte("late"))
	expectQuiet(t, p, events, 4)
	// Registered again, it reports the data that came meanwhile.
	if err := r.Register(s, 5, Readable); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, p, events, 5, readable)
}

func TestRegisterTwiceAndDeregisterUnknown(t *testing.T) {
	p := newPoll(t)
	s, _ := streamPair(t)
	r := p.Registry()
	if err := r.Deregister(s); !errors.Is(err, ErrNotRegistered) {
		t.Fatalf("Deregister unknown = %v, want ErrNotRegistered", err)
	}
	if err := r.Reregister(s, 1, Readable); !errors.Is(err, ErrNotRegistered) {
		t.Fatalf("Reregister unknown = %v, want ErrNotRegistered", err)
	}
	if err := r.Register(s, 1, Readable); err != nil {
		t.Fatal(err)
	}
	if err := r.Register(s, 2, Writable); !errors.Is(err, ErrAlreadyRegistered) {
		t.Fatalf("second Register = %v, want ErrAlreadyRegistered", err)
	}
	if err := r.Deregister(s); err != nil {
		t.Fatal(err)
	}
	if err := r.Deregister(s); !errors.Is(err, ErrNotRegistered) {
		t.Fatalf("second Deregister = %v, want ErrNotRegistered", err)
	}
}

func TestTimeouts(t *testing.T) {
	p := newPoll(t)
	events := NewEvents(8)
	start := time.Now()
	if err := p.Wait(events, 0); err != nil {
		t.Fatal(err)
	}
	if events.Len() != 0 {
		t.Fatalf("%d events from an empty poll", events.Len())
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("timeout 0 took %v", d)
	}
	for _, timeout := range []time.Duration{50 * time.Millisecond, 10*time.Millisecond + 1} {
		start = time.Now()
		if err := p.Wait(events, timeout); err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d < timeout {
			t.Fatalf("Wait(%v) returned after %v without an event", timeout, d)
		}
		if events.Len() != 0 {
			t.Fatalf("%d events from an empty poll", events.Len())
		}
	}
}

func TestTimeoutMillisRoundsUp(t *testing.T) {
	cases := map[time.Duration]int{
		-1: -1, 0: 0, 1: 1, time.Millisecond: 1, time.Millisecond + 1: 2,
		1500 * time.Microsecond: 2, time.Hour: 3600000, 1 << 62: maxWaitMillis,
	}
	for d, want := range cases {
		if got := timeoutMillis(d); got != want {
			t.Errorf("timeoutMillis(%v) = %d, want %d", d, got, want)
		}
	}
}

func TestWakerWakesBlockedWait(t *testing.T) {
	p := newPoll(t)
	w, err := NewWaker(p.Registry(), 99)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	events := NewEvents(8)
	go func() { done <- p.Wait(events, -1) }()
	waitBlocked(p)
	if err := w.Wake(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(eventTimeout):
		t.Fatal("Wake did not unblock Wait")
	}
	if events.Len() != 1 || events.At(0).Token() != 99 || !events.At(0).IsReadable() {
		t.Fatalf("events after Wake: %d, first %v", events.Len(), events.At(0))
	}
}

func TestWakesCoalesce(t *testing.T) {
	p := newPoll(t)
	w1, _ := NewWaker(p.Registry(), 1)
	w2, err := NewWaker(p.Registry(), 2)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 250; i++ {
				if err := w1.Wake(); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	w2.Wake()
	events := NewEvents(8)
	if err := p.Wait(events, eventTimeout); err != nil {
		t.Fatal(err)
	}
	count := map[Token]int{}
	for ev := range events.All() {
		count[ev.Token()]++
	}
	if count[1] != 1 || count[2] != 1 || events.Len() != 2 {
		t.Fatalf("1,000 wakes of waker 1 and one of waker 2 gave %v", count)
	}
	if err := p.Wait(events, 0); err != nil || events.Len() != 0 {
		t.Fatalf("after coalesced wakes: %d events, %v", events.Len(), err)
	}
}

func TestCloseUnblocksWait(t *testing.T) {
	p, err := New()
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- p.Wait(NewEvents(4), -1) }()
	waitBlocked(p)
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if !errors.Is(err, net.ErrClosed) {
			t.Fatalf("Wait after Close = %v, want net.ErrClosed", err)
		}
	case <-time.After(eventTimeout):
		t.Fatal("Close did not unblock Wait")
	}
}

func TestConcurrentWaitFails(t *testing.T) {
	p := newPoll(t)
	w, _ := NewWaker(p.Registry(), 1)
	done := make(chan error, 1)
	go func() { done <- p.Wait(NewEvents(4), -1) }()
	waitBlocked(p)
	if err := p.Wait(NewEvents(4), 0); !errors.Is(err, ErrConcurrentWait) {
		t.Fatalf("second Wait = %v, want ErrConcurrentWait", err)
	}
	w.Wake()
	if err := <-done; err != nil {
		t.Fatal(err)
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

func TestRegisterDuringBlockedWait(t *testing.T) {
	p := newPoll(t)
	s, peer := streamPair(t)
	if s.sock.connectDeferred() {
		// The connect starts at Register: the peer writes once accepted.
		go peer.Write([]byte("early"))
	} else {
		peer.Write([]byte("early"))
	}
	events := NewEvents(8)
	done := make(chan error, 1)
	go func() { done <- p.Wait(events, eventTimeout) }()
	waitBlocked(p)
	if err := p.Registry().Register(s, 42, Readable); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if events.Len() != 1 || events.At(0).Token() != 42 {
		t.Fatalf("blocked Wait returned %d events, want token 42", events.Len())
	}
}

func TestInvalidEvents(t *testing.T) {
	p := newPoll(t)
	for _, ev := range []*Events{nil, NewEvents(0), NewEvents(-3), {}} {
		if err := p.Wait(ev, 0); !errors.Is(err, ErrInvalidEvents) {
			t.Fatalf("Wait(%v) = %v, want ErrInvalidEvents", ev, err)
		}
	}
}

func TestOperationsAfterClose(t *testing.T) {
	p, err := New()
	if err != nil {
		t.Fatal(err)
	}
	s, _ := streamPair(t)
	w, _ := NewWaker(p.Registry(), 1)
	if err := p.Registry().Register(s, 1, Readable); err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	r := p.Registry()
	check := func(name string, err error) {
		t.Helper()
		if !errors.Is(err, net.ErrClosed) {
			t.Errorf("%s after Close = %v, want net.ErrClosed", name, err)
		}
	}
	check("Wait", p.Wait(NewEvents(1), 0))
	check("Register", r.Register(s, 2, Readable))
	check("Reregister", r.Reregister(s, 2, Readable))
	check("Deregister", r.Deregister(s))
	check("Wake", w.Wake())
	_, err = NewWaker(r, 3)
	check("NewWaker", err)
	check("Close", p.Close())

	// A socket whose Poll closed can join another Poll, unless the Poll
	// bound it for good (Windows' overlapped engine).
	p2 := newPoll(t)
	if s.sock.overlappedBound() {
		if err := p2.Registry().Register(s, 1, Readable); !errors.Is(err, ErrBoundElsewhere) {
			t.Fatalf("Register of a bound socket with a new poll = %v, want ErrBoundElsewhere", err)
		}
	} else if err := p2.Registry().Register(s, 1, Readable); err != nil {
		t.Fatalf("Register with a new poll: %v", err)
	}

	ln, err := ListenTCP("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := listenUDP(t)
	for _, c := range []io.Closer{s, ln, u} {
		if err := c.Close(); err != nil {
			t.Errorf("first Close of %T: %v", c, err)
		}
		check("second socket Close", c.Close())
	}
	buf := make([]byte, 4)
	_, err = s.Read(buf)
	check("Read", err)
	_, err = s.Write(buf)
	check("Write", err)
	check("CloseWrite", s.CloseWrite())
	check("TakeError", s.TakeError())
	_, _, err = ln.Accept()
	check("Accept", err)
	_, _, err = u.ReadFrom(buf)
	check("ReadFrom", err)
	_, err = u.WriteTo(buf, &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 9})
	check("WriteTo", err)
	check("Register closed socket", p2.Registry().Register(s, 1, Readable))
}

func TestClosingRegisteredSocketDeregisters(t *testing.T) {
	p := newPoll(t)
	r := p.Registry()
	s, peer := streamPair(t)
	if err := r.Register(s, 1, Readable); err != nil {
		t.Fatal(err)
	}
	awaitPeer(t, peer)
	s.Close()
	peer.Write([]byte("after close"))
	events := NewEvents(8)
	expectQuiet(t, p, events, 1)
	r.mu.Lock()
	left := len(r.byHandle)
	r.mu.Unlock()
	if left != 0 {
		t.Fatalf("%d registrations left after closing the only socket", left)
	}
}

func TestRegisteredWithAnotherPoll(t *testing.T) {
	p1, p2 := newPoll(t), newPoll(t)
	s, _ := streamPair(t)
	if err := p1.Registry().Register(s, 1, Readable); err != nil {
		t.Fatal(err)
	}
	if err := p2.Registry().Register(s, 1, Readable); !errors.Is(err, ErrRegisteredElsewhere) {
		t.Fatalf("Register with a second poll = %v, want ErrRegisteredElsewhere", err)
	}
	if err := p2.Registry().Deregister(s); !errors.Is(err, ErrRegisteredElsewhere) {
		t.Fatalf("Deregister from the other poll = %v, want ErrRegisteredElsewhere", err)
	}
}

func TestInvalidInterestAndSource(t *testing.T) {
	p := newPoll(t)
	s, _ := streamPair(t)
	r := p.Registry()
	for _, i := range []Interest{0, 4, Readable | 0x80} {
		if err := r.Register(s, 1, i); !errors.Is(err, ErrInvalidInterest) {
			t.Errorf("Register with interest %v = %v, want ErrInvalidInterest", i, err)
		}
	}
	var nilStream *TCPStream
	for _, src := range []Source{nil, nilStream, (*TCPListener)(nil), (*UDPSocket)(nil)} {
		if err := r.Register(src, 1, Readable); !errors.Is(err, ErrNilSource) {
			t.Errorf("Register(%T nil) = %v, want ErrNilSource", src, err)
		}
	}
	if got := (Readable | Writable).String(); got != "Readable|Writable" {
		t.Errorf("String = %q", got)
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
				p := newPoll(t)
				ln, err := ListenTCP("tcp4", "127.0.0.1:0")
				if err != nil {
					t.Fatal(err)
				}
				defer ln.Close()
				if err := p.Registry().Register(ln, 1, Readable); err != nil {
					t.Fatal(err)
				}
				c, err := net.Dial("tcp4", ln.Addr().String())
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				waitEvent(t, p, NewEvents(4), 1, readable)
				letGo(t, p, ln, how)

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
	p := newPoll(t)
	events := NewEvents(8)
	s, peer := streamPair(t)
	if err := p.Registry().Register(s, 1, Writable); err != nil {
		t.Fatal(err)
	}
	awaitPeer(t, peer)
	waitEvent(t, p, events, 1, writable)
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
		p := newPoll(t)
		ln, err := ListenTCP("tcp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		u := listenUDP(t)
		defer u.Close()
		r := p.Registry()
		if err := r.Register(ln, 1, Readable); err != nil {
			t.Fatal(err)
		}
		if err := r.Register(u, 2, Readable); err != nil {
			t.Fatal(err)
		}
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
		waitEvent(t, p, NewEvents(4), 3, readable)
		s, _, err := ln.Accept()
		if err != nil {
			t.Fatalf("Accept = %v", err)
		}
		s.Close()
	})
}
