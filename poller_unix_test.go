//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package poller

import (
	"errors"
	"syscall"
	"testing"
)

// RawFD: a pipe the caller owns reports readable and peer-closed.
func TestRawFDPipe(t *testing.T) {
	p := newPoll(t)
	var fds [2]int
	if err := syscall.Pipe(fds[:]); err != nil {
		t.Fatal(err)
	}
	r, w := fds[0], fds[1]
	defer syscall.Close(r)
	syscall.SetNonblock(r, true)
	if err := p.Registry().Register(RawFD(r), 11, Readable); err != nil {
		t.Fatal(err)
	}
	events := NewEvents(4)
	syscall.Write(w, []byte("z"))
	waitEvent(t, p, events, 11, readable)
	buf := make([]byte, 8)
	if n, _ := syscall.Read(r, buf); n != 1 {
		t.Fatalf("read %d bytes", n)
	}
	syscall.Close(w)
	waitEvent(t, p, events, 11, func(e Event) bool { return e.IsReadClosed() })
	if err := p.Registry().Deregister(RawFD(r)); err != nil {
		t.Fatal(err)
	}
	if err := p.Registry().Register(RawFD(-1), 1, Readable); !errors.Is(err, ErrNilSource) {
		t.Fatalf("RawFD(-1) = %v, want ErrNilSource", err)
	}
}
