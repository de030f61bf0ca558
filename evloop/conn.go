package evloop

import (
	"errors"
	"net"

	"github.com/evpoll/poller"
)

// Conn is one stream connection (TCP or Unix-domain), served by one loop. Its methods run on that
// loop's goroutine (in callbacks, timers and posted functions), except
// AsyncWrite and Loop, which any goroutine may call.
type Conn struct {
	l      *Loop
	stream *poller.TCPStream // nil for a Unix-domain stream: see connExt.other
	ext    *connExt          // nil until a backlog, a dial or a CloseWrite needs it (always there for a Unix stream)
	idx    int32             // in l.conns and l.values; the token is firstConnTok+idx
	flags  connFlags
	seen   uint8 // l.sweeps when c was last active (Server.IdleTimeout)
}

// connExt is what few connections need. It sits behind a pointer so that
// an idle connection stays small.
type connExt struct {
	backlog    []byte   // what the socket did not take yet
	closeErr   error    // for OnClose once the backlog is out (fClosing)
	shutWrite  bool     // CloseWrite once the backlog is out
	dial       *dialReq // non-nil while connecting
	registered poller.Interest
	other      stream // the socket of a connection that is not TCP (stream is nil)
}

type connFlags uint8

const (
	fOpen        connFlags = 1 << iota // OnOpen ran: OnClose will
	fClosing                           // Close asked: close once the backlog is out
	fClosed                            // closed; the stream is closed
	fWriteClosed                       // CloseWrite done or asked
	fDialed                            // made by Dial
)

// Dialed reports whether c was made by Dial rather than accepted.
func (c *Conn) Dialed() bool { return c.flags&fDialed != 0 }

// Loop returns the connection's loop. Any goroutine may call it.
func (c *Conn) Loop() *Loop { return c.l }

// Value returns the connection's own value, set by SetValue; nil at first
// and once OnClose has returned.
func (c *Conn) Value() any {
	if int(c.idx) < len(c.l.values) && c.l.conns[c.idx] == c {
		return c.l.values[c.idx]
	}
	return nil
}

// SetValue sets the connection's own value, for example a pointer to the
// protocol's state: storing a pointer allocates nothing. The values live
// in a table of the loop, by connection, made at the first SetValue: a
// server that sets none pays nothing per connection for them.
func (c *Conn) SetValue(v any) {
	l := c.l
	if l.conns[c.idx] != c {
		return // closed, and OnClose has returned
	}
	if n := len(l.conns); len(l.values) < n {
		l.values = append(l.values, make([]any, n-len(l.values))...)
	}
	l.values[c.idx] = v
}

// LocalAddr returns the local address.
func (c *Conn) LocalAddr() net.Addr { return c.sock().LocalAddr() }

// RemoteAddr returns the peer's address.
func (c *Conn) RemoteAddr() net.Addr { return c.sock().RemoteAddr() }

// Buffered returns the bytes written and not yet sent: those of this
// batch and the backlog.
func (c *Conn) Buffered() int {
	n := 0
	if c.l.outConn == c {
		n = len(c.l.out)
	}
	if c.ext != nil {
		n += len(c.ext.backlog)
	}
	return n
}

// Write sends b: it is collected with c's other writes of this batch of
// callbacks (one Wait's events) and sent with one write system call when
// the batch ends; what the socket does not take then is kept in the
// backlog and sent when it has room. It returns len(b), or net.ErrClosed
// after Close or CloseWrite. An error of the socket closes c (OnClose gets
// it once the current callback returns).
func (c *Conn) Write(b []byte) (int, error) {
	if c.flags&(fClosing|fClosed|fWriteClosed) != 0 {
		return 0, net.ErrClosed
	}
	if len(b) == 0 {
		return 0, nil
	}
	if c.pending() {
		c.ext.backlog = append(c.ext.backlog, b...)
		return len(b), nil
	}
	c.l.stage(c, b)
	return len(b), nil
}

// Writev sends the buffers in order, as Write does with their
// concatenation: small ones join c's output of this batch, sent with one
// write; when they and that output come to more than one batch collects
// (ReadBufSize), all of it goes out at once in one vectored write
// (TCPStream.Writev), without joining, and what the socket does not take
// is kept in the backlog.
func (c *Conn) Writev(bufs [][]byte) (int, error) {
	if c.flags&(fClosing|fClosed|fWriteClosed) != 0 {
		return 0, net.ErrClosed
	}
	total := 0
	for _, b := range bufs {
		total += len(b)
	}
	switch {
	case total == 0:
	case c.pending():
		for _, b := range bufs {
			c.ext.backlog = append(c.ext.backlog, b...)
		}
	case c.l.staged(c)+total > stageMax:
		c.l.writev(c, bufs)
	default:
		for _, b := range bufs {
			if len(b) > 0 {
				c.l.stage(c, b)
			}
		}
	}
	return total, nil
}

// AsyncWrite queues b to be written to c on its loop; any goroutine may
// call it. b must not change afterwards. It returns ErrServerClosed if the
// loop has returned; if c is closed by the time the loop gets to it, b is
// dropped.
func (c *Conn) AsyncWrite(b []byte) error {
	return c.l.enqueue(task{kind: taskWrite, c: c, b: b})
}

// Close closes c once its backlog is out; OnClose gets nil. Reads stop at
// once and further writes fail.
func (c *Conn) Close() error {
	if c.flags&(fClosing|fClosed) != 0 {
		return net.ErrClosed
	}
	c.closeWith(nil)
	return nil
}

// CloseWrite shuts down the sending side once the backlog is out: the peer
// reads io.EOF; c can still read.
func (c *Conn) CloseWrite() error {
	if c.flags&(fClosing|fClosed|fWriteClosed) != 0 {
		return net.ErrClosed
	}
	c.flags |= fWriteClosed
	c.l.flushStaged(c)
	if c.flags&fClosing != 0 {
		return nil // the write failed: c closes
	}
	if c.pending() {
		c.ext.shutWrite = true
		return nil
	}
	return c.sock().CloseWrite()
}

// closeWith marks c closing; it closes at the end of this step, or once
// the backlog is out. OnClose gets err.
func (c *Conn) closeWith(err error) {
	if c.flags&(fClosing|fClosed) != 0 {
		return
	}
	c.l.flushStaged(c)
	if c.flags&fClosing != 0 {
		return // the write failed: c closes with its error
	}
	c.flags |= fClosing
	if c.pending() {
		c.ext.closeErr = err
		return
	}
	c.l.reaping = append(c.l.reaping, reapItem{c, err})
}

// fail closes c at the end of this step without sending its backlog.
func (c *Conn) fail(err error) {
	if c.flags&fClosed != 0 {
		return
	}
	c.flags |= fClosing
	c.l.dropStaged(c)
	if c.ext != nil {
		c.ext.backlog = c.ext.backlog[:0]
	}
	c.l.reaping = append(c.l.reaping, reapItem{c, err})
}

func (c *Conn) token() poller.Token { return firstConnTok + poller.Token(c.idx) }

// pending reports whether c has a backlog.
func (c *Conn) pending() bool { return c.ext != nil && len(c.ext.backlog) > 0 }

// over reports whether c's backlog is above the high-water mark.
func (c *Conn) over() bool {
	if c.ext == nil {
		return false
	}
	hw := c.l.srv.HighWater
	if hw <= 0 {
		hw = DefaultHighWater
	}
	return len(c.ext.backlog) > hw
}

// queue starts the backlog with b and waits for Writable.
func (c *Conn) queue(b []byte) {
	if c.ext == nil {
		c.ext = new(connExt)
	}
	c.ext.backlog = append(c.ext.backlog[:0], b...)
	c.interest(poller.Readable | poller.Writable)
}

// interest reregisters c if its interest changes.
func (c *Conn) interest(i poller.Interest) {
	cur := poller.Readable
	if c.ext != nil && c.ext.registered != 0 {
		cur = c.ext.registered
	}
	if cur == i {
		return
	}
	if c.ext == nil {
		c.ext = new(connExt)
	}
	if err := c.l.p.Registry().Reregister(c.sock(), c.token(), i); err != nil {
		c.fail(err)
		return
	}
	c.ext.registered = i
}

// flush writes the backlog; it returns false if c is closed. Once the
// backlog is out, c goes back to Readable, and a Close or CloseWrite asked
// meanwhile happens.
func (c *Conn) flush() bool {
	x := c.ext
	w, err := c.l.send(c, x.backlog)
	if err != nil && !errors.Is(err, poller.ErrWouldBlock) {
		c.l.closeConn(c, err)
		return false
	}
	if w > 0 {
		c.seen = c.l.sweeps
	}
	rest := copy(x.backlog, x.backlog[w:])
	x.backlog = x.backlog[:rest]
	if rest > 0 {
		return true
	}
	if cap(x.backlog) > ReadBufSize {
		x.backlog = nil // a burst is over: keep no large buffer per connection
	}
	if c.flags&fClosing != 0 {
		c.l.closeConn(c, x.closeErr)
		return false
	}
	if x.shutWrite {
		x.shutWrite = false
		if err := c.sock().CloseWrite(); err != nil {
			c.l.closeConn(c, err)
			return false
		}
	}
	c.interest(poller.Readable)
	return c.flags&fClosing == 0
}
