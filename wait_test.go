package poller

// Wait: timeouts, wakers, and Poll.Close against a Wait and after it.

import (
	"errors"
	"io"
	"net"
	"runtime"
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

// A Wait names a source once: directions that become reportable during
// one Wait come in one event, as epoll gives them, so a loop that closes a
// source on its event never meets a second event of it in the same batch
// (TestLoadEchoClientProcess's echo loop: "event for no connection").
// kqueue is exempt: its read and write filters are separate events.
func TestWaitOneEventPerSource(t *testing.T) {
	if runtime.GOOS != "linux" && runtime.GOOS != "windows" {
		t.Skip("kqueue reports its read and write filters as separate events")
	}
	ForEachSkipMode(t, checkOneEventPerSource)
}

// checkOneEventPerSource: Reregister makes a stream with data waiting
// readable and writable at once. On the overlapped engine with
// skip-on-success off, its writability is known before the Wait dequeues
// and its readability comes from its receive's packet, dequeued in the
// same Wait.
func checkOneEventPerSource(t *testing.T) {
	checkLeaks(t)
	f := newFixture(t)
	ln, ltok := f.listen()
	peer, err := net.Dial("tcp4", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	// One segment: once "a" is read, "b" is in the stream's buffer.
	if _, err := peer.Write([]byte("ab")); err != nil {
		t.Fatal(err)
	}
	var s *TCPStream
	for s == nil {
		f.wait(ltok, readable)
		s, _, err = ln.Accept()
		if err != nil && !errors.Is(err, ErrWouldBlock) {
			t.Fatal(err)
		}
	}
	defer s.Close()
	tok := f.register(s, Readable)
	if got := f.read(s, tok, 1); string(got) != "a" {
		t.Fatalf("read %q, want a", got)
	}
	if err := f.p.Registry().Reregister(s, tok, Readable|Writable); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(eventTimeout)
	for r, w := false, false; !r || !w; {
		if time.Now().After(deadline) {
			t.Fatalf("readable %v, writable %v after %v", r, w, eventTimeout)
		}
		if err := f.p.Wait(f.events, eventTimeout); err != nil {
			t.Fatal(err)
		}
		n := 0
		for ev := range f.events.All() {
			if ev.Token() == tok {
				n++
				r = r || ev.IsReadable()
				w = w || ev.IsWritable()
			}
		}
		if n > 1 {
			t.Fatalf("one Wait reported token %d %d times", tok, n)
		}
	}
}
