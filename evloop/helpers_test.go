package evloop_test

import (
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/evpoll/poller/evloop"
)

// start listens on srv (one loopback address unless set; not again if the
// test called Listen), serves it, and at cleanup closes it and checks that
// Serve returned ErrServerClosed.
func start(t testing.TB, srv *evloop.Server) string {
	t.Helper()
	if srv.Addrs == nil && srv.Handler != nil {
		srv.Addrs = []string{"127.0.0.1:0"}
	}
	if err := srv.Listen(); err != nil && !errors.Is(err, evloop.ErrStarted) {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(context.Background()) }()
	t.Cleanup(func() {
		srv.Close()
		select {
		case err := <-done:
			if !errors.Is(err, evloop.ErrServerClosed) {
				t.Errorf("Serve: %v, want ErrServerClosed", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("Serve did not return after Close")
		}
	})
	if len(srv.Addrs) == 0 {
		return ""
	}
	return srv.ListenerAddrs()[0].String()
}

func dial(t testing.TB, addr string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(20 * time.Second))
	return c
}

// echo writes back what it reads and counts opens and closes.
type echo struct {
	mu     sync.Mutex
	opened int
	closed []error
}

func (e *echo) OnOpen(c *evloop.Conn) {
	e.mu.Lock()
	e.opened++
	e.mu.Unlock()
}

func (e *echo) OnData(c *evloop.Conn, in []byte) { c.Write(in) }

func (e *echo) OnClose(c *evloop.Conn, err error) {
	e.mu.Lock()
	e.closed = append(e.closed, err)
	e.mu.Unlock()
}

func (e *echo) counts() (opened int, closed []error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.opened, append([]error(nil), e.closed...)
}

// waitFor polls cond until it holds, failing t after 10 seconds.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// roundTrip writes msg and reads as many bytes back.
func roundTrip(t testing.TB, c net.Conn, msg []byte) []byte {
	t.Helper()
	if _, err := c.Write(msg); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(c, got); err != nil {
		t.Fatal(err)
	}
	return got
}

func pattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i>>11)
	}
	return b
}

// fn is a Handler made of functions; nil ones do nothing.
type fn struct {
	open  func(c *evloop.Conn)
	data  func(c *evloop.Conn, in []byte)
	close func(c *evloop.Conn, err error)
}

func (h fn) OnOpen(c *evloop.Conn) {
	if h.open != nil {
		h.open(c)
	}
}

func (h fn) OnData(c *evloop.Conn, in []byte) {
	if h.data != nil {
		h.data(c, in)
	}
}

func (h fn) OnClose(c *evloop.Conn, err error) {
	if h.close != nil {
		h.close(c, err)
	}
}
