package evloop

import (
	"context"
	"errors"
	"sync/atomic"

	"github.com/evpoll/poller"
)

// errConnectFailed: the stream reported an error without a pending
// socket error to say which.
var errConnectFailed = errors.New("evloop: connect failed")

// dialReq is one Dial in flight, shared by the dialing goroutine and the
// loop. state settles who finishes it: the loop (connected or failed) or
// the dialer (its ctx ended).
type dialReq struct {
	st    stream
	done  chan error // the loop's answer, buffered
	state atomic.Int32
	c     *Conn // the connection; written by the loop before done
	conn  *Conn // the pending connection; loop goroutine only
}

const (
	dialPending int32 = iota
	dialFinished
	dialCancelled
)

// Dial connects to address ("tcp", "tcp4" or "tcp6"; for "unix", a
// socket path) and puts the connection on l, served by the Server's
// Handler like an accepted one: OnOpen runs on the loop once connected,
// before Dial returns it. If ctx ends first, the connect is abandoned and
// Dial returns ctx.Err().
//
// Dial blocks until then, so it must not be called on l's own goroutine;
// from a callback, call it in a goroutine of its own and Post the result.
func (l *Loop) Dial(ctx context.Context, network, address string) (*Conn, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	st, err := dialStream(network, address)
	if err != nil {
		return nil, err
	}
	d := &dialReq{st: st, done: make(chan error, 1)}
	if err := l.enqueue(task{kind: taskDial, d: d}); err != nil {
		st.Close()
		return nil, err
	}
	select {
	case err := <-d.done:
		return d.c, err
	case <-ctx.Done():
		if d.state.CompareAndSwap(dialPending, dialCancelled) {
			l.enqueue(task{kind: taskDialCancel, d: d})
			return nil, ctx.Err()
		}
		err := <-d.done // the loop finished it meanwhile
		return d.c, err
	}
}

// finish answers the dialer, unless it gave up; it reports whether the
// dialer gets c.
func (d *dialReq) finish(c *Conn, err error) bool {
	if !d.state.CompareAndSwap(dialPending, dialFinished) {
		return false
	}
	d.c = c
	d.done <- err
	return true
}

// startDial registers d's stream for Writable, the sign of a finished
// connect.
func (l *Loop) startDial(d *dialReq) {
	if l.current != loopRunning {
		d.st.Close()
		d.finish(nil, ErrServerClosed)
		return
	}
	l.add(d.st, d)
}

// finishDial handles an event of a connecting c: it reports whether c is
// now connected and open.
func (l *Loop) finishDial(c *Conn, ev poller.Event) bool {
	if !ev.IsWritable() && !ev.IsError() && !ev.IsWriteClosed() && !ev.IsReadClosed() {
		return false
	}
	err := c.sock().TakeError()
	if err == nil && ev.IsError() {
		err = errConnectFailed
	}
	if err != nil {
		l.failDial(c, err)
		return false
	}
	d := c.ext.dial
	c.ext.dial = nil
	c.interest(poller.Readable)
	if c.flags&fClosing != 0 || !d.state.CompareAndSwap(dialPending, dialFinished) {
		l.drop(c) // the dialer gave up
		return false
	}
	l.opened(c)
	d.c = c
	d.done <- nil
	return c.flags&(fClosing|fClosed) == 0
}

// failDial ends c's dial with err and drops c.
func (l *Loop) failDial(c *Conn, err error) {
	d := c.ext.dial
	c.ext.dial = nil
	l.drop(c)
	d.finish(nil, err)
}
