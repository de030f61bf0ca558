// Package evloop is a multi-loop network server framework on poller, for
// the users of gnet-style event loops, on Linux, the BSDs, macOS and
// natively on Windows.
//
// A Server runs Loops event loops (GOMAXPROCS by default), each one Poll
// and one goroutine, and no goroutine per connection. Every callback of a
// connection runs on its loop's goroutine, one at a time, so a Handler
// needs no lock for the state of a connection or of a loop:
//
//   - Handler.OnOpen(c) when a connection is accepted or dialed;
//   - Handler.OnData(c, in) with the bytes of one read (in is the loop's
//     read buffer: valid during the call only);
//   - Handler.OnClose(c, err) once, when c is closed: err is nil for an
//     orderly close (the peer's or Close's), else the reason
//     (ErrIdleTimeout, ErrServerClosed, a *PanicError, an OS error);
//   - Ticker.OnTick(l), if the Handler has it, on every loop.
//
// Conn.Write collects a connection's writes of one batch of callbacks (one
// Wait's events, then the inbox and the timers) and sends them with one
// write system call when the batch ends, before the loop waits again. What
// the socket does not take stays in the connection's backlog, sent when
// the socket has room; while the backlog
// is above Server.HighWater the loop reads that connection no more
// (backpressure). Conn.AsyncWrite and Loop.Post are the ways in from other
// goroutines: they queue work in the loop's inbox and wake it.
//
// Each loop has timers (Loop.AfterFunc, Loop.Every) kept in a heap and run
// on the loop goroutine; the next one sets the timeout of the loop's Wait,
// so a timer costs no goroutine and no time.Timer.
//
// # Listeners
//
// Loop 0 owns the listeners (TCP and Unix-domain): it accepts and deals
// the connections out to the loops round-robin, through each loop's inbox.
// poller's ListenConfig has ReusePort now; a later Server may use it on
// Linux and the BSDs to give every loop its own SO_REUSEPORT listener on
// each address, so that the kernel spreads the connections and loop 0 no
// longer accepts for the others. On Windows, which has no SO_REUSEPORT,
// the hand-over stays. UDP sockets
// (Server.PacketAddrs) are spread over the loops, one loop each.
//
// # Steady state
//
// Reading, OnData and a Write the socket takes allocate nothing; an echo
// server serves messages without allocating (asserted by a test on Linux
// and under Wine). So does the UDP path: OnPacket and Reply (poller's
// ReadFromAddrPort and WriteToAddrPort) make no allocation per datagram
// (TestPacketZeroAllocs).
package evloop

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"runtime/debug"
	"time"
)

var (
	// ErrServerClosed is the error Serve returns once the server was
	// closed by Shutdown, Close or its context, and the error OnClose
	// gets for a connection closed because the server stopped.
	ErrServerClosed = errors.New("evloop: server closed")
	// ErrIdleTimeout is the error OnClose gets for a connection closed
	// after Server.IdleTimeout without reading.
	ErrIdleTimeout = errors.New("evloop: idle timeout")
	// ErrNoHandler: Server.Addrs without Handler, or Server.PacketAddrs
	// without PacketHandler.
	ErrNoHandler = errors.New("evloop: no handler for the addresses")
	// ErrStarted: Listen or Serve called a second time.
	ErrStarted = errors.New("evloop: server already started")
)

// PanicError is the error OnClose gets when a callback of the connection
// panicked; the connection is closed, its loop and the server go on.
type PanicError struct {
	Value any    // what the callback panicked with
	Stack []byte // the goroutine's stack at the panic
}

// Error names the panic's value.
func (e *PanicError) Error() string { return fmt.Sprintf("evloop: handler panic: %v", e.Value) }

func newPanicError(v any) *PanicError { return &PanicError{Value: v, Stack: debug.Stack()} }

// Handler is a stream protocol. Its methods run on the connection's loop
// goroutine only. Embed BaseHandler to get empty ones.
type Handler interface {
	// OnOpen is called once when c is accepted or dialed, before any
	// OnData.
	OnOpen(c *Conn)
	// OnData handles the bytes one read returned. in is valid during the
	// call only.
	OnData(c *Conn, in []byte)
	// OnClose is called once when c has been closed; err is nil for an
	// orderly close, else the reason.
	OnClose(c *Conn, err error)
}

// Ticker is an optional interface of a Handler: OnTick runs on every loop
// when it starts, then again after each delay it returns, until it returns
// a delay of zero or less.
type Ticker interface {
	OnTick(l *Loop) (delay time.Duration)
}

// PacketHandler is a datagram protocol, for Server.PacketAddrs. OnPacket
// runs on the loop of pc; in is valid during the call only, and
// pc.Reply answers from.
type PacketHandler interface {
	OnPacket(pc *PacketConn, from netip.AddrPort, in []byte)
}

// BaseHandler has empty Handler methods, to embed in a Handler that needs
// only some of them.
type BaseHandler struct{}

// OnOpen does nothing.
func (BaseHandler) OnOpen(*Conn) {}

// OnData does nothing.
func (BaseHandler) OnData(*Conn, []byte) {}

// OnClose does nothing.
func (BaseHandler) OnClose(*Conn, error) {}

// Stats are a server's counters.
type Stats struct {
	BytesRead int64 // bytes read from connections so far, counted once per Wait
	Conns     int64 // connections open now
}

// addrs returns the local addresses of listeners.
func addrsOf[T interface{ Addr() net.Addr }](xs []T) []net.Addr {
	out := make([]net.Addr, len(xs))
	for i, x := range xs {
		out[i] = x.Addr()
	}
	return out
}
