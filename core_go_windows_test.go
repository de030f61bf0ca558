package poller

// Checks of the pure-Go core (core_go_windows.go) and the core switch.
//
// POLLER_CORE picks the core of every test's Poll (main_test.go).

import (
	"errors"
	"testing"
	"time"
	"unsafe"
)

// namedCore is one core a test or benchmark can run.
type namedCore struct {
	name string
	new  func() (core, error)
}

// buildCores lists the cores of this build: the C core (cgo builds only),
// then the pure-Go core.
func buildCores() []namedCore {
	var cs []namedCore
	if cCoreNew != nil {
		cs = append(cs, namedCore{"c", cCoreNew})
	}
	return append(cs, namedCore{"go", newGoCore})
}

// newPollWith returns a Poll running the given core, closed at cleanup.
func newPollWith(t testing.TB, newC func() (core, error)) *Poll {
	t.Helper()
	saved := newCore
	newCore = newC
	p, err := New()
	newCore = saved
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// udpSockets returns n UDP sockets on loopback registered with p for
// interest, token i for the i-th.
func udpSockets(t testing.TB, p *Poll, n int, interest Interest) []*UDPSocket {
	t.Helper()
	socks := make([]*UDPSocket, n)
	for i := range socks {
		u, err := ListenUDP("udp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { u.Close() })
		socks[i] = u
		if err := p.Registry().Register(u, Token(i), interest); err != nil {
			t.Fatal(err)
		}
	}
	return socks
}

// The pure-Go core's cost model, as BENCHMARKS.md states it: a Wait is one
// GetQueuedCompletionStatusEx plus one NtDeviceIoControlFile per re-arm it
// flushes; an event of a Readable-only registration needs no resubmission;
// Read until ErrWouldBlock makes no core call (its re-arm waits for the
// next Wait). The states live in the core's VirtualAlloc chunks.
func TestGoCoreCrossings(t *testing.T) {
	requireAFD(t, "the pure-Go core has only AFD")
	p := newPollWith(t, newGoCore)
	g := p.sys.core.(*goCore)
	const n = 300
	socks := udpSockets(t, p, n, Readable)

	size := unsafe.Sizeof(goState{})
	for _, u := range socks {
		st := u.sock.reg.Load().sys.state
		in := false
		for _, c := range g.chunks {
			in = in || (st >= c && st+size <= c+stateChunkSize)
		}
		if !in {
			t.Fatalf("state %#x is not in the core's chunks", st)
		}
	}

	sender := listenUDP(t)
	defer sender.Close()
	events := NewEvents(n)
	buf := make([]byte, 16)
	for round := 0; round < 2; round++ {
		for _, u := range socks {
			if _, err := sender.WriteTo([]byte("r"), u.LocalAddr()); err != nil {
				t.Fatal(err)
			}
		}
		seen := map[Token]bool{}
		deadline := time.Now().Add(eventTimeout)
		for waits := 0; len(seen) < n && time.Now().Before(deadline); waits++ {
			before := g.calls()
			if err := p.Wait(events, time.Second); err != nil {
				t.Fatal(err)
			}
			want := uint64(1)
			if round > 0 && waits == 0 {
				want += n // the re-arms queued by the reads below
			}
			if d := g.calls() - before; d != want {
				t.Fatalf("round %d, Wait %d with %d events: %d crossings, want %d", round, waits, events.Len(), d, want)
			}
			for ev := range events.All() {
				seen[ev.Token()] = true
			}
		}
		if len(seen) != n {
			t.Fatalf("round %d: saw %d of %d sockets", round, len(seen), n)
		}
		before := g.calls()
		for _, u := range socks {
			if _, _, err := u.ReadFrom(buf); err != nil {
				t.Fatal(err)
			}
			if _, _, err := u.ReadFrom(buf); !errors.Is(err, ErrWouldBlock) {
				t.Fatalf("second ReadFrom = %v, want ErrWouldBlock", err)
			}
		}
		if d := g.calls() - before; d != 0 {
			t.Fatalf("reads made %d core crossings, want 0", d)
		}
	}
}

// The pure-Go core's cancel paths: widening the interest of a pending poll
// cancels it and resubmits after its packet; a state deleted with a poll in
// flight is freed exactly when that packet is dequeued, not before.
func TestGoCoreCancelResubmitAndDeferredFree(t *testing.T) {
	requireAFD(t, "the pure-Go core has only AFD")
	p := newPollWith(t, newGoCore)
	g := p.sys.core.(*goCore)
	s, _ := streamPair(t)
	if err := p.Registry().Register(s, 1, Readable); err != nil {
		t.Fatal(err)
	}
	events := NewEvents(8)
	if err := p.Wait(events, 0); err != nil || events.Len() != 0 {
		t.Fatalf("Wait = %d events, %v; want none (no data yet)", events.Len(), err)
	}
	st := stateAt(s.sock.reg.Load().sys.state)
	if st.status != pollPending {
		t.Fatalf("status %d, want pending", st.status)
	}
	if err := p.Registry().Reregister(s, 2, Readable|Writable); err != nil {
		t.Fatal(err)
	}
	if st.status != pollCancelled {
		t.Fatalf("status %d after widening the interest, want cancelled", st.status)
	}
	waitEvent(t, p, events, 2, writable)

	// Writable was reported; the poll in flight asks for Readable only.
	live := goLiveAllocs()
	if err := p.Registry().Deregister(s); err != nil {
		t.Fatal(err)
	}
	if !st.inUse || !st.deletePending || st.status != pollCancelled {
		t.Fatalf("deleted with a poll in flight: inUse %v deletePending %v status %d", st.inUse, st.deletePending, st.status)
	}
	if got := goLiveAllocs(); got != live {
		t.Fatalf("live allocations %d right after Deregister, want %d (the packet is still owed)", got, live)
	}
	deadline := time.Now().Add(eventTimeout)
	for goLiveAllocs() != live-1 {
		if time.Now().After(deadline) {
			t.Fatalf("state not freed: live allocations %d, want %d", goLiveAllocs(), live-1)
		}
		if err := p.Wait(events, 50*time.Millisecond); err != nil {
			t.Fatal(err)
		}
		if events.Len() != 0 {
			t.Fatalf("event %v after Deregister", events.At(0))
		}
	}
	if st.inUse || g.inFlight != 0 {
		t.Fatalf("after the packet: inUse %v, %d packets owed", st.inUse, g.inFlight)
	}
}
