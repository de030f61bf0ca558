package evloop_test

import (
	"bytes"
	"io"
	"testing"

	"github.com/evpoll/poller/evloop"
)

// A Writev past what a batch collects goes out with one vectored write
// after the batch's earlier Write, in order, and what the socket does not
// take is kept; a Write after it follows it.
func TestWritevAfterStagedWrite(t *testing.T) {
	parts := [][]byte{pattern(40 << 10), nil, pattern(50 << 10), pattern(3 << 20)}
	h := fn{data: func(c *evloop.Conn, in []byte) {
		c.Write([]byte("staged:"))
		c.Writev(parts)
		c.Write([]byte(":after"))
		c.Close()
	}}
	addr := start(t, &evloop.Server{Handler: h, Loops: 1})
	c := dial(t, addr)
	c.Write([]byte("x"))
	got, err := io.ReadAll(c)
	if err != nil {
		t.Fatal(err)
	}
	want := []byte("staged:")
	for _, p := range parts {
		want = append(want, p...)
	}
	want = append(want, ":after"...)
	if !bytes.Equal(got, want) {
		t.Fatalf("got %d bytes, want %d in order", len(got), len(want))
	}
}
