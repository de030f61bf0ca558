package poller

// The Registry: Register, Reregister and Deregister, and what they refuse.

import (
	"errors"
	"testing"
)

func TestReregisterChangesInterestAndToken(t *testing.T) {
	p := newPoll(t)
	s, peer := streamPair(t)
	r := p.Registry()
	events := NewEvents(8)
	if err := r.Register(s, 1, Writable); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, p, events, 1, writable)
	if err := r.Reregister(s, 2, Readable); err != nil {
		t.Fatal(err)
	}
	peer.Write([]byte("a"))
	ev := waitEvent(t, p, events, 2, readable)
	if ev.IsWritable() {
		t.Fatalf("event %v: writable after reregistering for Readable only", ev)
	}
	drain(t, s)
	if err := r.Reregister(s, 3, Readable|Writable); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, p, events, 3, writable)
	peer.Write([]byte("b"))
	waitEvent(t, p, events, 3, readable)
}

func TestNoEventAfterDeregister(t *testing.T) {
	p := newPoll(t)
	s, peer := streamPair(t)
	r := p.Registry()
	events := NewEvents(8)
	if err := r.Register(s, 4, Readable|Writable); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, p, events, 4, writable)
	if err := r.Deregister(s); err != nil {
		t.Fatal(err)
	}
	peer.Write([]byte("late"))
	expectQuiet(t, p, events, 4)
	// Registered again, it reports the data that came meanwhile.
	if err := r.Register(s, 5, Readable); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, p, events, 5, readable)
}

func TestRegisterTwiceAndDeregisterUnknown(t *testing.T) {
	p := newPoll(t)
	s, _ := streamPair(t)
	r := p.Registry()
	if err := r.Deregister(s); !errors.Is(err, ErrNotRegistered) {
		t.Fatalf("Deregister unknown = %v, want ErrNotRegistered", err)
	}
	if err := r.Reregister(s, 1, Readable); !errors.Is(err, ErrNotRegistered) {
		t.Fatalf("Reregister unknown = %v, want ErrNotRegistered", err)
	}
	if err := r.Register(s, 1, Readable); err != nil {
		t.Fatal(err)
	}
	if err := r.Register(s, 2, Writable); !errors.Is(err, ErrAlreadyRegistered) {
		t.Fatalf("second Register = %v, want ErrAlreadyRegistered", err)
	}
	if err := r.Deregister(s); err != nil {
		t.Fatal(err)
	}
	if err := r.Deregister(s); !errors.Is(err, ErrNotRegistered) {
		t.Fatalf("second Deregister = %v, want ErrNotRegistered", err)
	}
}

func TestRegisterDuringBlockedWait(t *testing.T) {
	p := newPoll(t)
	s, peer := streamPair(t)
	if s.sock.connectDeferred() {
		// The connect starts at Register: the peer writes once accepted.
		go peer.Write([]byte("early"))
	} else {
		peer.Write([]byte("early"))
	}
	events := NewEvents(8)
	done := make(chan error, 1)
	go func() { done <- p.Wait(events, eventTimeout) }()
	waitBlocked(p)
	if err := p.Registry().Register(s, 42, Readable); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if events.Len() != 1 || events.At(0).Token() != 42 {
		t.Fatalf("blocked Wait returned %d events, want token 42", events.Len())
	}
}

func TestInvalidEvents(t *testing.T) {
	p := newPoll(t)
	for _, ev := range []*Events{nil, NewEvents(0), NewEvents(-3), {}} {
		if err := p.Wait(ev, 0); !errors.Is(err, ErrInvalidEvents) {
			t.Fatalf("Wait(%v) = %v, want ErrInvalidEvents", ev, err)
		}
	}
}

func TestClosingRegisteredSocketDeregisters(t *testing.T) {
	p := newPoll(t)
	r := p.Registry()
	s, peer := streamPair(t)
	if err := r.Register(s, 1, Readable); err != nil {
		t.Fatal(err)
	}
	awaitPeer(t, peer)
	s.Close()
	peer.Write([]byte("after close"))
	events := NewEvents(8)
	expectQuiet(t, p, events, 1)
	r.mu.Lock()
	left := len(r.byHandle)
	r.mu.Unlock()
	if left != 0 {
		t.Fatalf("%d registrations left after closing the only socket", left)
	}
}

func TestRegisteredWithAnotherPoll(t *testing.T) {
	p1, p2 := newPoll(t), newPoll(t)
	s, _ := streamPair(t)
	if err := p1.Registry().Register(s, 1, Readable); err != nil {
		t.Fatal(err)
	}
	if err := p2.Registry().Register(s, 1, Readable); !errors.Is(err, ErrRegisteredElsewhere) {
		t.Fatalf("Register with a second poll = %v, want ErrRegisteredElsewhere", err)
	}
	if err := p2.Registry().Deregister(s); !errors.Is(err, ErrRegisteredElsewhere) {
		t.Fatalf("Deregister from the other poll = %v, want ErrRegisteredElsewhere", err)
	}
}

func TestInvalidInterestAndSource(t *testing.T) {
	p := newPoll(t)
	s, _ := streamPair(t)
	r := p.Registry()
	for _, i := range []Interest{0, 4, Readable | 0x80} {
		if err := r.Register(s, 1, i); !errors.Is(err, ErrInvalidInterest) {
			t.Errorf("Register with interest %v = %v, want ErrInvalidInterest", i, err)
		}
	}
	var nilStream *TCPStream
	for _, src := range []Source{nil, nilStream, (*TCPListener)(nil), (*UDPSocket)(nil)} {
		if err := r.Register(src, 1, Readable); !errors.Is(err, ErrNilSource) {
			t.Errorf("Register(%T nil) = %v, want ErrNilSource", src, err)
		}
	}
	if got := (Readable | Writable).String(); got != "Readable|Writable" {
		t.Errorf("String = %q", got)
	}
}
