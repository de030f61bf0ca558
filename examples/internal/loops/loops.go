// Package loops is the multi-loop TCP server that examples/echo and
// examples/resp share: one Poll per loop goroutine, as many loops as
// GOMAXPROCS (or as asked), accepted connections spread round-robin across
// the loops, and no goroutine per connection. The examples bring only their
// protocol, as a Handler.
//
// Loop 0 owns the listener. A connection accepted for another loop is handed
// over through that loop's inbox and Waker; the loop registers it itself, so
// each loop's connection table is touched by its own goroutine only.
//
// Each loop reads into one buffer of its own and gives the bytes to its
// Handler, which answers with Conn.Write. The steady state allocates
// nothing here: only what the socket does not take at once is copied into
// the connection's backlog; then the loop stops reading that connection and
// waits for Writable before it reads again.
package loops

import (
	"errors"
	"fmt"
	"log"
	"os"
	"os/signal"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/evpoll/poller"
)

// ReadBufSize is the size of each loop's read buffer: the most one OnData
// call is given.
const ReadBufSize = 64 << 10

// shortReadDrains: on epoll and kqueue a read that returns less than asked
// has emptied the socket, and whatever arrives later is a new edge, so the
// read that would only say ErrWouldBlock can be skipped (tokio does the
// same). Not on Windows, where that ErrWouldBlock is what re-arms the
// socket. A peer's close that came with the data is seen in the event
// (IsReadClosed): then the loop reads on to io.EOF.
const shortReadDrains = runtime.GOOS != "windows"

const (
	listenerToken  poller.Token = 0
	wakeToken      poller.Token = 1
	firstConnToken poller.Token = 2

	eventsCap = 1024
)

// Handler is a protocol. Listen asks for one Handler per loop, and a loop
// calls its Handler from the loop's goroutine only, so a Handler may keep
// scratch buffers without locks.
type Handler[S any] interface {
	// OnData handles in, the bytes one read from c returned. in is the
	// loop's read buffer: it is valid during the call only. OnData answers
	// with c.Write and may c.Close; after either has closed c, or left
	// part of a write in c's backlog, the loop reads c no more for now.
	OnData(c *Conn[S], in []byte)
}

// Conn is one connection, served by one loop. S is the handler's own state
// per connection, State, zero when the connection opens.
type Conn[S any] struct {
	State S // first: a zero-size S then adds no padding

	l       *loop[S]
	stream  *poller.TCPStream // nil once closed
	backlog *backlog          // nil until the socket first refuses bytes
	idx     int               // in l.conns; the token is firstConnToken+idx
}

// backlog holds what the socket did not take. It sits behind a pointer so
// that a Conn with an empty State stays 32 bytes: idle connections are what
// the memory figure of bench/ counts.
type backlog struct {
	buf        []byte
	closeAfter bool // Close was called: close once buf has gone out
}

// Server is a listener and its loops.
type Server[S any] struct {
	ln    *poller.TCPListener
	loops []*loop[S]
	next  int // round-robin cursor; used by loop 0 only
	done  sync.WaitGroup
	errMu sync.Mutex
	err   error
}

// loop is one event loop: a Poll, its connections and its read buffer.
type loop[S any] struct {
	srv    *Server[S]
	h      Handler[S]
	p      *poller.Poll
	waker  *poller.Waker
	events *poller.Events
	buf    []byte

	mu      sync.Mutex // guards inbox and closing
	inbox   []*poller.TCPStream
	closing bool

	conns []*Conn[S] // index: token - firstConnToken; nil when free
	free  []int

	read atomic.Int64 // bytes read, for Stats
	live atomic.Int64 // open connections, for Stats
}

// Listen binds addr and prepares n loops (n < 1: GOMAXPROCS), each with a
// Handler from newHandler.
func Listen[S any](addr string, n int, newHandler func() Handler[S]) (*Server[S], error) {
	if n < 1 {
		n = runtime.GOMAXPROCS(0)
	}
	ln, err := poller.ListenTCP("tcp", addr)
	if err != nil {
		return nil, err
	}
	s := &Server[S]{ln: ln}
	for i := 0; i < n; i++ {
		l, err := newLoop(s, newHandler())
		if err != nil {
			s.closeLoops()
			ln.Close()
			return nil, err
		}
		s.loops = append(s.loops, l)
	}
	if err := s.loops[0].p.Registry().Register(ln, listenerToken, poller.Readable); err != nil {
		s.closeLoops()
		ln.Close()
		return nil, err
	}
	return s, nil
}

func newLoop[S any](s *Server[S], h Handler[S]) (*loop[S], error) {
	p, err := poller.New()
	if err != nil {
		return nil, err
	}
	w, err := poller.NewWaker(p.Registry(), wakeToken)
	if err != nil {
		p.Close()
		return nil, err
	}
	return &loop[S]{srv: s, h: h, p: p, waker: w, events: poller.NewEvents(eventsCap), buf: make([]byte, ReadBufSize)}, nil
}

func (s *Server[S]) closeLoops() {
	for _, l := range s.loops {
		l.p.Close()
	}
}

// Addr returns the address the server listens on.
func (s *Server[S]) Addr() string { return s.ln.Addr().String() }

// Loops returns the number of loops.
func (s *Server[S]) Loops() int { return len(s.loops) }

// Stats returns the bytes read so far and the connections open. The bytes
// are counted once per Wait.
func (s *Server[S]) Stats() (read, open int64) {
	for _, l := range s.loops {
		read += l.read.Load()
		open += l.live.Load()
	}
	return read, open
}

// Run is a command's main part: it prints "listening on ADDR with N loops"
// (bench/ waits for that line), serves until an interrupt closes the server,
// and returns Serve's error.
func (s *Server[S]) Run() error {
	fmt.Printf("listening on %s with %d loops\n", s.Addr(), s.Loops())
	go func() {
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, os.Interrupt)
		<-sig
		s.Close()
	}()
	return s.Serve()
}

// Serve runs the loops until Close, and returns the first loop error.
func (s *Server[S]) Serve() error {
	for _, l := range s.loops {
		s.done.Add(1)
		go func() {
			defer s.done.Done()
			if err := l.run(); err != nil {
				s.errMu.Lock()
				if s.err == nil {
					s.err = err
				}
				s.errMu.Unlock()
				s.Close()
			}
		}()
	}
	s.done.Wait()
	s.ln.Close()
	s.closeLoops()
	return s.err
}

// Close asks every loop to close its connections and return.
func (s *Server[S]) Close() {
	for _, l := range s.loops {
		l.mu.Lock()
		l.closing = true
		l.mu.Unlock()
		l.waker.Wake()
	}
}

func (l *loop[S]) run() error {
	for {
		if err := l.p.Wait(l.events, -1); err != nil {
			return err
		}
		var read int64
		for i := 0; i < l.events.Len(); i++ {
			ev := l.events.At(i)
			switch tok := ev.Token(); tok {
			case listenerToken:
				l.srv.accept()
			case wakeToken:
				if l.adoptInbox() {
					l.closeAll()
					return nil
				}
			default:
				if c := l.conn(tok); c != nil {
					read += l.serve(c, ev)
				}
			}
		}
		if read > 0 {
			l.read.Add(read)
		}
	}
}

// accept runs on loop 0: it accepts until ErrWouldBlock and deals the
// connections out round-robin.
func (s *Server[S]) accept() {
	for {
		st, _, err := s.ln.Accept()
		if errors.Is(err, poller.ErrWouldBlock) {
			return
		}
		if err != nil {
			// Out of descriptors, say: drop this round, the next
			// connection brings a new event.
			log.Print(err)
			return
		}
		st.SetNoDelay(true)
		l := s.loops[s.next]
		s.next = (s.next + 1) % len(s.loops)
		if l == s.loops[0] {
			l.add(st)
			continue
		}
		l.mu.Lock()
		closing := l.closing
		if !closing {
			l.inbox = append(l.inbox, st)
		}
		l.mu.Unlock()
		if closing {
			st.Close()
			continue
		}
		l.waker.Wake()
	}
}

// adoptInbox registers the connections handed over by loop 0; it reports
// whether the server is closing.
func (l *loop[S]) adoptInbox() (closing bool) {
	l.mu.Lock()
	inbox := l.inbox
	l.inbox = nil
	closing = l.closing
	l.mu.Unlock()
	for _, st := range inbox {
		if closing {
			st.Close()
		} else {
			l.add(st)
		}
	}
	return closing
}

func (l *loop[S]) add(st *poller.TCPStream) {
	var idx int
	if n := len(l.free); n > 0 {
		idx = l.free[n-1]
		l.free = l.free[:n-1]
	} else {
		idx = len(l.conns)
		l.conns = append(l.conns, nil)
	}
	if err := l.p.Registry().Register(st, firstConnToken+poller.Token(idx), poller.Readable); err != nil {
		log.Print(err)
		st.Close()
		l.free = append(l.free, idx)
		return
	}
	l.conns[idx] = &Conn[S]{l: l, stream: st, idx: idx}
	l.live.Add(1)
}

func (l *loop[S]) conn(tok poller.Token) *Conn[S] {
	idx := uint64(tok - firstConnToken)
	if idx >= uint64(len(l.conns)) {
		return nil
	}
	return l.conns[idx]
}

// serve handles one event of c: flush its backlog if it has one, then read
// and hand the bytes to the Handler until the socket has nothing more. It
// returns the bytes read.
func (l *loop[S]) serve(c *Conn[S], ev poller.Event) int64 {
	if c.pending() {
		if !ev.IsWritable() && !ev.IsError() {
			return 0 // still waiting for room: reads stay queued in the socket
		}
		if !c.flush() || c.pending() {
			return 0
		}
	}
	var read int64
	for {
		n, err := c.stream.Read(l.buf)
		if n > 0 {
			read += int64(n)
			l.h.OnData(c, l.buf[:n])
			if c.stream == nil || c.pending() {
				return read // closed, or full: read no more until flushed
			}
		}
		if err != nil {
			if !errors.Is(err, poller.ErrWouldBlock) {
				c.close() // io.EOF or a reset
			}
			return read
		}
		if shortReadDrains && n < len(l.buf) && !ev.IsReadClosed() {
			return read
		}
	}
}

func (l *loop[S]) closeAll() {
	for _, c := range l.conns {
		if c != nil {
			c.close()
		}
	}
}

// Write sends b on c. What the socket does not take at once is copied into
// c's backlog: c then waits for Writable and is not read until the backlog
// has gone out, and further writes queue behind it. An error other than
// ErrWouldBlock closes c. Write after Close does nothing.
func (c *Conn[S]) Write(b []byte) {
	if c.stream == nil || len(b) == 0 {
		return
	}
	if c.pending() {
		if !c.backlog.closeAfter {
			c.backlog.buf = append(c.backlog.buf, b...)
		}
		return
	}
	w, err := c.stream.Write(b)
	if err == nil {
		return
	}
	if !errors.Is(err, poller.ErrWouldBlock) {
		c.close()
		return
	}
	// The socket is full: keep the rest and wait for Writable.
	if c.backlog == nil {
		c.backlog = new(backlog)
	}
	c.backlog.buf = append(c.backlog.buf[:0], b[w:]...)
	if c.l.p.Registry().Reregister(c.stream, c.token(), poller.Readable|poller.Writable) != nil {
		c.close()
	}
}

// Close closes c once its backlog, if any, has gone out.
func (c *Conn[S]) Close() {
	if c.stream == nil {
		return
	}
	if c.pending() {
		c.backlog.closeAfter = true
		return
	}
	c.close()
}

func (c *Conn[S]) token() poller.Token { return firstConnToken + poller.Token(c.idx) }

// pending reports whether c has bytes the socket has not taken yet.
func (c *Conn[S]) pending() bool { return c.backlog != nil && len(c.backlog.buf) > 0 }

// flush writes c's backlog; it returns false if it closed c. Once the
// backlog is empty the connection goes back to Readable only, or is closed
// if Close asked for it.
func (c *Conn[S]) flush() bool {
	b := c.backlog
	w, err := c.stream.Write(b.buf)
	if err != nil && !errors.Is(err, poller.ErrWouldBlock) {
		c.close()
		return false
	}
	rest := copy(b.buf, b.buf[w:])
	b.buf = b.buf[:rest]
	if rest > 0 {
		return true
	}
	if cap(b.buf) > ReadBufSize {
		b.buf = nil // a burst is over: do not keep a large buffer per connection
	}
	if b.closeAfter {
		c.close()
		return false
	}
	if c.l.p.Registry().Reregister(c.stream, c.token(), poller.Readable) != nil {
		c.close()
		return false
	}
	return true
}

func (c *Conn[S]) close() {
	c.stream.Close() // deregisters
	c.stream = nil
	l := c.l
	l.conns[c.idx] = nil
	l.free = append(l.free, c.idx)
	l.live.Add(-1)
}
