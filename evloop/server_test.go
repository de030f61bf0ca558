package evloop_test

import (
	"context"
	"errors"
	"io"
	"log"
	"net"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/evpoll/poller/evloop"
)

// onLoop runs f on loop 0 of srv and waits for it.
func onLoop(t *testing.T, srv *evloop.Server, f func(l *evloop.Loop)) {
	t.Helper()
	done := make(chan struct{})
	l := srv.Loop(0)
	if err := l.Post(func() { f(l); close(done) }); err != nil {
		t.Fatal(err)
	}
	<-done
}

// Timers run on the loop in the order of their deadlines; a stopped one
// never runs; Every runs until stopped.
func TestTimers(t *testing.T) {
	srv := &evloop.Server{Loops: 1}
	start(t, srv)
	events := make(chan string, 16)
	onLoop(t, srv, func(l *evloop.Loop) {
		l.AfterFunc(60*time.Millisecond, func() { events <- "60ms" })
		l.AfterFunc(20*time.Millisecond, func() { events <- "20ms" })
		stopped := l.AfterFunc(40*time.Millisecond, func() { events <- "stopped one ran" })
		if !stopped.Stop() || stopped.Stop() {
			events <- "Stop: want true once, then false"
		}
		n := 0
		var every *evloop.Timer
		every = l.Every(5*time.Millisecond, func() {
			n++
			events <- "tick"
			if n == 3 {
				every.Stop()
			}
		})
	})
	var got []string
	for len(got) < 5 {
		got = append(got, <-events)
	}
	// What holds however late the loop runs (Wine under load stalls it for
	// tens of milliseconds): due timers run in deadline order, so the first
	// tick (due at 5ms) comes before the 20ms timer and 20ms before 60ms;
	// Every runs until its Stop, three times; a stopped timer never runs.
	// Later ticks may interleave with 20ms when the loop was stalled.
	ticks := slices.DeleteFunc(slices.Clone(got), func(e string) bool { return e != "tick" })
	oneShots := slices.DeleteFunc(slices.Clone(got), func(e string) bool { return e == "tick" })
	if got[0] != "tick" || len(ticks) != 3 || !slices.Equal(oneShots, []string{"20ms", "60ms"}) {
		t.Fatalf("timers ran as %q, want the first tick first, three ticks, then 20ms before 60ms", got)
	}
	onLoop(t, srv, func(*evloop.Loop) {}) // and nothing else is pending
	select {
	case e := <-events:
		t.Fatalf("unexpected %q", e)
	default:
	}
}

// A timer's deadline is measured with the clock, not with Wait's turns:
// AfterFunc(d) never runs before d has passed.
func TestTimerNotEarly(t *testing.T) {
	srv := &evloop.Server{Loops: 1}
	start(t, srv)
	ran := make(chan time.Duration, 1)
	onLoop(t, srv, func(l *evloop.Loop) {
		t0 := time.Now()
		l.AfterFunc(30*time.Millisecond, func() { ran <- time.Since(t0) })
	})
	if d := <-ran; d < 30*time.Millisecond {
		t.Fatalf("AfterFunc(30ms) ran after %v", d)
	}
}

// Post from many goroutines: every function runs, on the loop, one at a
// time (the counter needs no lock; -race checks it).
func TestPost(t *testing.T) {
	srv := &evloop.Server{Loops: 2}
	start(t, srv)
	counter := 0
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 100 {
				done := make(chan struct{})
				srv.Loop(1).Post(func() { counter++; close(done) })
				<-done
			}
		}()
	}
	wg.Wait()
	var got int
	done := make(chan struct{})
	srv.Loop(1).Post(func() { got = counter; close(done) })
	<-done
	if got != 800 {
		t.Fatalf("counter %d, want 800", got)
	}
}

// A panic in a posted function or a timer is logged; the loop goes on.
func TestPostPanicKeepsLoop(t *testing.T) {
	srv := &evloop.Server{Loops: 1, ErrorLog: discardLog()}
	start(t, srv)
	srv.Loop(0).Post(func() { panic("posted") })
	onLoop(t, srv, func(l *evloop.Loop) { l.AfterFunc(0, func() { panic("timer") }) })
	onLoop(t, srv, func(*evloop.Loop) {})
}

type ticker struct {
	evloop.BaseHandler
	mu    sync.Mutex
	ticks map[int]int
}

func (tk *ticker) OnTick(l *evloop.Loop) time.Duration {
	tk.mu.Lock()
	defer tk.mu.Unlock()
	tk.ticks[l.Index()]++
	if tk.ticks[l.Index()] == 3 {
		return 0 // stop
	}
	return time.Millisecond
}

func (tk *ticker) get() map[int]int {
	tk.mu.Lock()
	defer tk.mu.Unlock()
	return maps(tk.ticks)
}

func maps(m map[int]int) map[int]int {
	out := map[int]int{}
	for k, v := range m {
		out[k] = v
	}
	return out
}

// OnTick runs on every loop until it returns 0.
func TestOnTick(t *testing.T) {
	tk := &ticker{ticks: map[int]int{}}
	srv := &evloop.Server{Handler: tk, Loops: 2}
	start(t, srv)
	waitFor(t, "three ticks per loop", func() bool {
		m := tk.get()
		return m[0] == 3 && m[1] == 3
	})
	for i := range 2 {
		onLoop(t, srv, func(*evloop.Loop) {}) // let more ticks run if any were due
		_ = i
	}
	if m := tk.get(); m[0] != 3 || m[1] != 3 {
		t.Fatalf("ticks %v, want 3 on each loop", m)
	}
}

// Two listeners, both served.
func TestTwoListeners(t *testing.T) {
	srv := &evloop.Server{Handler: &echo{}, Loops: 2, Addrs: []string{"127.0.0.1:0", "127.0.0.1:0"}}
	start(t, srv)
	addrs := srv.ListenerAddrs()
	if len(addrs) != 2 || addrs[0].String() == addrs[1].String() {
		t.Fatalf("addresses %v", addrs)
	}
	for _, a := range addrs {
		c := dial(t, a.String())
		if got := roundTrip(t, c, []byte("hello")); string(got) != "hello" {
			t.Fatalf("%v: echo %q", a, got)
		}
	}
}

// Bad configurations and calls get typed errors.
func TestServerErrors(t *testing.T) {
	if err := (&evloop.Server{Addrs: []string{"127.0.0.1:0"}}).Listen(); !errors.Is(err, evloop.ErrNoHandler) {
		t.Errorf("Listen without Handler: %v, want ErrNoHandler", err)
	}
	if err := (&evloop.Server{PacketAddrs: []string{"127.0.0.1:0"}}).Listen(); !errors.Is(err, evloop.ErrNoHandler) {
		t.Errorf("Listen without PacketHandler: %v, want ErrNoHandler", err)
	}
	if err := (&evloop.Server{Handler: &echo{}, Addrs: []string{"no such host:x"}}).Listen(); err == nil {
		t.Error("Listen on a bad address: no error")
	}
	srv := &evloop.Server{Handler: &echo{}, Loops: 1}
	roundTrip(t, dial(t, start(t, srv)), []byte("serving")) // Serve has begun
	if err := srv.Listen(); !errors.Is(err, evloop.ErrStarted) {
		t.Errorf("second Listen: %v, want ErrStarted", err)
	}
	if err := srv.Serve(context.Background()); !errors.Is(err, evloop.ErrStarted) {
		t.Errorf("second Serve: %v, want ErrStarted", err)
	}
	// Listen, then Shutdown without Serve releases the listener.
	idle := &evloop.Server{Handler: &echo{}, Loops: 1, Addrs: []string{"127.0.0.1:0"}}
	if err := idle.Listen(); err != nil {
		t.Fatal(err)
	}
	addr := idle.ListenerAddrs()[0].String()
	if err := idle.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if c, err := net.DialTimeout("tcp", addr, 5*time.Second); err == nil {
		c.Close()
		t.Error("listener still open after Shutdown of an unserved server")
	}
}

// Serve returns ErrServerClosed when its context ends, and the
// connections are closed with ErrServerClosed.
func TestServeContext(t *testing.T) {
	h := &echo{}
	srv := &evloop.Server{Handler: h, Loops: 2, Addrs: []string{"127.0.0.1:0"}}
	if err := srv.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	c := dial(t, srv.ListenerAddrs()[0].String())
	roundTrip(t, c, []byte("x"))
	cancel()
	if err := <-done; !errors.Is(err, evloop.ErrServerClosed) {
		t.Fatalf("Serve: %v, want ErrServerClosed", err)
	}
	if _, err := c.Read(make([]byte, 1)); err == nil {
		t.Fatal("connection open after Serve returned")
	}
	if _, closed := h.counts(); len(closed) != 1 || !errors.Is(closed[0], evloop.ErrServerClosed) {
		t.Fatalf("OnClose got %v, want one ErrServerClosed", closed)
	}
}

// Shutdown sends each connection's backlog before closing it, and stops
// accepting.
func TestShutdownFlushes(t *testing.T) {
	reply := pattern(8 << 20)
	got := make(chan string, 1)
	h := fn{
		data:  func(c *evloop.Conn, in []byte) { c.Write(reply) },
		close: func(c *evloop.Conn, err error) { got <- errString(err) },
	}
	srv := &evloop.Server{Handler: h, Loops: 2, Addrs: []string{"127.0.0.1:0"}}
	if err := srv.Listen(); err != nil {
		t.Fatal(err)
	}
	addr := srv.ListenerAddrs()[0].String()
	served := make(chan error, 1)
	go func() { served <- srv.Serve(context.Background()) }()
	c := dial(t, addr)
	c.Write([]byte("go"))
	// The first byte back: the reply is being sent, most of it in the backlog.
	if _, err := io.ReadFull(c, make([]byte, 1)); err != nil {
		t.Fatal(err)
	}
	shut := make(chan error, 1)
	go func() { shut <- srv.Shutdown(context.Background()) }()
	rest, err := io.ReadAll(c)
	if err != nil {
		t.Fatal(err)
	}
	if len(rest) != len(reply)-1 {
		t.Fatalf("got %d bytes before EOF, want %d", len(rest)+1, len(reply))
	}
	if err := <-shut; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if err := <-served; !errors.Is(err, evloop.ErrServerClosed) {
		t.Fatalf("Serve: %v", err)
	}
	if s := <-got; s != evloop.ErrServerClosed.Error() {
		t.Fatalf("OnClose: %s, want ErrServerClosed", s)
	}
	if c, err := net.DialTimeout("tcp", addr, 5*time.Second); err == nil {
		c.Close()
		t.Fatal("still accepting after Shutdown")
	}
}

// A backlog that cannot go out (the peer does not read): Shutdown returns
// ctx.Err() at its deadline and closes the connection anyway.
func TestShutdownDeadline(t *testing.T) {
	h := fn{data: func(c *evloop.Conn, in []byte) { c.Write(pattern(32 << 20)) }}
	srv := &evloop.Server{Handler: h, Loops: 1, Addrs: []string{"127.0.0.1:0"}}
	if err := srv.Listen(); err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(context.Background()) }()
	c := dial(t, srv.ListenerAddrs()[0].String())
	c.Write([]byte("go"))
	io.ReadFull(c, make([]byte, 1))
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := srv.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown: %v, want DeadlineExceeded", err)
	}
	if err := <-served; !errors.Is(err, evloop.ErrServerClosed) {
		t.Fatalf("Serve: %v", err)
	}
}

func errString(err error) string {
	if err == nil {
		return "<nil>"
	}
	return err.Error()
}

// proxy relays between each accepted connection and a connection it dials
// to backend, both on the same loop.
type proxy struct {
	backend string
}

type pipe struct {
	peer    *evloop.Conn
	pending []byte // read from the client before the backend was connected
}

func (p *proxy) OnOpen(c *evloop.Conn) {
	if c.Dialed() {
		return // the backend side: its pipe comes with the Post below
	}
	client := &pipe{}
	c.SetValue(client)
	go func() {
		b, err := c.Loop().Dial(context.Background(), "tcp", p.backend)
		c.Loop().Post(func() {
			if err != nil {
				c.Close()
				return
			}
			client.peer = b
			b.SetValue(&pipe{peer: c})
			b.Write(client.pending)
			client.pending = nil
		})
	}()
}

func (p *proxy) OnData(c *evloop.Conn, in []byte) {
	pp, _ := c.Value().(*pipe)
	switch {
	case pp == nil:
	case pp.peer == nil:
		pp.pending = append(pp.pending, in...)
	default:
		pp.peer.Write(in)
	}
}

func (p *proxy) OnClose(c *evloop.Conn, err error) {
	if pp, _ := c.Value().(*pipe); pp != nil && pp.peer != nil {
		pp.peer.Close()
	}
}

// A small proxy built with Dial: bytes go client → proxy → echo backend →
// proxy → client, and a close on one side closes the other.
func TestDialProxy(t *testing.T) {
	backend := start(t, &evloop.Server{Handler: &echo{}, Loops: 1})
	px := &evloop.Server{Handler: &proxy{backend: backend}, Loops: 2}
	addr := start(t, px)
	c := dial(t, addr)
	for _, n := range []int{1, 1000, 300000} {
		msg := pattern(n)
		if got := roundTrip(t, c, msg); string(got) != string(msg) {
			t.Fatalf("%d bytes through the proxy came back different", n)
		}
	}
	c.Close()
	waitFor(t, "both proxy connections closed", func() bool { return px.Stats().Conns == 0 })
}

// Dial to a closed port fails with the OS's refusal; Dial with an ended
// context fails with its error.
func TestDialErrors(t *testing.T) {
	srv := &evloop.Server{Handler: &echo{}, Loops: 1}
	start(t, srv)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := srv.Dial(ctx, "tcp", closed); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("Dial to a closed port: %v, want ECONNREFUSED", err)
	}
	ended, cancel2 := context.WithCancel(context.Background())
	cancel2()
	if _, err := srv.Dial(ended, "tcp", closed); !errors.Is(err, context.Canceled) {
		t.Errorf("Dial with an ended context: %v, want context.Canceled", err)
	}
	if _, err := srv.Dial(ctx, "udp", closed); err == nil {
		t.Error("Dial udp: no error")
	}
	if srv.Stats().Conns != 0 {
		t.Errorf("%d connections open after failed dials", srv.Stats().Conns)
	}
}

// Dial then AsyncWrite and Close from the dialing goroutine.
func TestDialWrite(t *testing.T) {
	backend := start(t, &evloop.Server{Handler: fn{data: func(c *evloop.Conn, in []byte) {
		c.Write([]byte("ok:"))
		c.Write(in)
	}}, Loops: 1})
	got := make(chan string, 1)
	var reply []byte // loop goroutine only
	srv := &evloop.Server{Handler: fn{data: func(c *evloop.Conn, in []byte) {
		reply = append(reply, in...) // "ok:" and "x" may come in two reads
		if len(reply) >= 4 {
			got <- string(reply)
			c.Close()
		}
	}}, Loops: 1}
	start(t, srv)
	c, err := srv.Dial(context.Background(), "tcp", backend)
	if err != nil {
		t.Fatal(err)
	}
	if c.Loop() != srv.Loop(0) || !c.Dialed() {
		t.Fatal("dialed connection on a loop of another server, or not Dialed")
	}
	c.AsyncWrite([]byte("x"))
	if s := <-got; s != "ok:x" {
		t.Fatalf("got %q", s)
	}
}

func discardLog() *log.Logger { return log.New(io.Discard, "", 0) }
