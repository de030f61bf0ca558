package main

import (
	"bytes"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/evpoll/poller/evloop"
	"github.com/evpoll/poller/examples/internal/servetest"
)

// start serves the echo server on a free loopback port with n loops until
// t's cleanup, and returns it and its address.
func start(t *testing.T, n int) (*evloop.Server, string) {
	t.Helper()
	srv := newServer("127.0.0.1:0", n)
	return srv, servetest.Start(t, srv)
}

// Many connections across three loops, small messages each way.
func TestEchoManyConns(t *testing.T) {
	srv, addr := start(t, 3)
	const conns, rounds = 24, 20
	var wg sync.WaitGroup
	errs := make(chan error, conns)
	for i := 0; i < conns; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			c, err := net.DialTimeout("tcp", addr, 5*time.Second)
			if err != nil {
				errs <- err
				return
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(10 * time.Second))
			msg := bytes.Repeat([]byte{byte('a' + i%26)}, 100+i*37)
			got := make([]byte, len(msg))
			for r := 0; r < rounds; r++ {
				if _, err := c.Write(msg); err != nil {
					errs <- err
					return
				}
				if _, err := io.ReadFull(c, got); err != nil {
					errs <- err
					return
				}
				if !bytes.Equal(got, msg) {
					errs <- io.ErrUnexpectedEOF
					return
				}
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	want := int64(0)
	for i := 0; i < conns; i++ {
		want += int64(rounds * (100 + i*37))
	}
	// The counters are updated after each batch: poll until they settle.
	deadline := time.Now().Add(5 * time.Second)
	for {
		st := srv.Stats()
		echoed, live := st.BytesRead, st.Conns
		if echoed == want && live == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("echoed %d bytes (want %d), %d connections open (want 0)", echoed, want, live)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A client that writes far more than the socket buffers hold before it
// reads: the server must keep a backlog, wait for Writable, and resume.
func TestEchoBackpressure(t *testing.T) {
	_, addr := start(t, 2)
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	msg := make([]byte, 8<<20)
	for i := range msg {
		msg[i] = byte(i * 7)
	}
	werr := make(chan error, 1)
	go func() {
		time.Sleep(100 * time.Millisecond) // let buffers fill before reading
		_, err := c.Write(msg)
		werr <- err
	}()
	time.Sleep(300 * time.Millisecond)
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
}
