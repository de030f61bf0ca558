package poller

// Wait: timeouts, wakers, and Poll.Close against a Wait and after it.

import (
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

func TestTimeouts(t *testing.T) {
	p := newPoll(t)
	events := NewEvents(8)
	start := time.Now()
	if err := p.Wait(events, 0); err != nil {
		t.Fatal(err)
	}
	if events.Len() != 0 {
		t.Fatalf("%d events from an empty poll", events.Len())
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("timeout 0 took %v", d)
	}
	for _, timeout := range []time.Duration{50 * time.Millisecond, 10*time.Millisecond + 1} {
		start = time.Now()
		if err := p.Wait(events, timeout); err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d < timeout {
			t.Fatalf("Wait(%v) returned after %v without an event", timeout, d)
		}
		if events.Len() != 0 {
			t.Fatalf("%d events from an empty poll", events.Len())
		}
	}
}

func TestTimeoutMillisRoundsUp(t *testing.T) {
	cases := map[time.Duration]int{
		-1: -1, 0: 0, 1: 1, time.Millisecond: 1, time.Millisecond + 1: 2,
		1500 * time.Microsecond: 2, time.Hour: 3600000, 1 << 62: maxWaitMillis,
	}
	for d, want := range cases {
		if got := timeoutMillis(d); got != want {
			t.Errorf("timeoutMillis(%v) = %d, want %d", d, got, want)
		}
	}
}

func TestWakerWakesBlockedWait(t *testing.T) {
	p := newPoll(t)
	w, err := NewWaker(p.Registry(), 99)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	events := NewEvents(8)
	go func() { done <- p.Wait(events, -1) }()
	waitBlocked(p)
	if err := w.Wake(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(eventTimeout):
		t.Fatal("Wake did not unblock Wait")
	}
	if events.Len() != 1 || events.At(0).Token() != 99 || !events.At(0).IsReadable() {
		t.Fatalf("events after Wake: %d, first %v", events.Len(), events.At(0))
	}
}

func TestWakesCoalesce(t *testing.T) {
	p := newPoll(t)
	w1, _ := NewWaker(p.Registry(), 1)
	w2, err := NewWaker(p.Registry(), 2)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 250; i++ {
				if err := w1.Wake(); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	w2.Wake()
	events := NewEvents(8)
	if err := p.Wait(events, eventTimeout); err != nil {
		t.Fatal(err)
	}
	count := map[Token]int{}
	for ev := range events.All() {
		count[ev.Token()]++
	}
	if count[1] != 1 || count[2] != 1 || events.Len() != 2 {
		t.Fatalf("1,000 wakes of waker 1 and one of waker 2 gave %v", count)
	}
	if err := p.Wait(events, 0); err != nil || events.Len() != 0 {
		t.Fatalf("after coalesced wakes: %d events, %v", events.Len(), err)
	}
}

func TestCloseUnblocksWait(t *testing.T) {
	p, err := New()
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- p.Wait(NewEvents(4), -1) }()
	waitBlocked(p)
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if !errors.Is(err, net.ErrClosed) {
			t.Fatalf("Wait after Close = %v, want net.ErrClosed", err)
		}
	case <-time.After(eventTimeout):
		t.Fatal("Close did not unblock Wait")
	}
}

func TestConcurrentWaitFails(t *testing.T) {
	p := newPoll(t)
	w, _ := NewWaker(p.Registry(), 1)
	done := make(chan error, 1)
	go func() { done <- p.Wait(NewEvents(4), -1) }()
	waitBlocked(p)
	if err := p.Wait(NewEvents(4), 0); !errors.Is(err, ErrConcurrentWait) {
		t.Fatalf("second Wait = %v, want ErrConcurrentWait", err)
	}
	w.Wake()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestOperationsAfterClose(t *testing.T) {
	p, err := New()
	if err != nil {
		t.Fatal(err)
	}
	s, _ := streamPair(t)
	w, _ := NewWaker(p.Registry(), 1)
	if err := p.Registry().Register(s, 1, Readable); err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	r := p.Registry()
	check := func(name string, err error) {
		t.Helper()
		if !errors.Is(err, net.ErrClosed) {
			t.Errorf("%s after Close = %v, want net.ErrClosed", name, err)
		}
	}
	check("Wait", p.Wait(NewEvents(1), 0))
	check("Register", r.Register(s, 2, Readable))
	check("Reregister", r.Reregister(s, 2, Readable))
	check("Deregister", r.Deregister(s))
	check("Wake", w.Wake())
	_, err = NewWaker(r, 3)
	check("NewWaker", err)
	check("Close", p.Close())

	// A socket whose Poll closed can join another Poll, unless the Poll
	// bound it for good (Windows' overlapped engine).
	p2 := newPoll(t)
	if s.sock.overlappedBound() {
		if err := p2.Registry().Register(s, 1, Readable); !errors.Is(err, ErrBoundElsewhere) {
			t.Fatalf("Register of a bound socket with a new poll = %v, want ErrBoundElsewhere", err)
		}
	} else if err := p2.Registry().Register(s, 1, Readable); err != nil {
		t.Fatalf("Register with a new poll: %v", err)
	}

	ln, err := ListenTCP("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := listenUDP(t)
	for _, c := range []io.Closer{s, ln, u} {
		if err := c.Close(); err != nil {
			t.Errorf("first Close of %T: %v", c, err)
		}
		check("second socket Close", c.Close())
	}
	buf := make([]byte, 4)
	_, err = s.Read(buf)
	check("Read", err)
	_, err = s.Write(buf)
	check("Write", err)
	check("CloseWrite", s.CloseWrite())
	check("TakeError", s.TakeError())
	_, _, err = ln.Accept()
	check("Accept", err)
	_, _, err = u.ReadFrom(buf)
	check("ReadFrom", err)
	_, err = u.WriteTo(buf, &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 9})
	check("WriteTo", err)
	check("Register closed socket", p2.Registry().Register(s, 1, Readable))
}
