package poller

// Regression tests for bugs the reliability tests found, one per fix.

import (
	"errors"
	"math"
	"net"
	"testing"
	"time"
)

// The zero value of a socket type (not made by Listen or Dial) has no
// handle: its methods return ErrNilSource instead of dereferencing nil.
func TestZeroSocketsReturnErrNilSource(t *testing.T) {
	buf := make([]byte, 4)
	var s TCPStream
	var l TCPListener
	var u UDPSocket
	_, readErr := s.Read(buf)
	_, writeErr := s.Write(buf)
	_, _, acceptErr := l.Accept()
	_, _, readFromErr := u.ReadFrom(buf)
	_, writeToErr := u.WriteTo(buf, nil)
	for name, err := range map[string]error{
		"Read": readErr, "Write": writeErr, "CloseWrite": s.CloseWrite(), "TakeError": s.TakeError(),
		"SetNoDelay": s.SetNoDelay(true), "Close": s.Close(), "Accept": acceptErr,
		"listener Close": l.Close(), "ReadFrom": readFromErr, "WriteTo": writeToErr, "UDP Close": u.Close(),
	} {
		if !errors.Is(err, ErrNilSource) {
			t.Errorf("%s on a zero value = %v, want ErrNilSource", name, err)
		}
	}
	if s.LocalAddr() != nil || u.LocalAddr() != nil {
		t.Errorf("LocalAddr of a zero value: %v, %v", s.LocalAddr(), u.LocalAddr())
	}
}

// A Poll not made by New (zero or nil) behaves as a closed one. Before the
// fix, Close of a zero Poll on Linux closed descriptor 0 (twice), Wait ran
// epoll_wait on it, and on Windows every method dereferenced a nil core.
func TestZeroAndNilPollAreClosed(t *testing.T) {
	for name, p := range map[string]*Poll{"zero": new(Poll), "nil": nil} {
		s, _ := streamPair(t)
		r := p.Registry()
		for op, err := range map[string]error{
			"Wait":       p.Wait(NewEvents(1), 0),
			"Register":   r.Register(s, 1, Readable),
			"Reregister": r.Reregister(s, 1, Readable),
			"Deregister": r.Deregister(s),
			"Close":      p.Close(),
		} {
			if !errors.Is(err, net.ErrClosed) {
				t.Errorf("%s Poll: %s = %v, want net.ErrClosed", name, op, err)
			}
		}
		// The Registry doc: a nil or zero Registry is closed.
		if _, err := NewWaker(r, 1); !errors.Is(err, net.ErrClosed) {
			t.Errorf("%s Poll: NewWaker = %v, want net.ErrClosed", name, err)
		}
		// The stream is untouched: it still registers with a real Poll.
		if err := newPoll(t).Registry().Register(s, 1, Readable); err != nil {
			t.Errorf("%s Poll: stream unusable afterwards: %v", name, err)
		}
	}
	if err := new(Registry).Register(nil, 1, Readable); !errors.Is(err, net.ErrClosed) {
		t.Errorf("zero Registry: Register = %v, want net.ErrClosed", err)
	}
}

// Timeouts near math.MaxInt64 overflowed while being rounded up to the next
// millisecond: the OS was handed a negative or arbitrary wait (Wine's
// uint32 conversion could make it 0 and spin).
func TestHugeTimeoutDoesNotOverflow(t *testing.T) {
	for _, d := range []time.Duration{math.MaxInt64, math.MaxInt64 - 500000, math.MaxInt64 - time.Millisecond + 1, 1<<63 - 1<<40} {
		if got := timeoutMillis(d); got != maxWaitMillis {
			t.Errorf("timeoutMillis(%d) = %d, want %d", d, got, maxWaitMillis)
		}
	}
	for d, want := range map[time.Duration]int{1: 1, time.Millisecond: 1, time.Millisecond + 1: 2, 2*time.Millisecond - 1: 2} {
		if got := timeoutMillis(d); got != want {
			t.Errorf("timeoutMillis(%v) = %d, want %d", d, got, want)
		}
	}
}

// An event never names a direction outside the registration's interest.
// epoll reported a peer's close (EPOLLRDHUP, EPOLLHUP) as Readable to a
// registration for Writable only.
func TestNoDirectionOutsideInterest(t *testing.T) {
	for _, reset := range []bool{false, true} {
		p := newPoll(t)
		s, peer := streamPair(t)
		if err := p.Registry().Register(s, 1, Writable); err != nil {
			t.Fatal(err)
		}
		events := NewEvents(8)
		waitEvent(t, p, events, 1, writable)
		if reset {
			peer.(tcpPeer).SetLinger(0)
		}
		peer.Close()
		deadline := time.Now().Add(quiet)
		for time.Now().Before(deadline) {
			if err := p.Wait(events, time.Until(deadline)); err != nil {
				t.Fatal(err)
			}
			for ev := range events.All() {
				if ev.IsReadable() {
					t.Fatalf("reset=%v: event %v for a Writable-only registration", reset, ev)
				}
			}
		}
	}
}

// An address of the wrong family for the network, or a malformed one, is
// the ErrInvalidAddress the doc promises (it was only net's AddrError).
func TestMalformedAddressIsErrInvalidAddress(t *testing.T) {
	_, e1 := ListenTCP("tcp4", "[::1]:0")
	_, e2 := DialTCP("tcp4", "[::1]:80")
	_, e3 := DialTCP("tcp", "127.0.0.1") // no port
	_, e4 := ListenUDP("udp4", "[::1]:0")
	for i, err := range []error{e1, e2, e3, e4} {
		if !errors.Is(err, ErrInvalidAddress) {
			t.Errorf("case %d: %v, want ErrInvalidAddress", i+1, err)
		}
		var ae *net.AddrError
		if !errors.As(err, &ae) {
			t.Errorf("case %d: %v no longer carries net's AddrError", i+1, err)
		}
	}
}
