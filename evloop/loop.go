package evloop

import (
	"errors"
	"io"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/evpoll/poller"
)

// Tokens: the Waker, then the listeners (loop 0), then the UDP sockets,
// then the connections.
const (
	wakeToken        poller.Token = 0
	firstListenTok   poller.Token = 1
	firstPacketTok   poller.Token = 1 << 31
	firstConnTok     poller.Token = 1 << 32
	eventsCap                     = 1024
	minAcceptBackoff              = 5 * time.Millisecond
	maxAcceptBackoff              = time.Second
	maxKeptTasks                  = 32 // inbox capacity kept between bursts
)

func listenerToken(i int) poller.Token { return firstListenTok + poller.Token(i) }
func packetToken(i int) poller.Token   { return firstPacketTok + poller.Token(i) }

// shortReadDrains: on epoll and kqueue a read that returns less than asked
// has emptied the socket, and whatever arrives later is a new edge, so the
// read that would only say ErrWouldBlock can be skipped. Not on Windows,
// where that ErrWouldBlock is what re-arms the socket. A peer's close that
// came with the data is seen in the event (IsReadClosed): then the loop
// reads on to io.EOF.
const shortReadDrains = runtime.GOOS != "windows"

// loopState only grows: running, then draining (Shutdown), then closing.
type loopState uint8

const (
	loopRunning loopState = iota
	loopDraining
	loopClosing
)

// Loop is one event loop: a Poll, its goroutine, its connections, timers
// and inbox. Methods say which goroutines may call them.
type Loop struct {
	srv    *Server
	index  int
	p      *poller.Poll
	waker  *poller.Waker
	events *poller.Events
	buf    []byte
	value  any

	mu      sync.Mutex // guards state, inbox and shut
	state   loopState
	inbox   []task
	shut    bool   // the loop has returned: the inbox takes nothing more
	spare   []task // the other inbox slice, swapped in by runInbox
	current loopState

	conns   []*Conn // index: token - firstConnTok; nil when free
	values  []any   // Conn values by the same index; nil until a SetValue
	sweeps  uint8   // idle sweeps so far, modulo 256
	free    []int32
	live    int // conns in use, dialing ones included
	reaping []reapItem
	timers  timerHeap
	start   time.Time
	now     int64 // nanoseconds since start, set after each Wait
	packets []*PacketConn

	out       []byte   // outConn's writes of this batch, not sent yet
	outConn   *Conn    // the connection out is for, or nil
	iov       [][]byte // Conn.Writev's vector, kept between calls (emptied after each)
	writes    int64    // write system calls, for tests; read once run returned
	bytesRead atomic.Int64
	open      atomic.Int64
}

// reapItem is a connection to close at the end of the current step.
type reapItem struct {
	c   *Conn
	err error
}

// taskKind says what a task of the inbox asks.
type taskKind uint8

const (
	taskAdopt      taskKind = iota // register st, accepted by loop 0
	taskFunc                       // run f
	taskWrite                      // c.Write(b)
	taskDial                       // register d's stream, connecting
	taskDialCancel                 // d's Dial gave up
)

type task struct {
	kind taskKind
	st   stream
	c    *Conn
	b    []byte
	f    func()
	d    *dialReq
}

func newLoop(s *Server, i int) (*Loop, error) {
	p, err := poller.New()
	if err != nil {
		return nil, err
	}
	w, err := poller.NewWaker(p.Registry(), wakeToken)
	if err != nil {
		p.Close()
		return nil, err
	}
	return &Loop{srv: s, index: i, p: p, waker: w, events: poller.NewEvents(eventsCap),
		buf: make([]byte, ReadBufSize)}, nil
}

// Index returns the loop's number, 0 to Server.NumLoops()-1.
func (l *Loop) Index() int { return l.index }

// Server returns the loop's server.
func (l *Loop) Server() *Server { return l.srv }

// Value returns the loop's own value, set by SetValue (nil at first): a
// place for a Handler's scratch buffers per loop. Loop goroutine only.
func (l *Loop) Value() any { return l.value }

// SetValue sets the loop's own value. Loop goroutine only.
func (l *Loop) SetValue(v any) { l.value = v }

// Post queues f to run on the loop goroutine; it may be called from any
// goroutine. It returns ErrServerClosed if the loop has returned.
func (l *Loop) Post(f func()) error { return l.enqueue(task{kind: taskFunc, f: f}) }

func (l *Loop) enqueue(t task) error {
	l.mu.Lock()
	if l.shut {
		l.mu.Unlock()
		return ErrServerClosed
	}
	l.inbox = append(l.inbox, t)
	l.mu.Unlock()
	return l.waker.Wake()
}

// run is the loop goroutine's body.
func (l *Loop) run() error {
	l.start = time.Now()
	defer l.shutInbox()
	if t, ok := l.srv.Handler.(Ticker); ok {
		l.AfterFunc(0, func() { l.tick(t) })
	}
	if d := l.srv.IdleTimeout; d > 0 {
		l.Every(max(d/idleSweeps, time.Millisecond), l.sweepIdle)
	}
	for {
		if err := l.p.Wait(l.events, l.timeout()); err != nil {
			l.closeAll(err)
			return err
		}
		l.now = int64(time.Since(l.start))
		var read int64
		for ev := range l.events.All() {
			read += l.dispatch(ev)
		}
		if read > 0 {
			l.bytesRead.Add(read)
		}
		l.runTimers()
		l.flushOut()
		l.reap()
		if l.current == loopClosing || l.current == loopDraining && l.live == 0 {
			l.closeAll(ErrServerClosed)
			return nil
		}
	}
}

// dispatch handles one event; it returns the bytes read.
func (l *Loop) dispatch(ev poller.Event) int64 {
	tok := ev.Token()
	switch {
	case tok == wakeToken:
		l.runInbox()
	case tok >= firstConnTok:
		idx := uint64(tok - firstConnTok)
		if idx < uint64(len(l.conns)) && l.conns[idx] != nil {
			n := l.serve(l.conns[idx], ev)
			l.reap()
			return n
		}
	case tok >= firstPacketTok:
		for _, pc := range l.packets {
			if pc.tok == tok {
				l.servePackets(pc)
			}
		}
	default:
		for _, x := range l.srv.lns {
			if x.tok == tok {
				l.accept(x)
			}
		}
	}
	return 0
}

// timeout is Wait's timeout: until the next timer, or none.
func (l *Loop) timeout() time.Duration {
	if len(l.timers) == 0 {
		return -1
	}
	now := int64(time.Since(l.start))
	return time.Duration(max(l.timers[0].when-now, 0))
}

// runInbox runs the queued tasks and takes in a new state.
func (l *Loop) runInbox() {
	l.mu.Lock()
	tasks := l.inbox
	l.inbox = l.spare[:0]
	state := l.state
	l.mu.Unlock()
	for i := range tasks {
		l.runTask(&tasks[i])
		tasks[i] = task{} // drop references
	}
	l.spare = tasks[:0]
	if cap(tasks) > maxKeptTasks {
		l.spare = nil // a burst is over: keep no large inbox
	}
	if state > l.current {
		l.enter(state)
	}
	l.reap()
}

func (l *Loop) runTask(t *task) {
	switch t.kind {
	case taskAdopt:
		if l.current != loopRunning {
			t.st.Close()
			return
		}
		l.add(t.st, nil)
	case taskFunc:
		l.protect(nil, t.f)
	case taskWrite:
		if t.c.l == l && t.c.flags&fClosed == 0 {
			t.c.Write(t.b)
		}
	case taskDial:
		l.startDial(t.d)
	case taskDialCancel:
		if c := t.d.conn; c != nil && c.ext != nil && c.ext.dial == t.d {
			l.drop(c)
		}
	}
}

// enter moves the loop to draining or closing. Draining: loop 0 closes the
// listeners, the UDP sockets close, dials in flight fail, and each
// connection closes once its backlog is out.
func (l *Loop) enter(state loopState) {
	l.current = state
	if l.index == 0 {
		for _, x := range l.srv.lns {
			x.ln.Close()
			if x.retry != nil {
				x.retry.Stop()
			}
		}
	}
	for _, pc := range l.packets {
		pc.sock.Close()
	}
	l.packets = nil
	if state == loopClosing {
		return // run closes everything
	}
	for i := range l.conns {
		c := l.conns[i]
		if c == nil {
			continue
		}
		if c.ext != nil && c.ext.dial != nil {
			l.failDial(c, ErrServerClosed)
			continue
		}
		c.closeWith(ErrServerClosed)
	}
}

// stageMax is the most a batch collects before it writes: a larger output
// goes out at once, and the backlog (with backpressure) takes what the
// socket refuses.
const stageMax = ReadBufSize

// stage adds b to c's output of this batch. The loop holds one connection's
// output at a time: a write to another one sends it first. So a loop keeps
// one buffer for all its connections, and an idle connection none.
func (l *Loop) stage(c *Conn, b []byte) {
	if l.outConn == c && len(l.out)+len(b) <= stageMax {
		l.out = append(l.out, b...)
		return
	}
	l.flushOut() // another connection's output, or c's that b would push past stageMax
	switch {
	case c.flags&fClosing != 0: // that write failed: c closes
	case c.pending():
		c.ext.backlog = append(c.ext.backlog, b...)
	case len(b) >= stageMax:
		l.write(c, b)
	default:
		l.outConn = c
		l.out = append(l.out, b...)
	}
}

// flushStaged sends c's output of this batch now, if it has any: Close
// and CloseWrite act after it.
func (l *Loop) flushStaged(c *Conn) {
	if l.outConn == c {
		l.flushOut()
	}
}

// dropStaged forgets c's output of this batch: c failed or closed.
func (l *Loop) dropStaged(c *Conn) {
	if l.outConn == c {
		l.out = l.out[:0]
		l.outConn = nil
	}
}

// flushOut sends the output of this batch with one write; the socket's
// refusal goes to the backlog. It runs when the batch ends, before the
// loop waits again: no output waits for the next event.
func (l *Loop) flushOut() {
	c := l.outConn
	if c == nil {
		return
	}
	l.outConn = nil
	l.write(c, l.out)
	l.out = l.out[:0] // at most stageMax, kept: one buffer per loop
}

// write sends b to c, whose backlog is empty, and keeps in the backlog
// what the socket does not take.
func (l *Loop) write(c *Conn, b []byte) {
	w, err := l.send(c, b)
	if err != nil && !errors.Is(err, poller.ErrWouldBlock) {
		c.fail(err)
		return
	}
	if w > 0 {
		c.seen = l.sweeps
	}
	if w < len(b) {
		c.queue(b[w:])
	}
}

// staged is the size of c's output of this batch.
func (l *Loop) staged(c *Conn) int {
	if l.outConn == c {
		return len(l.out)
	}
	return 0
}

// writev sends c's output of this batch and bufs with one vectored write
// (c's backlog is empty) and keeps in the backlog what the socket does not
// take.
func (l *Loop) writev(c *Conn, bufs [][]byte) {
	if l.outConn != c {
		l.flushOut() // another connection's output first
		if c.flags&fClosing != 0 {
			return
		}
	}
	iov := l.iov[:0]
	if l.outConn == c {
		iov = append(iov, l.out)
	}
	iov = append(iov, bufs...)
	l.writes++
	w, err := c.writev(iov)
	if err != nil && !errors.Is(err, poller.ErrWouldBlock) {
		l.dropStaged(c)
		c.fail(err)
	} else {
		if w > 0 {
			c.seen = l.sweeps
		}
		// The rest, from byte w on, goes to the backlog before the
		// staged output is reset (the backlog copies it).
		for i, b := range iov {
			if w >= int64(len(b)) {
				w -= int64(len(b))
				continue
			}
			c.queue(b[w:])
			for _, r := range iov[i+1:] {
				c.ext.backlog = append(c.ext.backlog, r...)
			}
			break
		}
		if l.outConn == c {
			l.outConn = nil
			l.out = l.out[:0]
		}
	}
	clear(iov) // keep no caller's buffer
	l.iov = iov[:0]
}

// send writes b to c, counting the write; the TCP case is called
// directly, as it is the common one.
func (l *Loop) send(c *Conn, b []byte) (int, error) {
	l.writes++
	if st := c.stream; st != nil {
		return st.Write(b)
	}
	return c.ext.other.Write(b)
}

// shutInbox runs as the loop returns: the inbox is closed, and what it
// still holds is dropped (streams closed, dials failed).
func (l *Loop) shutInbox() {
	l.mu.Lock()
	l.shut = true
	tasks := l.inbox
	l.inbox = nil
	l.mu.Unlock()
	for _, t := range tasks {
		switch t.kind {
		case taskAdopt:
			t.st.Close()
		case taskDial:
			t.d.st.Close()
			t.d.finish(nil, ErrServerClosed)
		}
	}
}

// add puts st in the connection table and registers it; d is its dial,
// or nil for an accepted stream (then OnOpen runs now).
func (l *Loop) add(st stream, d *dialReq) *Conn {
	var idx int32
	if n := len(l.free); n > 0 {
		idx = l.free[n-1]
		l.free = l.free[:n-1]
	} else {
		idx = int32(len(l.conns))
		l.conns = append(l.conns, nil)
	}
	c := &Conn{l: l, idx: idx, seen: l.sweeps}
	if tcp, ok := st.(*poller.TCPStream); ok {
		c.stream = tcp
	} else {
		c.ext = &connExt{other: st}
	}
	interest := poller.Readable
	if d != nil {
		if c.ext == nil {
			c.ext = new(connExt)
		}
		c.ext.dial, c.ext.registered = d, poller.Readable|poller.Writable
		c.flags |= fDialed
		d.conn = c
		interest |= poller.Writable
	}
	if err := l.p.Registry().Register(st, c.token(), interest); err != nil {
		st.Close()
		l.free = append(l.free, idx)
		if d != nil {
			d.finish(nil, err)
		} else {
			l.srv.logf("evloop: register: %v", err)
		}
		return nil
	}
	l.conns[idx] = c
	l.live++
	if d == nil {
		l.opened(c)
	}
	return c
}

// opened counts c as open and runs OnOpen.
func (l *Loop) opened(c *Conn) {
	l.open.Add(1)
	c.flags |= fOpen
	h := l.srv.Handler
	l.protect(c, func() { h.OnOpen(c) })
}

// serve handles one event of c: finish a dial, send the backlog if the
// socket has room, then read and hand the bytes to OnData until the socket
// is empty, c closes, or its backlog passes the high-water mark. It
// returns the bytes read.
func (l *Loop) serve(c *Conn, ev poller.Event) int64 {
	if c.ext != nil && c.ext.dial != nil {
		if !l.finishDial(c, ev) {
			return 0
		}
	}
	if c.pending() {
		if ev.IsWritable() || ev.IsError() || ev.IsWriteClosed() {
			if !c.flush() {
				return 0
			}
		}
		if c.flags&fClosing != 0 || c.over() {
			return 0
		}
	}
	if c.flags&(fClosing|fClosed) != 0 {
		return 0
	}
	var read int64
	for {
		n, err := c.read(l.buf)
		if n > 0 {
			read += int64(n)
			c.seen = l.sweeps
			l.onData(c, l.buf[:n])
			if c.flags&(fClosing|fClosed) != 0 || c.over() {
				return read
			}
		}
		if err != nil {
			if errors.Is(err, poller.ErrWouldBlock) {
				return read
			}
			if errors.Is(err, io.EOF) {
				c.closeWith(nil) // after the backlog, if any
			} else {
				l.closeConn(c, err)
			}
			return read
		}
		if shortReadDrains && n < len(l.buf) && !ev.IsReadClosed() {
			return read
		}
	}
}

// onData runs OnData; a panic closes c with a *PanicError.
func (l *Loop) onData(c *Conn, in []byte) {
	defer func() {
		if v := recover(); v != nil {
			c.fail(newPanicError(v))
		}
	}()
	l.srv.Handler.OnData(c, in)
}

// protect runs f; a panic closes c with a *PanicError, or is logged if c
// is nil.
func (l *Loop) protect(c *Conn, f func()) {
	defer func() {
		if v := recover(); v != nil {
			if c != nil {
				c.fail(newPanicError(v))
				return
			}
			l.srv.logf("evloop: panic in a function on loop %d: %v", l.index, v)
		}
	}()
	f()
}

// reap closes the connections that failed or were closed during the step
// that ends: OnClose never runs inside another callback.
func (l *Loop) reap() {
	for i := 0; i < len(l.reaping); i++ {
		r := l.reaping[i]
		if r.c.flags&fClosed == 0 {
			l.closeConn(r.c, r.err)
		}
		l.reaping[i] = reapItem{}
	}
	l.reaping = l.reaping[:0]
}

// closeConn closes c now and runs OnClose(c, err).
func (l *Loop) closeConn(c *Conn, err error) {
	if c.flags&fClosed != 0 {
		return
	}
	c.flags |= fClosed
	l.dropStaged(c)
	c.sock().Close() // deregisters
	if c.ext != nil {
		c.ext.backlog = nil
	}
	if c.flags&fOpen != 0 {
		l.open.Add(-1)
		h := l.srv.Handler
		l.protect(nil, func() { h.OnClose(c, err) }) // c keeps its slot and value meanwhile
	}
	l.release(c)
}

// drop closes c without callbacks: a dial that failed or was given up.
func (l *Loop) drop(c *Conn) {
	c.flags |= fClosed
	l.dropStaged(c)
	c.sock().Close()
	l.release(c)
}

func (l *Loop) release(c *Conn) {
	l.conns[c.idx] = nil
	if int(c.idx) < len(l.values) {
		l.values[c.idx] = nil
	}
	l.free = append(l.free, c.idx)
	l.live--
}

// closeAll closes every connection at once, as the loop returns.
func (l *Loop) closeAll(err error) {
	for i := range l.conns {
		c := l.conns[i]
		if c == nil {
			continue
		}
		if c.ext != nil && c.ext.dial != nil {
			l.failDial(c, err)
			continue
		}
		l.closeConn(c, err)
	}
	for _, pc := range l.packets {
		pc.sock.Close()
	}
	l.packets = nil
}

// accept runs on loop 0: it accepts until ErrWouldBlock and deals the
// connections out round-robin. An error such as EMFILE stops it and
// retries after a delay that doubles up to a second, so a loop out of
// descriptors never spins.
func (l *Loop) accept(x *listener) {
	if x.retry != nil || l.current != loopRunning {
		return // backing off: the retry timer accepts
	}
	for {
		st, err := x.accept()
		if errors.Is(err, poller.ErrWouldBlock) {
			x.backoff = 0
			return
		}
		if err != nil {
			x.backoff = min(max(2*x.backoff, minAcceptBackoff), maxAcceptBackoff)
			l.srv.logf("evloop: accept: %v; retrying in %v", err, x.backoff)
			x.retry = l.AfterFunc(x.backoff, func() {
				x.retry = nil
				l.accept(x)
			})
			return
		}
		x.backoff = 0
		l.handOver(st)
	}
}

// handOver gives st to the next loop, round-robin (loop 0 only).
func (l *Loop) handOver(st stream) {
	loops := l.srv.loops
	to := loops[int(l.srv.nextRR.Add(1)-1)%len(loops)]
	if to == l {
		l.add(st, nil)
		return
	}
	if to.enqueue(task{kind: taskAdopt, st: st}) != nil {
		st.Close()
	}
}

// idleSweeps is how many sweeps, IdleTimeout/idleSweeps apart, a
// connection may see without activity before it is closed.
const idleSweeps = 4

// sweepIdle runs every IdleTimeout/idleSweeps: it closes the connections
// that have seen more than idleSweeps sweeps since their last activity,
// that is, idle for between IdleTimeout and 1.25 IdleTimeout. A connection keeps
// the count of the sweep it was last active in, in one byte: differences
// modulo 256 are exact, as none gets past idleSweeps open.
func (l *Loop) sweepIdle() {
	l.sweeps++
	for _, c := range l.conns {
		if c != nil && c.flags&fOpen != 0 && l.sweeps-c.seen > idleSweeps {
			c.fail(ErrIdleTimeout)
		}
	}
}

func (l *Loop) tick(t Ticker) {
	var d time.Duration
	l.protect(nil, func() { d = t.OnTick(l) })
	if d > 0 {
		l.AfterFunc(d, func() { l.tick(t) })
	}
}
