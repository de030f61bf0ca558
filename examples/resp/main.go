// Command resp is a small Redis-protocol (RESP2) server on poller: PING,
// ECHO, SET, GET, DEL and pipelining, plus the few commands clients send on
// connecting (CONFIG GET, COMMAND, SELECT 0, QUIT). It is enough for
// redis-benchmark -t ping,set,get and redis-cli:
//
//	go run ./examples/resp -addr 127.0.0.1:6380
//	redis-benchmark -p 6380 -t ping,set,get -P 16
//
// The loops are those of examples/echo: one Poll per loop goroutine, as many
// loops as GOMAXPROCS (or -loops), connections dealt out by loop 0. Each read
// is parsed in place; the replies to every command it completes go out in one
// write. Keys live in a store shared by the loops, in shards with a lock each.
package main

import (
	"errors"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"runtime"
	"sync"

	"github.com/evpoll/poller"
)

// shortReadDrains: on epoll and kqueue a read that returns less than asked
// has emptied the socket, and whatever arrives later is a new edge, so the
// read that would only say ErrWouldBlock can be skipped. Not on Windows,
// where that ErrWouldBlock is what re-arms the socket. A close that came
// with the data shows in the event (IsReadClosed): then reading goes on.
const shortReadDrains = runtime.GOOS != "windows"

const (
	listenerToken  poller.Token = 0
	wakeToken      poller.Token = 1
	firstConnToken poller.Token = 2

	readBufSize = 64 << 10
	eventsCap   = 1024
)

func main() {
	addr := flag.String("addr", "127.0.0.1:6380", "address to listen on")
	loops := flag.Int("loops", 0, "event loops (0: GOMAXPROCS)")
	flag.Parse()
	log.SetPrefix("resp: ")
	log.SetFlags(0)

	srv, err := Listen(*addr, *loops)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("listening on %s with %d loops\n", srv.Addr(), len(srv.loops))
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

// Server is the RESP server: a listener, its loops and the key store.
type Server struct {
	ln    *poller.TCPListener
	loops []*loop
	next  int // round-robin cursor; used by loop 0 only
	store store
	done  sync.WaitGroup
	errMu sync.Mutex
	err   error
}

// loop is one event loop with its connections and its scratch buffers.
type loop struct {
	srv    *Server
	p      *poller.Poll
	waker  *poller.Waker
	events *poller.Events
	buf    []byte   // read buffer
	out    []byte   // replies to the commands of one read
	args   [][]byte // arguments of the command being run, into buf or conn.in

	mu      sync.Mutex // guards inbox and closing
	inbox   []*poller.TCPStream
	closing bool

	conns []*conn // index: token - firstConnToken; nil when free
	free  []int
}

// conn is one client. in keeps the start of a command that has not fully
// arrived; backlog keeps replies the socket did not take, and while it is
// not empty the connection waits for Writable and is not read.
type conn struct {
	stream  *poller.TCPStream
	in      []byte
	backlog []byte
	quit    bool // QUIT seen: close once the replies are out
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
	s.store.init()
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
	return &loop{srv: s, p: p, waker: w, events: poller.NewEvents(eventsCap),
		buf: make([]byte, readBufSize), out: make([]byte, 0, readBufSize)}, nil
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
					l.serve(c, tok, ev)
				}
			}
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
	if err := l.p.Registry().Register(st, firstConnToken+poller.Token(idx), poller.Readable); err != nil {
		log.Print(err)
		st.Close()
		l.free = append(l.free, idx)
		return
	}
	l.conns[idx] = &conn{stream: st}
}

func (l *loop) conn(tok poller.Token) *conn {
	idx := uint64(tok - firstConnToken)
	if idx >= uint64(len(l.conns)) {
		return nil
	}
	return l.conns[idx]
}

// serve handles one event of c: flush what is pending, then read and run
// commands until the socket has nothing more (ErrWouldBlock).
func (l *loop) serve(c *conn, tok poller.Token, ev poller.Event) {
	if len(c.backlog) > 0 {
		if !ev.IsWritable() && !ev.IsError() {
			return
		}
		if !l.flush(c, tok) || len(c.backlog) > 0 {
			return
		}
		if c.quit {
			l.close(c, tok)
			return
		}
	}
	for {
		n, err := c.stream.Read(l.buf)
		if n > 0 {
			if !l.handle(c, tok, l.buf[:n]) {
				return
			}
		}
		if err != nil {
			if !errors.Is(err, poller.ErrWouldBlock) {
				l.close(c, tok) // io.EOF or a reset
			}
			return
		}
		if shortReadDrains && n < len(l.buf) && !ev.IsReadClosed() {
			return
		}
	}
}

// handle runs the commands completed by data and writes their replies. It
// returns false when reading must stop: c closed, or its backlog not empty.
func (l *loop) handle(c *conn, tok poller.Token, data []byte) bool {
	if len(c.in) > 0 {
		c.in = append(c.in, data...)
		data = c.in
	}
	out := l.out[:0]
	pos := 0
	var perr error
	for pos < len(data) && !c.quit {
		args, n, err := parseCommand(data[pos:], l.args[:0])
		if err != nil {
			perr = err
			break
		}
		if n == 0 {
			break // incomplete: wait for more
		}
		l.args = args[:0]
		pos += n
		if len(args) > 0 {
			out = l.srv.exec(out, args, c)
		}
	}
	if perr != nil {
		out = append(out, "-ERR Protocol error: "...)
		out = append(out, perr.Error()...)
		out = append(out, "\r\n"...)
		c.quit = true
	}
	// Keep the unparsed tail; copy handles data aliasing c.in.
	rest := len(data) - pos
	if c.quit {
		rest = 0
	}
	if cap(c.in) < rest {
		c.in = make([]byte, rest, 2*rest)
	}
	c.in = c.in[:rest]
	copy(c.in, data[pos:])
	if rest == 0 && cap(c.in) > readBufSize {
		c.in = nil
	}
	l.out = out[:0]
	if len(out) > 0 {
		w, err := c.stream.Write(out)
		if err != nil {
			if !errors.Is(err, poller.ErrWouldBlock) {
				l.close(c, tok)
				return false
			}
			c.backlog = append(c.backlog[:0], out[w:]...)
			if l.p.Registry().Reregister(c.stream, tok, poller.Readable|poller.Writable) != nil {
				l.close(c, tok)
			}
			return false
		}
	}
	if c.quit {
		l.close(c, tok)
		return false
	}
	return true
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
		c.backlog = nil
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
}

func (l *loop) closeAll() {
	for i, c := range l.conns {
		if c != nil {
			l.close(c, firstConnToken+poller.Token(i))
		}
	}
}
