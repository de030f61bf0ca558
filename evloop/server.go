package evloop

import (
	"context"
	"log"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/evpoll/poller"
)

// DefaultHighWater is the backlog, in bytes, above which a connection is
// not read until the socket has taken enough of it, when Server.HighWater
// is 0.
const DefaultHighWater = 1 << 20

// ReadBufSize is the size of each loop's read buffer: the most one OnData
// call is given.
const ReadBufSize = 64 << 10

// Server is a set of event loops serving Handler on the stream addresses
// Addrs (TCP or Unix-domain) and PacketHandler on the UDP addresses PacketAddrs. Set its fields, then
// call Serve (or Listen first, to learn the bound addresses). Its fields
// must not change once Listen or Serve has been called.
type Server struct {
	// Handler serves the connections of Addrs and those made with Dial.
	Handler Handler
	// Addrs are the addresses to listen on: TCP ones as "host:port" for
	// poller.ListenTCP("tcp", ...) (port 0 picks a free port) or with a
	// scheme, "tcp://host:port" (also tcp4://, tcp6://), and Unix-domain
	// stream sockets as "unix://path", as in gnet: the path must not exist,
	// and is removed when the listener closes ("unix://@name" is an
	// abstract name on Linux).
	Addrs []string
	// PacketHandler serves the UDP sockets of PacketAddrs.
	PacketHandler PacketHandler
	// PacketAddrs are UDP addresses to bind, "host:port".
	PacketAddrs []string
	// Loops is the number of event loops; 0 or less means GOMAXPROCS.
	Loops int
	// IdleTimeout, if positive, closes a connection with ErrIdleTimeout
	// once it has read nothing and sent nothing of its backlog for that
	// long (checked every IdleTimeout/4).
	IdleTimeout time.Duration
	// HighWater is the backlog in bytes above which a connection is not
	// read; 0 means DefaultHighWater.
	HighWater int
	// ErrorLog receives errors that have no caller to go to (an accept
	// that failed, a timer that panicked); nil means the log package's
	// standard logger.
	ErrorLog *log.Logger

	mu      sync.Mutex
	state   serverState
	loops   []*Loop
	lns     []*listener
	packets []*PacketConn
	done    chan struct{} // closed when Serve has finished
	nextRR  atomic.Uint32 // round-robin cursor of Server.Dial

	// acceptFn replaces TCPListener.Accept in tests.
	acceptFn func(*poller.TCPListener) (*poller.TCPStream, error)
}

type serverState uint8

const (
	serverNew serverState = iota
	serverListening
	serverServing
	serverDone
)

// listener is one listener of loop 0, with its accept back-off.
type listener struct {
	ln interface {
		poller.Source
		Addr() net.Addr
		Close() error
	}
	accept  func() (stream, error) // one connection, or poller.ErrWouldBlock
	tok     poller.Token
	backoff time.Duration // 0 unless accepting failed; then the next delay
	retry   *Timer        // pending retry while backing off
}

// Addr returns the listener's address.
func (ln *listener) Addr() net.Addr { return ln.ln.Addr() }

// Listen binds the server's addresses and prepares its loops, without
// serving yet; Serve then serves them. Calling Listen is optional: Serve
// calls it if it has not been.
func (s *Server) Listen() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state != serverNew {
		return ErrStarted
	}
	if len(s.Addrs) > 0 && s.Handler == nil || len(s.PacketAddrs) > 0 && s.PacketHandler == nil {
		return ErrNoHandler
	}
	if err := s.build(); err != nil {
		s.release()
		return err
	}
	s.done = make(chan struct{})
	s.state = serverListening
	return nil
}

// build creates the loops, then the listeners on loop 0 and the UDP
// sockets spread over the loops.
func (s *Server) build() error {
	n := s.Loops
	if n < 1 {
		n = runtime.GOMAXPROCS(0)
	}
	for i := range n {
		l, err := newLoop(s, i)
		if err != nil {
			return err
		}
		s.loops = append(s.loops, l)
	}
	for i, addr := range s.Addrs {
		x, err := s.listen(addr)
		if err != nil {
			return err
		}
		x.tok = listenerToken(i)
		s.lns = append(s.lns, x)
		if err := s.loops[0].p.Registry().Register(x.ln, x.tok, poller.Readable); err != nil {
			return err
		}
	}
	for i, addr := range s.PacketAddrs {
		pc, err := newPacketConn(s.loops[i%n], addr, packetToken(i))
		if err != nil {
			return err
		}
		s.packets = append(s.packets, pc)
	}
	return nil
}

// release closes what build made, for a Listen that failed.
func (s *Server) release() {
	for _, x := range s.lns {
		x.ln.Close()
	}
	for _, pc := range s.packets {
		pc.sock.Close()
	}
	for _, l := range s.loops {
		l.p.Close()
	}
	s.lns, s.packets, s.loops = nil, nil, nil
}

// ListenerAddrs returns the bound addresses of Addrs, in order, once Listen
// or Serve has bound them.
func (s *Server) ListenerAddrs() []net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	return addrsOf(s.lns)
}

// PacketConnAddrs returns the bound addresses of PacketAddrs, in order.
func (s *Server) PacketConnAddrs() []net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	return addrsOf(s.packets)
}

// NumLoops returns the number of loops, once Listen or Serve has made them.
func (s *Server) NumLoops() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.loops)
}

// Loop returns loop i (0 <= i < NumLoops), to Post to, set timers on (from
// its goroutine) or Dial from.
func (s *Server) Loop(i int) *Loop {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.loops[i]
}

// Stats returns the server's counters, summed over its loops.
func (s *Server) Stats() Stats {
	var st Stats
	for _, l := range s.snapshotLoops() {
		st.BytesRead += l.bytesRead.Load()
		st.Conns += l.open.Load()
	}
	return st
}

func (s *Server) snapshotLoops() []*Loop {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.loops
}

// Serve runs the loops until ctx ends, Shutdown or Close is called, or a
// loop fails. It returns ErrServerClosed in the first three cases (when
// ctx ends, connections are closed as by Close), else the loop's error.
// Serve calls Listen first if it has not been called.
func (s *Server) Serve(ctx context.Context) error {
	if err := s.Listen(); err != nil && err != ErrStarted {
		return err
	}
	s.mu.Lock()
	if s.state != serverListening {
		st := s.state
		s.mu.Unlock()
		if st == serverDone {
			return ErrServerClosed // Shutdown or Close came first
		}
		return ErrStarted
	}
	s.state = serverServing
	loops := s.loops
	s.mu.Unlock()

	errc := make(chan error, len(loops))
	var wg sync.WaitGroup
	for _, l := range loops {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := l.run(); err != nil {
				errc <- err
				s.signal(loopClosing)
			}
		}()
	}
	stop := make(chan struct{})
	go func() {
		select {
		case <-ctx.Done():
			s.signal(loopClosing)
		case <-stop:
		}
	}()
	wg.Wait()
	close(stop)
	s.finish()
	select {
	case err := <-errc:
		return err
	default:
		return ErrServerClosed
	}
}

// finish releases the loops and listeners once every loop has returned.
func (s *Server) finish() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, x := range s.lns {
		x.ln.Close() // loop 0 may have closed it already: the error says so
	}
	for _, l := range s.loops {
		l.p.Close()
	}
	s.state = serverDone
	close(s.done)
}

// Shutdown stops the server gracefully, like net/http's: it stops
// accepting and reading, lets the callbacks under way finish, sends every
// connection's backlog, closes the connections (OnClose gets
// ErrServerClosed) and waits for the loops to return. If ctx ends first,
// Shutdown closes what is left as Close does and returns ctx.Err(). A
// server that is not serving is simply released.
func (s *Server) Shutdown(ctx context.Context) error {
	if !s.serving() {
		return nil
	}
	s.signal(loopDraining)
	select {
	case <-s.done:
		return nil
	case <-ctx.Done():
		s.signal(loopClosing)
		<-s.done
		return ctx.Err()
	}
}

// Close stops the server at once: listeners and connections are closed
// without sending their backlogs. It returns once the loops have returned.
func (s *Server) Close() error {
	if !s.serving() {
		return nil
	}
	s.signal(loopClosing)
	<-s.done
	return nil
}

// serving reports whether Serve is running or has run; if Listen alone
// was called, it releases what Listen made and marks the server done.
func (s *Server) serving() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch s.state {
	case serverServing, serverDone:
		return true
	case serverListening:
		s.release()
		s.state = serverDone
		close(s.done)
	}
	return false
}

// signal moves every loop to state st (never back) and wakes it.
func (s *Server) signal(st loopState) {
	for _, l := range s.snapshotLoops() {
		l.mu.Lock()
		if st > l.state {
			l.state = st
		}
		l.mu.Unlock()
		l.waker.Wake()
	}
}

// Dial connects to address ("tcp", "tcp4" or "tcp6"; for "unix", a
// socket path) and puts the connection on one of the loops, round-robin;
// see Loop.Dial.
func (s *Server) Dial(ctx context.Context, network, address string) (*Conn, error) {
	loops := s.snapshotLoops()
	if len(loops) == 0 {
		return nil, ErrServerClosed
	}
	l := loops[int(s.nextRR.Add(1)-1)%len(loops)]
	return l.Dial(ctx, network, address)
}

func (s *Server) logf(format string, args ...any) {
	if s.ErrorLog != nil {
		s.ErrorLog.Printf(format, args...)
		return
	}
	log.Printf(format, args...)
}
