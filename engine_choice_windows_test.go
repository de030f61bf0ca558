//go:build windows && cgo

package poller

import (
	"errors"
	"syscall"
	"testing"
)

const wsaENoBufs = syscall.Errno(10055)

// withCCore makes the Polls of the test use the C core.
func withCCore(t testing.TB) {
	t.Helper()
	old := newCore
	newCore = newCCore
	t.Cleanup(func() { newCore = old })
}

// A base-handle query that fails for want of buffers is passing: Register
// fails with that error and binds nothing (the overlapped engine would bind
// the socket to the port for good); the next Register, once the query
// works, gets the AFD engine.
func TestEngineTransientBaseFailureBindsNothing(t *testing.T) {
	withCCore(t)
	p := newPoll(t)
	s, _ := streamPair(t)
	withSwitches(t, wsaENoBufs, -1)
	err := p.Registry().Register(s, 1, Readable)
	if !errors.Is(err, wsaENoBufs) {
		t.Fatalf("Register with the base query failing with WSAENOBUFS = %v, want that error", err)
	}
	if s.sock.overlappedBound() {
		t.Fatal("the socket was bound to the port for good")
	}
	if got := engineFor(s.sock.fd); got != -int(wsaENoBufs) {
		t.Fatalf("iocp_engine_for = %d, want %d (the error)", got, -int(wsaENoBufs))
	}
	setTestSwitches(0, -1)
	if err := p.Registry().Register(s, 2, Readable); err != nil {
		t.Fatal(err)
	}
	if e := engineOf(t, s.sock); e != engineAFD {
		t.Fatalf("engine %d once the query works, want AFD", e)
	}
}

// SIO_BASE_HANDLE hidden (as by a layered provider), the BSP ioctls
// answering with the socket itself (injected: Wine has no BSP ioctls, it
// answers WSAEOPNOTSUPP): that is the provider's
// own handle, not a base, so AFD cannot poll it and the overlapped engine
// takes the socket.
func TestEngineBSPHandleEqualToSocketIsNotBase(t *testing.T) {
	withCCore(t)
	p := newPoll(t)
	s, peer := streamPair(t)
	setTestBaseHandleFault(wsaEOpNotSupp)
	t.Cleanup(func() { setTestSwitches(0, -1) })
	if got := engineFor(s.sock.fd); got != engineOverlapped {
		t.Fatalf("iocp_engine_for = %d, want the overlapped engine (%d)", got, engineOverlapped)
	}
	if err := p.Registry().Register(s, 1, Readable); err != nil {
		t.Fatal(err)
	}
	if e := engineOf(t, s.sock); e != engineOverlapped {
		t.Fatalf("engine %d, want the overlapped engine", e)
	}
	peer.Write([]byte("x"))
	waitEvent(t, p, NewEvents(4), 1, readable)
}

// The pure-Go core, likewise: with SIO_BASE_HANDLE hidden and the BSP
// ioctls naming the socket itself there is no base to poll, so Register
// fails (this core has no overlapped engine) rather than poll the
// provider's handle.
func TestGoCoreBSPHandleEqualToSocketIsNotBase(t *testing.T) {
	old := newCore
	newCore = newGoCore
	t.Cleanup(func() { newCore = old })
	p := newPoll(t)
	s, _ := streamPair(t)
	goTestFailBaseHandle = wsaEOpNotSupp
	t.Cleanup(func() { goTestFailBaseHandle = 0 })
	err := p.Registry().Register(s, 1, Readable)
	if !errors.Is(err, wsaEOpNotSupp) {
		t.Fatalf("Register = %v, want SIO_BASE_HANDLE's error (WSAEOPNOTSUPP)", err)
	}
	goTestFailBaseHandle = 0
	if err := p.Registry().Register(s, 2, Readable); err != nil {
		t.Fatal(err)
	}
}
