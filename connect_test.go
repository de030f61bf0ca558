package poller

// A failed connect reads the same on every OS: a Readable-only registration
// hears of it, the event says write-closed and error, and Read and Write
// return the connect's error.

import (
	"errors"
	"syscall"
	"testing"
	"time"
)

// dialRefused dials a closed port; ok is false when the OS refused at once
// (allowed: then there is nothing to poll).
func dialRefused(t *testing.T) (s *TCPStream, ok bool) {
	t.Helper()
	s, err := DialTCP("tcp4", closedPortAddr(t))
	if err != nil {
		if errors.Is(err, syscall.ECONNREFUSED) {
			return nil, false
		}
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, true
}

// A refused connect is reported to a registration for Readable only, as
// readable with an error (the read that follows tells the failure).
func TestConnectRefusedReadableOnly(t *testing.T) {
	p := newPoll(t)
	s, ok := dialRefused(t)
	if !ok {
		t.Skip("the OS refused the connect at once")
	}
	if err := p.Registry().Register(s, 4, Readable); err != nil {
		t.Fatal(err)
	}
	ev := waitEvent(t, p, NewEvents(8), 4, func(e Event) bool { return e.IsError() })
	if !ev.IsReadable() {
		t.Fatalf("event %v: not readable", ev)
	}
	if ev.IsWritable() {
		t.Fatalf("event %v: writable outside the interest", ev)
	}
}

// flagsUntil collects the flags of token's events until they include want
// (or the deadline passes).
func flagsUntil(t *testing.T, p *Poll, token Token, want uint8) uint8 {
	t.Helper()
	events := NewEvents(8)
	var got uint8
	deadline := time.Now().Add(eventTimeout)
	for got&want != want && time.Now().Before(deadline) {
		if err := p.Wait(events, time.Until(deadline)); err != nil {
			t.Fatal(err)
		}
		for ev := range events.All() {
			if ev.Token() == token {
				got |= ev.flags
			}
		}
	}
	return got
}

// Read and Write of a stream whose connect was refused return that error,
// and the events say write-closed with the error.
func TestConnectRefusedReadWrite(t *testing.T) {
	for _, op := range []string{"Read", "Write"} {
		t.Run(op, func(t *testing.T) {
			p := newPoll(t)
			s, ok := dialRefused(t)
			if !ok {
				t.Skip("the OS refused the connect at once")
			}
			if err := p.Registry().Register(s, 6, Readable|Writable); err != nil {
				t.Fatal(err)
			}
			want := uint8(flagError | flagWriteClosed)
			if got := flagsUntil(t, p, 6, want); got&want != want {
				t.Fatalf("events of the refused connect: %v, want Error and WriteClosed", Event{token: 6, flags: got})
			}
			var err error
			if op == "Read" {
				_, err = s.Read(make([]byte, 16))
			} else {
				_, err = s.Write([]byte("x"))
			}
			if !errors.Is(err, syscall.ECONNREFUSED) {
				t.Fatalf("%s after a refused connect = %v, want ECONNREFUSED", op, err)
			}
		})
	}
}
