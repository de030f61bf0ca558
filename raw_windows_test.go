package poller

import (
	"syscall"
	"testing"
)

// rawSource is RawSocket over a socket the caller owns, set non-blocking
// (FIONBIO): package net's sockets are blocking, as Go uses overlapped I/O.
func rawSource(t testing.TB, h uintptr) Source {
	t.Helper()
	if err := setNonblock(h); err != nil {
		t.Fatalf("FIONBIO: %v", err)
	}
	return RawSocket(syscall.Handle(h))
}

// rawNetConnUnsupported says why a package-net socket cannot be a raw
// source here: the forced overlapped engine binds a raw socket to the
// Poll's completion port, and package net's is bound to the runtime's.
func rawNetConnUnsupported() string {
	if overlappedForced() {
		return "package-net sockets are bound to the Go runtime's completion port, the forced overlapped engine needs its own (ErrBoundElsewhere); the own-socket case covers this engine"
	}
	return ""
}

// Rearm while no Wait runs crosses into the core not at all: the next Wait
// applies it in its own crossing (one, for the C core; the pure-Go core
// counts its system calls, TestGoCoreCrossings).
func TestRearmQueuedForNextWait(t *testing.T) {
	p := newPoll(t)
	s, peer := acceptedPair(t)
	src := rawSource(t, s.sock.fd)
	if err := p.Registry().Register(src, 3, Readable); err != nil {
		t.Fatal(err)
	}
	defer p.Registry().Deregister(src)
	events := NewEvents(8)
	peer.Write([]byte("x"))
	waitEvent(t, p, events, 3, readable)
	rawDrain(t, s.sock.fd)
	before := p.sys.core.calls()
	if err := p.Registry().Rearm(src, Readable); err != nil {
		t.Fatal(err)
	}
	if d := p.sys.core.calls() - before; d != 0 {
		t.Fatalf("Rearm made %d crossings into the core, want 0", d)
	}
	if err := p.Wait(events, 0); err != nil {
		t.Fatal(err)
	}
	if _, isGo := p.sys.core.(*goCore); !isGo {
		if d := p.sys.core.calls() - before; d != 1 {
			t.Fatalf("Rearm + Wait made %d crossings into the C core, want 1", d)
		}
	}
	peer.Write([]byte("y"))
	waitEvent(t, p, events, 3, readable)
}

// errNoBufs is WSAENOBUFS, for injected failures.
var errNoBufs error = syscall.Errno(10055)
