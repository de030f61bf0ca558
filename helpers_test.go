package poller

// Helpers every test file shares: Polls, peers, waits for events, and the
// fixture (a Poll, its Events and a token counter) most tests start from.

import (
	"errors"
	"flag"
	"io"
	"net"
	"os"
	"runtime"
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
	if s.sock.connectDeferred() {
		s.Close()
		t.Fatal("dialAccept: this stream connects at Register (the overlapped engine): use streamPair, or requireAFD")
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

// tcpPeer is what tests use of a package-net TCP peer beyond net.Conn:
// *net.TCPConn has it, and so has laterConn.
type tcpPeer interface {
	net.Conn
	SetLinger(sec int) error
	CloseWrite() error
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

func (c *laterConn) CloseWrite() error {
	return c.with(func(n net.Conn) error { return n.(*net.TCPConn).CloseWrite() })
}

func (c *laterConn) LocalAddr() net.Addr { return c.ln.Addr() }

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

// fixture is what most tests start from: a Poll (closed at cleanup), its
// Events, and the next token register hands out.
type fixture struct {
	t      testing.TB
	p      *Poll
	events *Events
	next   Token
}

// newFixture returns a fixture with a new Poll and room for 64 events.
func newFixture(t testing.TB) *fixture {
	t.Helper()
	return &fixture{t: t, p: newPoll(t), events: NewEvents(64), next: 1}
}

// register registers src for in under a new token and returns the token.
func (f *fixture) register(src Source, in Interest) Token {
	f.t.Helper()
	tok := f.next
	f.next++
	if err := f.p.Registry().Register(src, tok, in); err != nil {
		f.t.Fatalf("Register: %v", err)
	}
	return tok
}

// writableStream returns a stream of ours, registered Writable under a new
// token and reported writable (so connected), with its package-net peer and
// the token.
func (f *fixture) writableStream() (*TCPStream, net.Conn, Token) {
	f.t.Helper()
	s, peer := streamPair(f.t)
	tok := f.register(s, Writable)
	awaitPeer(f.t, peer)
	f.wait(tok, writable)
	return s, peer, tok
}

// listen returns a listener of ours on loopback, closed at cleanup and
// registered Readable, and its token.
func (f *fixture) listen() (*TCPListener, Token) {
	f.t.Helper()
	ln, err := ListenTCP("tcp4", "127.0.0.1:0")
	if err != nil {
		f.t.Fatalf("ListenTCP: %v", err)
	}
	f.t.Cleanup(func() { ln.Close() })
	return ln, f.register(ln, Readable)
}

// wait waits for an event of tok that satisfies ok (nil: any) and returns it.
func (f *fixture) wait(tok Token, ok func(Event) bool) Event {
	f.t.Helper()
	return waitEvent(f.t, f.p, f.events, tok, ok)
}

// quiet asserts that no event of tok comes for a while (expectQuiet).
func (f *fixture) quiet(tok Token) {
	f.t.Helper()
	expectQuiet(f.t, f.p, f.events, tok)
}

// drain reads s until ErrWouldBlock and returns what it read.
func (f *fixture) drain(s *TCPStream) []byte {
	f.t.Helper()
	return drain(f.t, s)
}

// read reads exactly n bytes from s, waiting for an event of tok whenever
// Read would block.
func (f *fixture) read(s io.Reader, tok Token, n int) []byte {
	f.t.Helper()
	got := make([]byte, 0, n)
	buf := make([]byte, n)
	deadline := time.Now().Add(eventTimeout)
	for len(got) < n {
		if time.Now().After(deadline) {
			f.t.Fatalf("read %d of %d bytes in %v", len(got), n, eventTimeout)
		}
		k, err := s.Read(buf[:n-len(got)])
		got = append(got, buf[:k]...)
		switch {
		case err == nil:
		case errors.Is(err, ErrWouldBlock):
			f.wait(tok, nil)
		default:
			f.t.Fatalf("Read: %v", err)
		}
	}
	return got
}

// readToEOF reads from s until io.EOF, waiting for an event of tok whenever
// Read would block, and returns what came before it, or the first other
// error.
func (f *fixture) readToEOF(s io.Reader, tok Token) ([]byte, error) {
	f.t.Helper()
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
			f.wait(tok, nil)
		default:
			return got, err
		}
	}
	f.t.Fatalf("no EOF within %v", eventTimeout)
	return nil, nil
}

// writeAll writes b to s, waiting for Writable of tok whenever Write would
// block.
func (f *fixture) writeAll(s io.Writer, tok Token, b []byte) {
	f.t.Helper()
	for len(b) > 0 {
		n, err := s.Write(b)
		b = b[n:]
		switch {
		case err == nil:
		case errors.Is(err, ErrWouldBlock):
			f.wait(tok, writable)
		default:
			f.t.Fatalf("Write: %v", err)
		}
	}
}
