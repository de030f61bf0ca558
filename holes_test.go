package poller

// Tests of smaller holes (registration races, wakes, close, batches) that
// hold on every OS: they run unchanged on Linux, the BSDs and Windows
// (under Wine: C core, pure-Go core and the overlapped engine).

import (
	"errors"
	"net"
	"sync"
	"testing"
	"time"
)

// TestRegisterRaceTwoPolls registers one stream with two Polls from two
// goroutines at once, 1,000 times: exactly one Register wins each round, the
// loser gets ErrRegisteredElsewhere (or, where the overlapped engine binds
// the socket to the winner's port first, ErrBoundElsewhere), and the loser's
// registry is left without the stream.
func TestRegisterRaceTwoPolls(t *testing.T) {
	checkLeaks(t)
	polls := [2]*Poll{newPoll(t), newPoll(t)}
	ln := netListener(t)
	go func() { // keep the backlog empty; the accepted peers are not used
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	rounds := 1000
	if testing.Short() {
		rounds = 100
	}
	for round := 0; round < rounds; round++ {
		s, err := DialTCP("tcp4", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		var errs [2]error
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range polls {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				errs[i] = polls[i].Registry().Register(s, Token(i+1), Readable|Writable)
			}()
		}
		close(start)
		wg.Wait()
		won := -1
		for i, err := range errs {
			switch {
			case err == nil && won < 0:
				won = i
			case err == nil:
				t.Fatalf("round %d: both Registers succeeded", round)
			case !errors.Is(err, ErrRegisteredElsewhere) && !errors.Is(err, ErrBoundElsewhere):
				t.Fatalf("round %d: Register with poll %d: %v, want ErrRegisteredElsewhere", round, i, err)
			}
		}
		if won < 0 {
			t.Fatalf("round %d: no Register succeeded: %v, %v", round, errs[0], errs[1])
		}
		if n := registeredCount(polls[1-won]); n != 0 {
			t.Fatalf("round %d: the losing registry holds %d registrations", round, n)
		}
		if err := polls[1-won].Registry().Deregister(s); !errors.Is(err, ErrRegisteredElsewhere) {
			t.Fatalf("round %d: Deregister through the loser: %v, want ErrRegisteredElsewhere", round, err)
		}
		if err := polls[won].Registry().Deregister(s); err != nil {
			t.Fatalf("round %d: Deregister through the winner: %v", round, err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// registeredCount is the number of registrations p's registry holds.
func registeredCount(p *Poll) int {
	r := p.Registry()
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.byHandle)
}

// TestWakerRetriesAfterFailedWake makes one Wake's OS wake fail: Wake
// returns that error, and the next Wake is not swallowed as "already
// pending" but wakes the Poll.
func TestWakerRetriesAfterFailedWake(t *testing.T) {
	p := newPoll(t)
	w, err := NewWaker(p.Registry(), 9)
	if err != nil {
		t.Fatal(err)
	}
	injected := errors.New("injected wake failure")
	wakeOS = func(p *Poll) error { return injected }
	t.Cleanup(func() { wakeOS = sysWake })
	if err := w.Wake(); !errors.Is(err, injected) {
		t.Fatalf("Wake with a failing OS wake: %v, want the injected error", err)
	}
	wakeOS = sysWake
	if err := w.Wake(); err != nil {
		t.Fatalf("Wake: %v", err)
	}
	events := NewEvents(4)
	if err := p.Wait(events, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if events.Len() != 1 || events.At(0).Token() != 9 {
		t.Fatalf("Wait after a Wake that followed a failed one: %d events, want the wake", events.Len())
	}
}

// TestCloseDeliversEventsDequeuedWithIt holds a Wait between its OS wait,
// which dequeued a readable record, and the translation of that record,
// closes the Poll meanwhile, and then lets the Wait go on: as the package
// doc promises, the Wait returns net.ErrClosed with the event in its
// Events.
func TestCloseDeliversEventsDequeuedWithIt(t *testing.T) {
	checkLeaks(t)
	p, err := New()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() }) // the test closes it; this is for a failure
	s, peer := streamPair(t)
	if err := p.Registry().Register(s, 4, Readable); err != nil {
		t.Fatal(err)
	}
	if _, err := peer.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	dequeued, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	afterOSWait = func(n int) {
		if n > 0 {
			once.Do(func() { close(dequeued); <-release })
		}
	}
	t.Cleanup(func() { afterOSWait = nil })
	events := NewEvents(8)
	waited := make(chan error, 1)
	go func() { waited <- p.Wait(events, eventTimeout) }()
	select {
	case <-dequeued:
	case err := <-waited:
		t.Fatalf("Wait returned %v before dequeuing the readable record", err)
	}
	closed := make(chan error, 1)
	go func() { closed <- p.Close() }()
	// Close marks the registry closed before it wakes the Wait; nothing
	// signals that, so poll for it, bounded.
	for deadline := time.Now().Add(eventTimeout); !registryClosed(p); {
		if time.Now().After(deadline) {
			t.Fatal("Close did not mark the registry closed")
		}
		time.Sleep(time.Millisecond)
	}
	close(release)
	if err := <-waited; !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Wait: %v, want net.ErrClosed", err)
	}
	if err := <-closed; err != nil {
		t.Fatalf("Close: %v", err)
	}
	found := false
	for ev := range events.All() {
		found = found || ev.Token() == 4 && ev.IsReadable()
	}
	if !found {
		t.Fatalf("the readable event dequeued with the close was dropped (%d events)", events.Len())
	}
}

func registryClosed(p *Poll) bool {
	r := p.Registry()
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.closed
}

// TestOSBatchClamped lowers the most records one OS wait may return (the
// OS's own limit, about 179 million on Linux, is too big to reach in a
// test) and checks that no Wait returns more, and that the records left
// over come with the next Waits.
func TestOSBatchClamped(t *testing.T) {
	p := newPoll(t)
	const streams = 3
	for i := 0; i < streams; i++ {
		s, peer := streamPair(t)
		if err := p.Registry().Register(s, Token(10+i), Readable); err != nil {
			t.Fatal(err)
		}
		if _, err := peer.Write([]byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	old := maxOSBatch
	maxOSBatch = 2
	t.Cleanup(func() { maxOSBatch = old })
	events := NewEvents(8)
	seen := map[Token]bool{}
	for deadline := time.Now().Add(eventTimeout); len(seen) < streams; {
		if time.Now().After(deadline) {
			t.Fatalf("only %d of %d streams reported", len(seen), streams)
		}
		if err := p.Wait(events, time.Until(deadline)); err != nil {
			t.Fatal(err)
		}
		if events.Len() > 2 {
			t.Fatalf("Wait returned %d events with the OS batch clamped to 2", events.Len())
		}
		for ev := range events.All() {
			seen[ev.Token()] = true
		}
	}
}

// TestSocketCloseDuringPollClose closes a registered listener, whose
// pending connection the Poll has reported, in the middle of Poll.Close:
// after the registry has let its registrations go and before the OS (or the
// C core) is closed. The connection must not be lost in between: its client
// sees the listener's close (EOF or a reset) at once, and nothing leaks. On
// Windows' overlapped engine the accepted connection is held in C memory;
// its hand-back must come before the listener can close.
func TestSocketCloseDuringPollClose(t *testing.T) {
	checkLeaks(t)
	p, err := New()
	if err != nil {
		t.Fatal(err)
	}
	ln, err := ListenTCP("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Registry().Register(ln, 1, Readable); err != nil {
		t.Fatal(err)
	}
	client, err := net.DialTimeout("tcp4", ln.Addr().String(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	waitEvent(t, p, NewEvents(4), 1, readable)
	afterRegistryClose = func() {
		if err := ln.Close(); err != nil {
			t.Errorf("listener Close during Poll.Close: %v", err)
		}
	}
	t.Cleanup(func() { afterRegistryClose = nil })
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	client.SetReadDeadline(time.Now().Add(10 * time.Second))
	var b [1]byte
	_, err = client.Read(b[:])
	var ne net.Error
	if err == nil || errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("client Read after the listener closed during Poll.Close = %v: the connection was lost in between", err)
	}
}
