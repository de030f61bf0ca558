package evloop_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/evpoll/poller/evloop"
)

// Many connections over three loops: every byte comes back, each
// connection is opened and closed once, the close of the peer reads as an
// orderly one (nil), and Stats count the bytes and the open connections.
func TestEchoManyConns(t *testing.T) {
	h := &echo{}
	srv := &evloop.Server{Handler: h, Loops: 3}
	addr := start(t, srv)
	const conns, rounds = 24, 20
	var wg sync.WaitGroup
	errs := make(chan error, conns)
	for i := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := net.DialTimeout("tcp", addr, 5*time.Second)
			if err != nil {
				errs <- err
				return
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(20 * time.Second))
			msg := bytes.Repeat([]byte{byte('a' + i%26)}, 100+i*37)
			got := make([]byte, len(msg))
			for range rounds {
				if _, err := c.Write(msg); err != nil {
					errs <- err
					return
				}
				if _, err := io.ReadFull(c, got); err != nil {
					errs <- err
					return
				}
				if !bytes.Equal(got, msg) {
					errs <- fmt.Errorf("conn %d: echo differs", i)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	want := int64(0)
	for i := range conns {
		want += int64(rounds * (100 + i*37))
	}
	waitFor(t, "all connections closed", func() bool {
		st := srv.Stats()
		return st.BytesRead == want && st.Conns == 0
	})
	opened, closed := h.counts()
	if opened != conns || len(closed) != conns {
		t.Fatalf("OnOpen %d times, OnClose %d times, want %d each", opened, len(closed), conns)
	}
	for _, err := range closed {
		if err != nil {
			t.Errorf("OnClose after the peer's close: %v, want nil", err)
		}
	}
}

// A client that writes far more than the socket buffers hold before it
// reads: the backlog never grows past HighWater by more than one read's
// reply, because the loop stops reading, and every byte still comes back.
func TestBackpressure(t *testing.T) {
	const highWater = 64 << 10
	var maxBacklog atomic.Int64
	h := fn{data: func(c *evloop.Conn, in []byte) {
		c.Write(in)
		if n := int64(c.Buffered()); n > maxBacklog.Load() {
			maxBacklog.Store(n)
		}
	}}
	addr := start(t, &evloop.Server{Handler: h, Loops: 2, HighWater: highWater})
	c := dial(t, addr)
	msg := pattern(16 << 20)
	werr := make(chan error, 1)
	go func() {
		_, err := c.Write(msg)
		werr <- err
	}()
	// Let the server fill its backlog before reading anything.
	waitFor(t, "a backlog above the high-water mark", func() bool { return maxBacklog.Load() > highWater })
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(c, got); err != nil {
		t.Fatal(err)
	}
	if err := <-werr; err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, msg) {
		t.Fatal("echo differs from what was sent")
	}
	if m := maxBacklog.Load(); m > highWater+evloop.ReadBufSize {
		t.Fatalf("backlog reached %d bytes, want at most HighWater+ReadBufSize = %d", m, highWater+evloop.ReadBufSize)
	}
}

// Close with a backlog far larger than the socket buffers: the close waits
// until all of it has gone out, and writes after Close fail.
func TestCloseAfterBacklog(t *testing.T) {
	reply := pattern(8 << 20)
	var afterClose atomic.Value
	closed := make(chan error, 1)
	h := fn{
		data: func(c *evloop.Conn, in []byte) {
			c.Write(reply)
			c.Close()
			_, err := c.Write([]byte("after close"))
			afterClose.Store(fmt.Sprint(err))
		},
		close: func(c *evloop.Conn, err error) { closed <- err },
	}
	addr := start(t, &evloop.Server{Handler: h, Loops: 2})
	c := dial(t, addr)
	if _, err := c.Write([]byte("go")); err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(c)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, reply) {
		t.Fatalf("got %d bytes, want the %d-byte reply and then EOF", len(got), len(reply))
	}
	if err := <-closed; err != nil {
		t.Fatalf("OnClose after Close: %v, want nil", err)
	}
	if s := afterClose.Load(); s != net.ErrClosed.Error() {
		t.Fatalf("Write after Close: %v, want net.ErrClosed", s)
	}
}

// CloseWrite after a backlog: the peer reads all of it, then EOF, and the
// connection can still read what the peer sends after that.
func TestCloseWrite(t *testing.T) {
	reply := pattern(4 << 20)
	later := make(chan string, 1)
	h := fn{data: func(c *evloop.Conn, in []byte) {
		if string(in) == "go" {
			c.Write(reply)
			if err := c.CloseWrite(); err != nil {
				later <- "CloseWrite: " + err.Error()
			}
			return
		}
		later <- string(in)
		c.Close()
	}}
	addr := start(t, &evloop.Server{Handler: h, Loops: 1})
	c := dial(t, addr)
	if _, err := c.Write([]byte("go")); err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(c)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, reply) {
		t.Fatalf("got %d bytes before EOF, want %d", len(got), len(reply))
	}
	if _, err := c.Write([]byte("still reading")); err != nil {
		t.Fatal(err)
	}
	if s := <-later; s != "still reading" {
		t.Fatalf("after CloseWrite the server read %q", s)
	}
}

// Writev sends its buffers in order, also when the socket takes only part
// of them.
func TestWritev(t *testing.T) {
	big := pattern(6 << 20)
	h := fn{data: func(c *evloop.Conn, in []byte) {
		c.Writev([][]byte{[]byte("head:"), nil, big, []byte(":tail")})
		c.Close()
	}}
	addr := start(t, &evloop.Server{Handler: h, Loops: 1})
	c := dial(t, addr)
	c.Write([]byte("x"))
	got, err := io.ReadAll(c)
	if err != nil {
		t.Fatal(err)
	}
	want := append(append([]byte("head:"), big...), ":tail"...)
	if !bytes.Equal(got, want) {
		t.Fatalf("got %d bytes, want %d in order", len(got), len(want))
	}
}

// LocalAddr and RemoteAddr are the two ends the client sees swapped, and
// a connection's value stays with it across reads.
func TestAddrsAndValue(t *testing.T) {
	type count struct{ n int }
	h := fn{
		open: func(c *evloop.Conn) { c.SetValue(&count{}) },
		data: func(c *evloop.Conn, in []byte) {
			v := c.Value().(*count)
			v.n += len(in)
			fmt.Fprintf(c, "%s %s %d\n", c.LocalAddr(), c.RemoteAddr(), v.n)
		},
	}
	addr := start(t, &evloop.Server{Handler: h, Loops: 2})
	c := dial(t, addr)
	buf := make([]byte, 256)
	for i, want := range []int{3, 7} {
		c.Write([]byte("abcd")[:3+i])
		n, err := c.Read(buf)
		if err != nil {
			t.Fatal(err)
		}
		line := fmt.Sprintf("%s %s %d\n", c.RemoteAddr(), c.LocalAddr(), want)
		if string(buf[:n]) != line {
			t.Fatalf("got %q, want %q", buf[:n], line)
		}
	}
}

// AsyncWrite from another goroutine: every write arrives, in order.
func TestAsyncWrite(t *testing.T) {
	conns := make(chan *evloop.Conn, 1)
	addr := start(t, &evloop.Server{Handler: fn{open: func(c *evloop.Conn) { conns <- c }}, Loops: 2})
	c := dial(t, addr)
	sc := <-conns
	const n = 2000
	var want bytes.Buffer
	go func() {
		for i := range n {
			if err := sc.AsyncWrite(fmt.Appendf(nil, "line %d\n", i)); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	for i := range n {
		fmt.Fprintf(&want, "line %d\n", i)
	}
	got := make([]byte, want.Len())
	if _, err := io.ReadFull(c, got); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want.Bytes()) {
		t.Fatal("async writes arrived out of order or damaged")
	}
}

// A panic in OnData closes that connection only, with an error naming the
// panic; the loop goes on serving the others.
func TestHandlerPanicClosesConn(t *testing.T) {
	closed := make(chan error, 2)
	h := fn{
		data: func(c *evloop.Conn, in []byte) {
			if string(in) == "boom" {
				panic("kaboom")
			}
			c.Write(in)
		},
		close: func(c *evloop.Conn, err error) { closed <- err },
	}
	addr := start(t, &evloop.Server{Handler: h, Loops: 1})
	good, bad := dial(t, addr), dial(t, addr)
	if got := roundTrip(t, good, []byte("hi")); string(got) != "hi" {
		t.Fatalf("echo %q", got)
	}
	bad.Write([]byte("boom"))
	if _, err := bad.Read(make([]byte, 1)); err == nil {
		t.Fatal("the panicking connection is still open")
	}
	err := <-closed
	var pe *evloop.PanicError
	if !errors.As(err, &pe) || pe.Value != "kaboom" || !strings.Contains(err.Error(), "kaboom") {
		t.Fatalf("OnClose got %v, want a *PanicError naming kaboom", err)
	}
	if got := roundTrip(t, good, []byte("still")); string(got) != "still" {
		t.Fatalf("echo after the panic %q", got)
	}
}

// A connection that reads nothing for IdleTimeout is closed with
// ErrIdleTimeout; the peer reads EOF.
func TestIdleTimeout(t *testing.T) {
	closed := make(chan error, 1)
	h := fn{data: func(c *evloop.Conn, in []byte) { c.Write(in) }, close: func(c *evloop.Conn, err error) { closed <- err }}
	addr := start(t, &evloop.Server{Handler: h, Loops: 1, IdleTimeout: 100 * time.Millisecond})
	c := dial(t, addr)
	t0 := time.Now()
	if got := roundTrip(t, c, []byte("ping")); string(got) != "ping" {
		t.Fatalf("echo %q", got)
	}
	if _, err := c.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("read after idling: %v, want EOF", err)
	}
	if idle := time.Since(t0); idle < 100*time.Millisecond {
		t.Fatalf("closed after %v idle, before IdleTimeout", idle)
	}
	if err := <-closed; !errors.Is(err, evloop.ErrIdleTimeout) {
		t.Fatalf("OnClose: %v, want ErrIdleTimeout", err)
	}
}
