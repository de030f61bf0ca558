package loops_test

import (
	"bytes"
	"io"
	"net"
	"testing"
	"time"
	"unsafe"

	"github.com/evpoll/poller/examples/internal/loops"
	"github.com/evpoll/poller/examples/internal/loops/loopstest"
)

// An idle connection's own share of memory: the Conn of a handler without
// state per connection (examples/echo) stays in the 32-byte size class.
func TestConnSize(t *testing.T) {
	if n := unsafe.Sizeof(loops.Conn[struct{}]{}); n > 32 {
		t.Errorf("Conn[struct{}] is %d bytes, want at most 32", n)
	}
}

// burst answers any data with a reply far larger than the socket buffers
// hold, then closes: the close must wait until the backlog has gone out,
// and writes after Close must be dropped.
type burst struct{ reply []byte }

func (b burst) OnData(c *loops.Conn[struct{}], in []byte) {
	c.Write(b.reply)
	c.Close()
	c.Write([]byte("after close"))
}

func TestCloseAfterBacklog(t *testing.T) {
	reply := make([]byte, 8<<20)
	for i := range reply {
		reply[i] = byte(i * 7)
	}
	listen := func(addr string, n int) (*loops.Server[struct{}], error) {
		return loops.Listen(addr, n, func() loops.Handler[struct{}] { return burst{reply} })
	}
	srv := loopstest.Start(t, listen, 2)
	c, err := net.DialTimeout("tcp", srv.Addr(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	if _, err := c.Write([]byte("go")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond) // let the server's socket fill
	got, err := io.ReadAll(c)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, reply) {
		t.Fatalf("got %d bytes, want the %d-byte reply and then EOF", len(got), len(reply))
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, open := srv.Stats(); open == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("connection still open on the server")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
