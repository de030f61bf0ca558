package evloop_test

import (
	"io"
	"testing"

	"github.com/evpoll/poller/evloop"
)

// The steady state of echo allocates nothing per message: the whole
// process (server loops and the client) makes no allocation per round trip,
// averaged over a thousand.
func TestEchoZeroAllocs(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	addr := start(t, &evloop.Server{Handler: echoOnly{}, Loops: 2})
	c := dial(t, addr)
	msg := pattern(512)
	got := make([]byte, len(msg))
	roundTrip := func() {
		if _, err := c.Write(msg); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(c, got); err != nil {
			t.Fatal(err)
		}
	}
	for range 100 { // warm up: buffers, tables, the runtime's own caches
		roundTrip()
	}
	if n := testing.AllocsPerRun(1000, roundTrip); n != 0 {
		t.Fatalf("%v allocations per echoed message, want 0", n)
	}
}

// echoOnly is echo without the bookkeeping of the test handler.
type echoOnly struct{ evloop.BaseHandler }

func (echoOnly) OnData(c *evloop.Conn, in []byte) { c.Write(in) }
