package poller

// Deregister, Close and Register again of one socket, racing a Wait that is
// blocked while events flow. Portable: it runs unchanged on Linux and on
// Windows (both cores, and the forced overlapped engine), where Deregister
// must cancel the socket's poll before it returns, so that no poll names a
// handle that Go is about to close (and the OS may reuse) and a socket
// registered again never has two polls at once.

import (
	"fmt"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// tokenLedger records which tokens are live and when each one's Deregister
// returned, so that a Wait can check its events: a Wait that began after a
// token's Deregister returned must not report it.
type tokenLedger struct {
	mu     sync.Mutex
	seq    uint64               // Deregisters returned so far
	next   Token                // last token handed out
	live   map[Token]*TCPStream // registered now
	goneAt map[Token]uint64     // seq after the token's Deregister returned
	bad    []string             // violations seen by the waiter
	seen   int                  // events of live tokens
}

func newTokenLedger() *tokenLedger {
	return &tokenLedger{live: make(map[Token]*TCPStream), goneAt: make(map[Token]uint64)}
}

// register registers s with a token never used before.
func (l *tokenLedger) register(r *Registry, s *TCPStream, interest Interest) (Token, error) {
	l.mu.Lock()
	l.next++
	tok := l.next
	l.mu.Unlock()
	if err := r.Register(s, tok, interest); err != nil {
		return 0, err
	}
	l.mu.Lock()
	l.live[tok] = s
	l.mu.Unlock()
	return tok, nil
}

// gone notes that tok's Deregister (or its socket's Close) has returned.
func (l *tokenLedger) gone(tok Token) {
	l.mu.Lock()
	l.seq++
	delete(l.live, tok)
	l.goneAt[tok] = l.seq
	l.mu.Unlock()
}

func (l *tokenLedger) now() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.seq
}

// check looks at the events of a Wait that began at seq start and returns
// the live streams that are readable.
func (l *tokenLedger) check(events *Events, start uint64, waker Token, out []*TCPStream) []*TCPStream {
	l.mu.Lock()
	defer l.mu.Unlock()
	for ev := range events.All() {
		tok := ev.Token()
		if tok == waker {
			continue
		}
		if at, ok := l.goneAt[tok]; ok && at <= start {
			l.bad = append(l.bad, fmt.Sprintf("event %v in a Wait begun after its Deregister returned", ev))
			continue
		}
		if tok == 0 || tok > l.next {
			l.bad = append(l.bad, fmt.Sprintf("event %v with a token never registered", ev))
			continue
		}
		l.seen++
		if s := l.live[tok]; s != nil && ev.IsReadable() {
			out = append(out, s)
		}
	}
	return out
}

// raceSlot is one socket of the race and its peer.
type raceSlot struct {
	s    *TCPStream
	peer net.Conn
	tok  Token // 0 while not registered
}

func TestDeregisterCloseReregisterRaceBlockedWait(t *testing.T) {
	ForEachSkipMode(t, deregisterCloseReregisterRace)
}

func deregisterCloseReregisterRace(t *testing.T) {
	checkLeaks(t)
	bad0 := badSubmits()
	p := newPoll(t)
	r := p.Registry()
	ln := netListener(t)
	ledger := newTokenLedger()
	const wakeTok = Token(1 << 62)
	waker, err := NewWaker(r, wakeTok)
	if err != nil {
		t.Fatal(err)
	}

	// open dials a stream, registers it (a connect deferred to Register
	// starts there) and accepts its peer.
	open := func() raceSlot {
		s, err := DialTCP("tcp4", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		tok, err := ledger.register(r, s, Readable|Writable)
		if err != nil {
			t.Fatal(err)
		}
		peer, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		return raceSlot{s: s, peer: peer, tok: tok}
	}
	// The Poll's idle allocations (its helpers opened) once a first
	// registration came and went: what the core must be back to at the end.
	settle := func() int64 {
		if err := p.Wait(NewEvents(64), 10*time.Millisecond); err != nil {
			t.Fatal(err)
		}
		return liveAllocsOrZero()
	}
	first := open()
	if err := r.Deregister(first.s); err != nil {
		t.Fatal(err)
	}
	ledger.gone(first.tok)
	first.s.Close()
	first.peer.Close()
	idle := settle()

	const slots = 2
	var live [slots]raceSlot
	for i := range live {
		live[i] = open()
	}

	var stop sync.WaitGroup
	var stopping sync.Mutex
	done := false
	waitErr := make(chan error, 1)
	var waits atomic.Int64 // Waits returned
	stop.Add(1)
	go func() {
		defer stop.Done()
		events := NewEvents(16)
		buf := make([]byte, 512)
		var ready []*TCPStream
		for {
			start := ledger.now()
			if err := p.Wait(events, -1); err != nil {
				waitErr <- err
				return
			}
			waits.Add(1)
			ready = ledger.check(events, start, wakeTok, ready[:0])
			for _, s := range ready {
				for { // drain: the next bytes bring the next edge
					if _, err := s.Read(buf); err != nil {
						break
					}
				}
			}
			stopping.Lock()
			d := done
			stopping.Unlock()
			if d {
				waitErr <- nil
				return
			}
		}
	}()

	rounds := size(3000, 2000, 20000, 10000)
	var lastWaits int64
	removes, throttled := 0, 0
	for i := 0; i < rounds; i++ {
		// Deletes made while a Wait is blocked free their states in the
		// next Wait. Should the waiter fall far behind, let it come
		// round, so that the states alive at once stay within one AFD
		// helper (32; helpers live as long as the Poll) and the count of
		// allocations at the end is exact. It seldom has to: each round
		// brings an event.
		if w := waits.Load(); w != lastWaits {
			lastWaits, removes = w, 0
		}
		if removes++; removes > 10 {
			n := waits.Load()
			if err := waker.Wake(); err != nil {
				t.Fatal(err)
			}
			deadline := time.Now().Add(eventTimeout)
			for waits.Load() <= n {
				if time.Now().After(deadline) {
					t.Fatalf("round %d: the waiter did not come round", i)
				}
				runtime.Gosched()
			}
			lastWaits, removes = waits.Load(), 0
			throttled++
		}
		waitBlocked(p)
		sl := &live[i%slots]
		// Data on the way: the blocked Wait is about to handle this
		// socket's readiness while it is deregistered.
		sl.peer.Write([]byte{byte(i)})
		switch i % 4 {
		case 0: // Deregister and register the same socket again
			if err := r.Deregister(sl.s); err != nil {
				t.Fatalf("round %d: Deregister: %v", i, err)
			}
			ledger.gone(sl.tok)
			if sl.tok, err = ledger.register(r, sl.s, Readable|Writable); err != nil {
				t.Fatalf("round %d: Register again: %v", i, err)
			}
		case 1: // Close (deregisters); a new socket may reuse the handle
			if err := sl.s.Close(); err != nil {
				t.Fatalf("round %d: Close: %v", i, err)
			}
			ledger.gone(sl.tok)
			sl.peer.Close()
			*sl = open()
		case 2: // a socket registered, briefly used and closed at once
			o := open()
			o.peer.Write([]byte{byte(i)})
			if err := o.s.Close(); err != nil {
				t.Fatalf("round %d: Close: %v", i, err)
			}
			ledger.gone(o.tok)
			o.peer.Close()
		case 3: // Deregister, then Close, then a new socket
			if err := r.Deregister(sl.s); err != nil {
				t.Fatalf("round %d: Deregister: %v", i, err)
			}
			ledger.gone(sl.tok)
			sl.s.Close()
			sl.peer.Close()
			*sl = open()
		}
	}
	stopping.Lock()
	done = true
	stopping.Unlock()
	if err := waker.Wake(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-waitErr:
		if err != nil {
			t.Fatalf("Wait: %v", err)
		}
	case <-time.After(eventTimeout):
		t.Fatal("the waiting goroutine never returned")
	}
	stop.Wait()

	for i := range live {
		if err := r.Deregister(live[i].s); err != nil {
			t.Fatal(err)
		}
		ledger.gone(live[i].tok)
		live[i].s.Close()
		live[i].peer.Close()
	}
	ledger.mu.Lock()
	bad, seen := ledger.bad, ledger.seen
	ledger.mu.Unlock()
	t.Logf("%d rounds, %d events, %d pauses for the waiter", rounds, seen, throttled)
	if seen < rounds/10 {
		t.Errorf("only %d events in %d rounds: the race needs events flowing", seen, rounds)
	}
	for j, b := range bad {
		if j == 10 {
			t.Errorf("... and %d more", len(bad)-j)
			break
		}
		t.Error(b)
	}
	// Nothing is registered: every state is freed once its cancelled
	// poll's packet is in (bounded polling: no event says so).
	deadline := time.Now().Add(eventTimeout)
	got := settle()
	for got != idle && time.Now().Before(deadline) {
		got = settle()
	}
	if got != idle {
		t.Errorf("core live allocations %d with nothing registered, %d before the race", got, idle)
	}
	if n := badSubmits(); n != bad0 {
		t.Errorf("%d polls submitted for states already deleted or retired", n-bad0)
	}
}
