package evloop_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/evpoll/poller"
	"github.com/evpoll/poller/evloop"
)

// unixSockPath returns a short socket path in a fresh directory.
func unixSockPath(t *testing.T) string {
	dir, err := os.MkdirTemp("", "ev")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return filepath.Join(dir, "s")
}

// listenOrSkip runs srv.Listen; on Windows without AF_UNIX (Wine 8) the
// test skips, quoting the error.
func listenOrSkip(t *testing.T, srv *evloop.Server) {
	t.Helper()
	err := srv.Listen()
	if errors.Is(err, poller.ErrUnixUnsupported) && runtime.GOOS == "windows" {
		t.Skipf("the OS lacks Unix-domain stream sockets: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
}

// A Unix-stream echo through a Server: "unix://path" beside a TCP
// address, several clients with more than a socket buffer each, a
// client's CloseWrite ending its connection in order, the connections'
// addresses, and the socket file removed when the server closes.
func TestServeUnixEcho(t *testing.T) {
	path := unixSockPath(t)
	testServeUnix(t, path, func() {
		if _, err := os.Lstat(path); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("after Close, Lstat(%s) = %v, want the file gone", path, err)
		}
	})
}

// The same with a Linux abstract name: no file at all.
func TestServeUnixEchoAbstract(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skipf("abstract socket names are Linux's; %s has none", runtime.GOOS)
	}
	testServeUnix(t, fmt.Sprintf("@evloop-test-%d", os.Getpid()), func() {})
}

func testServeUnix(t *testing.T, path string, afterClose func()) {
	var mu sync.Mutex
	var addrs []string
	var closed []error
	h := fn{
		open: func(c *evloop.Conn) {
			mu.Lock()
			addrs = append(addrs, c.LocalAddr().Network()+" "+c.LocalAddr().String()+" "+c.RemoteAddr().Network())
			mu.Unlock()
		},
		data: func(c *evloop.Conn, in []byte) { c.Write(in) },
		close: func(c *evloop.Conn, err error) {
			mu.Lock()
			closed = append(closed, err)
			mu.Unlock()
		},
	}
	srv := &evloop.Server{Handler: h, Loops: 2, Addrs: []string{"unix://" + path, "tcp://127.0.0.1:0"}}
	listenOrSkip(t, srv)
	la := srv.ListenerAddrs()
	if len(la) != 2 || la[0].Network() != "unix" || la[0].String() != path || la[1].Network() != "tcp" {
		t.Fatalf("ListenerAddrs %v", la)
	}
	start(t, srv)

	const clients, size = 4, 1 << 20
	msg := pattern(size)
	errc := make(chan error, clients)
	for range clients {
		go func() {
			c, err := net.DialTimeout("unix", path, 5*time.Second)
			if err != nil {
				errc <- err
				return
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(30 * time.Second))
			werr := make(chan error, 1)
			go func() {
				_, err := c.Write(msg)
				if err == nil {
					err = c.(*net.UnixConn).CloseWrite()
				}
				werr <- err
			}()
			got, err := io.ReadAll(c) // to the server's close after our CloseWrite
			if err == nil {
				err = <-werr
			}
			if err == nil && !bytes.Equal(got, msg) {
				err = fmt.Errorf("echo of %d bytes came back as %d, different", len(msg), len(got))
			}
			errc <- err
		}()
	}
	for range clients {
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	}
	roundTrip(t, dial(t, la[1].String()), []byte("tcp too"))
	waitFor(t, "the Unix connections' OnClose", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(closed) >= clients
	})
	mu.Lock()
	for i, err := range closed[:clients] {
		if err != nil {
			t.Errorf("OnClose %d: %v, want nil (orderly close)", i, err)
		}
	}
	want := "unix " + path + " unix"
	for _, a := range addrs[:clients] {
		if a != want {
			t.Errorf("connection addresses %q, want %q", a, want)
		}
	}
	mu.Unlock()
	srv.Close()
	afterClose()
}

// Addresses with an unknown scheme or a bad Unix path are refused.
func TestServeUnixAddrErrors(t *testing.T) {
	for _, addr := range []string{"udp://127.0.0.1:0", "unix://", "unixgram://x", "unix:///" + string(bytes.Repeat([]byte("x"), 200))} {
		srv := &evloop.Server{Handler: &echo{}, Loops: 1, Addrs: []string{addr}}
		if err := srv.Listen(); err == nil {
			srv.Close()
			t.Errorf("Listen(%q): no error", addr)
		}
	}
}

// Loop.Dial with "unix": a dialed Unix connection served by the Handler,
// to a Server's own "unix://" listener; a missing path fails with ENOENT.
func TestDialUnix(t *testing.T) {
	path := unixSockPath(t)
	got := make(chan string, 1)
	var reply []byte // loop goroutine only
	srv := &evloop.Server{Loops: 2, Addrs: []string{"unix://" + path}, Handler: fn{data: func(c *evloop.Conn, in []byte) {
		if !c.Dialed() {
			c.Write(append([]byte("ok:"), in...))
			return
		}
		reply = append(reply, in...)
		if len(reply) >= 4 {
			got <- string(reply) + " " + c.RemoteAddr().String()
			c.Close()
		}
	}}}
	listenOrSkip(t, srv)
	start(t, srv)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := srv.Dial(ctx, "unix", path)
	if err != nil {
		t.Fatal(err)
	}
	if !c.Dialed() || c.RemoteAddr().Network() != "unix" {
		t.Fatalf("Dialed %v, RemoteAddr %v", c.Dialed(), c.RemoteAddr())
	}
	c.AsyncWrite([]byte("x"))
	if s := <-got; s != "ok:x "+path {
		t.Fatalf("got %q", s)
	}
	if _, err := srv.Dial(ctx, "unix", path+"-missing"); !errors.Is(err, syscall.ENOENT) {
		t.Fatalf("Dial to a missing path: %v, want ENOENT", err)
	}
}

// Conn.Writev on a Unix connection, past one batch's collection, so that
// it goes out with UnixStream.Writev.
func TestUnixConnWritev(t *testing.T) {
	path := unixSockPath(t)
	body := pattern(3 * evloop.ReadBufSize)
	srv := &evloop.Server{Loops: 1, Addrs: []string{"unix://" + path}, Handler: fn{data: func(c *evloop.Conn, in []byte) {
		c.Writev([][]byte{[]byte("head:"), body[:evloop.ReadBufSize], body[evloop.ReadBufSize:]})
	}}}
	listenOrSkip(t, srv)
	start(t, srv)
	c, err := net.DialTimeout("unix", path, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	want := append([]byte("head:"), body...)
	if got := roundTripN(t, c, []byte("go"), len(want)); !bytes.Equal(got, want) {
		t.Fatalf("Writev's %d bytes came back as %d, different", len(want), len(got))
	}
}

// roundTripN writes msg and reads n bytes back.
func roundTripN(t *testing.T, c net.Conn, msg []byte, n int) []byte {
	t.Helper()
	if _, err := c.Write(msg); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, n)
	if _, err := io.ReadFull(c, got); err != nil {
		t.Fatal(err)
	}
	return got
}
