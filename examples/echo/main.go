// Command echo is a multi-loop echo server on poller: one Poll per loop
// goroutine, as many loops as GOMAXPROCS (or -loops), accepted connections
// spread round-robin across the loops, and no goroutine per connection.
//
//	go run ./examples/echo -addr 127.0.0.1:7007
//
// Loop 0 owns the listener. A connection accepted for another loop is handed
// over through that loop's inbox and Waker; the loop registers it itself, so
// each loop's connection table is touched by its own goroutine only.
//
// The steady state allocates nothing: every loop reads into one buffer of its
// own and writes the bytes straight back. Only what the socket does not take
// at once is copied into the connection's backlog; then the loop stops
// reading that connection and waits for Writable before it reads again.
//
// With -stats, each line read on standard input is answered on standard
// output with one line of counters (bytes echoed, live connections, heap and
// allocation figures); "gc" collects garbage first. bench/ uses it.
package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/evpoll/poller"
)

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

	readBufSize = 64 << 10
	eventsCap   = 1024
)

func main() {
	addr := flag.String("addr", "127.0.0.1:7007", "address to listen on")
	loops := flag.Int("loops", 0, "event loops (0: GOMAXPROCS)")
	stats := flag.Bool("stats", false, "answer each line on stdin with counters")
	flag.Parse()
	log.SetPrefix("echo: ")
	log.SetFlags(0)

	srv, err := Listen(*addr, *loops)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("listening on %s with %d loops\n", srv.Addr(), len(srv.loops))
	if *stats {
		go serveStats(srv)
	}
	go func() {
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, os.Interrupt)
		<-sig
		srv.Close()
	}()
	if err := srv.Serve(); err != nil {
		log.Fatal(err)
	}
}

// Server is the echo server: a listener and its loops.
type Server struct {
	ln    *poller.TCPListener
	loops []*loop
	next  int // round-robin cursor; used by loop 0 only
	done  sync.WaitGroup
	errMu sync.Mutex
	err   error
}

// loop is one event loop: a Poll, its connections and its read buffer.
type loop struct {
	srv    *Server
	p      *poller.Poll
	waker  *poller.Waker
	events *poller.Events
	buf    []byte

	mu      sync.Mutex // guards inbox and closing
	inbox   []*poller.TCPStream
	closing bool

	conns []*conn // index: token - firstConnToken; nil when free
	free  []int

	echoed atomic.Int64 // bytes echoed, for -stats
	live   atomic.Int64 // open connections, for -stats
}

// conn is one connection. backlog holds what the socket did not take; while
// it is not empty the connection is registered for Writable too and is not
// read.
type conn struct {
	stream  *poller.TCPStream
	backlog []byte
}

// Listen binds addr and prepares n loops (n < 1: GOMAXPROCS).
func Listen(addr string, n int) (*Server, error) {
	if n < 1 {
		n = runtime.GOMAXPROCS(0)
	}
	ln, err := poller.ListenTCP("tcp", addr)
	if err != nil {
		return nil, err
	}
	s := &Server{ln: ln}
	for i := 0; i < n; i++ {
		l, err := newLoop(s)
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

func newLoop(s *Server) (*loop, error) {
	p, err := poller.New()
	if err != nil {
		return nil, err
	}
	w, err := poller.NewWaker(p.Registry(), wakeToken)
	if err != nil {
		p.Close()
		return nil, err
	}
	return &loop{srv: s, p: p, waker: w, events: poller.NewEvents(eventsCap), buf: make([]byte, readBufSize)}, nil
}

func (s *Server) closeLoops() {
	for _, l := range s.loops {
		l.p.Close()
	}
}

// Addr returns the address the server listens on.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Serve runs the loops until Close, and returns the first loop error.
func (s *Server) Serve() error {
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
func (s *Server) Close() {
	for _, l := range s.loops {
		l.mu.Lock()
		l.closing = true
		l.mu.Unlock()
		l.waker.Wake()
	}
}

func (l *loop) run() error {
	for {
		if err := l.p.Wait(l.events, -1); err != nil {
			return err
		}
		var echoed int64
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
					echoed += l.serve(c, tok, ev)
				}
			}
		}
		if echoed > 0 {
			l.echoed.Add(echoed)
		}
	}
}

// accept runs on loop 0: it accepts until ErrWouldBlock and deals the
// connections out round-robin.
func (s *Server) accept() {
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
func (l *loop) adoptInbox() (closing bool) {
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

func (l *loop) add(st *poller.TCPStream) {
	var idx int
	if n := len(l.free); n > 0 {
		idx = l.free[n-1]
		l.free = l.free[:n-1]
	} else {
		idx = len(l.conns)
		l.conns = append(l.conns, nil)
	}
	c := &conn{stream: st}
	if err := l.p.Registry().Register(st, firstConnToken+poller.Token(idx), poller.Readable); err != nil {
		log.Print(err)
		st.Close()
		l.free = append(l.free, idx)
		return
	}
	l.conns[idx] = c
	l.live.Add(1)
}

func (l *loop) conn(tok poller.Token) *conn {
	idx := uint64(tok - firstConnToken)
	if idx >= uint64(len(l.conns)) {
		return nil
	}
	return l.conns[idx]
}

// serve handles one event of c and returns the bytes it echoed.
func (l *loop) serve(c *conn, tok poller.Token, ev poller.Event) int64 {
	if len(c.backlog) > 0 {
		if !ev.IsWritable() && !ev.IsError() {
			return 0 // still waiting for room: reads stay queued in the socket
		}
		if !l.flush(c, tok) {
			return 0
		}
		if len(c.backlog) > 0 {
			return 0
		}
	}
	var echoed int64
	for {
		n, err := c.stream.Read(l.buf)
		if n > 0 {
			echoed += int64(n)
			w, werr := c.stream.Write(l.buf[:n])
			if werr != nil {
				if !errors.Is(werr, poller.ErrWouldBlock) {
					l.close(c, tok)
					return echoed
				}
				// The socket is full: keep the rest, wait for Writable and
				// read no more until it is flushed.
				c.backlog = append(c.backlog[:0], l.buf[w:n]...)
				if l.p.Registry().Reregister(c.stream, tok, poller.Readable|poller.Writable) != nil {
					l.close(c, tok)
				}
				return echoed
			}
		}
		if err != nil {
			if !errors.Is(err, poller.ErrWouldBlock) {
				l.close(c, tok) // io.EOF or a reset
			}
			return echoed
		}
		if shortReadDrains && n < len(l.buf) && !ev.IsReadClosed() {
			return echoed
		}
	}
}

// flush writes c's backlog; it returns false if it closed c. Once the
// backlog is empty the connection goes back to Readable only.
func (l *loop) flush(c *conn, tok poller.Token) bool {
	w, err := c.stream.Write(c.backlog)
	if err != nil && !errors.Is(err, poller.ErrWouldBlock) {
		l.close(c, tok)
		return false
	}
	rest := copy(c.backlog, c.backlog[w:])
	c.backlog = c.backlog[:rest]
	if rest > 0 {
		return true
	}
	if cap(c.backlog) > readBufSize {
		c.backlog = nil // a burst is over: do not keep a large buffer per connection
	}
	if l.p.Registry().Reregister(c.stream, tok, poller.Readable) != nil {
		l.close(c, tok)
		return false
	}
	return true
}

func (l *loop) close(c *conn, tok poller.Token) {
	c.stream.Close() // deregisters
	idx := int(tok - firstConnToken)
	l.conns[idx] = nil
	l.free = append(l.free, idx)
	l.live.Add(-1)
}

func (l *loop) closeAll() {
	for i, c := range l.conns {
		if c != nil {
			l.close(c, firstConnToken+poller.Token(i))
		}
	}
}

// Stats returns the bytes echoed and the connections open.
func (s *Server) Stats() (echoed, live int64) {
	for _, l := range s.loops {
		echoed += l.echoed.Load()
		live += l.live.Load()
	}
	return echoed, live
}

// serveStats answers each line on stdin: "gc" runs the collector first.
func serveStats(s *Server) {
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		if strings.TrimSpace(in.Text()) == "gc" {
			runtime.GC()
			runtime.GC()
		}
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		echoed, live := s.Stats()
		fmt.Printf("stats echoed=%d conns=%d heap=%d stack=%d mallocs=%d goroutines=%d\n",
			echoed, live, m.HeapAlloc, m.StackInuse, m.Mallocs, runtime.NumGoroutine())
	}
	if err := in.Err(); err != nil && err != io.EOF {
		log.Print(err)
	}
}
