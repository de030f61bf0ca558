package evloop

import (
	"context"
	"io"
	"log"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/evpoll/poller"
)

// An idle connection's own share of memory stays in the 32-byte size class,
// as examples/echo's own conn was before evloop.
func TestConnSize(t *testing.T) {
	if n := unsafe.Sizeof(Conn{}); n > 32 {
		t.Errorf("Conn is %d bytes, want at most 32", n)
	}
}

type echoHandler struct{ BaseHandler }

func (echoHandler) OnData(c *Conn, in []byte) { c.Write(in) }

// Accept failing with EMFILE: loop 0 backs off (5 ms, doubling) instead of
// spinning, and accepts again once the error clears.
func TestAcceptBackoff(t *testing.T) {
	var (
		mu       sync.Mutex
		failures []time.Time
		failing  atomic.Bool
	)
	failing.Store(true)
	srv := &Server{Handler: echoHandler{}, Loops: 2, Addrs: []string{"127.0.0.1:0"},
		ErrorLog: log.New(io.Discard, "", 0)}
	srv.acceptFn = func(ln *poller.TCPListener) (*poller.TCPStream, error) {
		if failing.Load() {
			mu.Lock()
			failures = append(failures, time.Now())
			mu.Unlock()
			return nil, syscall.EMFILE
		}
		st, _, err := ln.Accept()
		return st, err
	}
	if err := srv.Listen(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(context.Background()) }()
	defer func() { srv.Close(); <-done }()
	c, err := net.DialTimeout("tcp", srv.ListenerAddrs()[0].String(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	count := func() int { mu.Lock(); defer mu.Unlock(); return len(failures) }
	deadline := time.Now().Add(10 * time.Second)
	for count() < 5 {
		if time.Now().After(deadline) {
			t.Fatalf("only %d accept attempts in 10 s", count())
		}
		time.Sleep(5 * time.Millisecond)
	}
	mu.Lock()
	got := append([]time.Time(nil), failures[:5]...)
	mu.Unlock()
	// Attempts 2..5 come after 5, 10, 20 and 40 ms: never sooner.
	want := minAcceptBackoff
	for i := 1; i < len(got); i++ {
		if gap := got[i].Sub(got[i-1]); gap < want {
			t.Fatalf("attempt %d came %v after the one before, want at least %v (spinning)", i+1, gap, want)
		}
		want *= 2
	}
	failing.Store(false)
	if _, err := c.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 5)
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "hello" {
		t.Fatalf("echo after the errors cleared: %q, %v", buf, err)
	}
}

// pieces writes what it reads back one byte per Write and counts its OnData
// calls.
type pieces struct {
	BaseHandler
	calls atomic.Int64
}

func (h *pieces) OnData(c *Conn, in []byte) {
	h.calls.Add(1)
	for i := range in {
		c.Write(in[i : i+1])
	}
}

// Writes made in one batch of callbacks go out with one write system call
// per connection, not one per Write.
func TestWritesFlushOncePerBatch(t *testing.T) {
	h := &pieces{}
	srv := &Server{Handler: h, Loops: 1, Addrs: []string{"127.0.0.1:0"}}
	if err := srv.Listen(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(context.Background()) }()
	defer func() { srv.Close(); <-done }()
	c, err := net.DialTimeout("tcp", srv.ListenerAddrs()[0].String(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	msg := []byte("0123456789abcdef")
	got := make([]byte, len(msg))
	for range 20 {
		if _, err := c.Write(msg); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(c, got); err != nil || string(got) != string(msg) {
			t.Fatalf("got %q, %v; want %q", got, err, msg)
		}
	}
	srv.Close()
	<-done // the loop has returned: its counter is ours to read
	done <- nil
	writes, calls := srv.loops[0].writes, h.calls.Load()
	if writes > calls {
		t.Fatalf("%d write calls for %d OnData calls of %d one-byte Writes each: want one per batch", writes, calls, len(msg))
	}
}
