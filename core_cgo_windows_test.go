//go:build windows && cgo

package poller

// Tests that need the C core: they exist only in cgo builds (not skipped
// elsewhere: a build without cgo has no C core to test).

import (
	"errors"
	"testing"
	"time"
)

// Every Wait is one crossing into the C core, whatever the number of events
// and queued re-arms.
func TestOneCrossingPerWait(t *testing.T) {
	// The C core, whichever core the run's other tests use; the pure-Go
	// core pays a system call per submission (TestGoCoreCrossings).
	defer func(old func() (core, error)) { newCore = old }(newCore)
	newCore = newCCore
	p := newPoll(t)
	const n = 1000
	socks := make([]*UDPSocket, n)
	for i := range socks {
		u, err := ListenUDP("udp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer u.Close()
		socks[i] = u
		if err := p.Registry().Register(u, Token(i), Readable|Writable); err != nil {
			t.Fatal(err)
		}
	}
	events := NewEvents(256)
	collect := func(want func(Event) bool) (waits int) {
		seen := map[Token]bool{}
		deadline := time.Now().Add(eventTimeout)
		for len(seen) < n && time.Now().Before(deadline) {
			before := p.sys.core.calls()
			if err := p.Wait(events, time.Second); err != nil {
				t.Fatal(err)
			}
			if d := p.sys.core.calls() - before; d != 1 {
				t.Fatalf("Wait with %d events made %d crossings, want 1", events.Len(), d)
			}
			waits++
			for ev := range events.All() {
				if want(ev) {
					seen[ev.Token()] = true
				}
			}
		}
		if len(seen) != n {
			t.Fatalf("saw %d of %d sockets", len(seen), n)
		}
		return waits
	}
	w1 := collect(writable)
	// Hit WSAEWOULDBLOCK on every socket: 1,000 queued re-arms.
	buf := make([]byte, 16)
	for _, u := range socks {
		if _, _, err := u.ReadFrom(buf); !errors.Is(err, ErrWouldBlock) {
			t.Fatalf("ReadFrom on an empty socket = %v", err)
		}
	}
	sender := socks[0]
	for _, u := range socks {
		if _, err := sender.WriteTo([]byte("r"), u.LocalAddr()); err != nil && !errors.Is(err, ErrWouldBlock) {
			t.Fatal(err)
		}
	}
	w2 := collect(readable)
	t.Logf("1,000 ready sockets, capacity 256: %d and %d Waits, 1 crossing each", w1, w2)
}

// Both cores of a cgo build run side by side in one process, each with its
// own port, and give back every allocation when closed.
func TestCoresSideBySide(t *testing.T) {
	requireAFD(t, "it runs the pure-Go core, which has only AFD")
	cores := buildCores()
	if len(cores) != 2 {
		t.Fatalf("a cgo build has %d cores, want 2", len(cores))
	}
	base := coreLiveAllocs()
	func() {
		type side struct {
			p      *Poll
			s      *TCPStream
			events *Events
		}
		var sides []side
		for _, c := range cores {
			p, err := func() (*Poll, error) {
				saved := newCore
				defer func() { newCore = saved }()
				newCore = c.new
				return New()
			}()
			if err != nil {
				t.Fatalf("%s core: %v", c.name, err)
			}
			defer p.Close()
			s, peer := streamPair(t)
			if err := p.Registry().Register(s, 5, Readable); err != nil {
				t.Fatal(err)
			}
			peer.Write([]byte(c.name))
			sides = append(sides, side{p, s, NewEvents(4)})
		}
		for i, sd := range sides {
			waitEvent(t, sd.p, sd.events, 5, readable)
			if got := string(drain(t, sd.s)); got != cores[i].name {
				t.Fatalf("%s core: read %q", cores[i].name, got)
			}
		}
	}()
	if got := coreLiveAllocs(); got != base {
		t.Fatalf("live allocations %d after closing both, want %d", got, base)
	}
}
