//go:build windows && cgo

package poller

import (
	"errors"
	"net"
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
	requireAFD(t, "it tests the automatic choice, which the forced engine bypasses")
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
	requireAFD(t, "it tests the pure-Go core, which has only AFD, on an unforced Poll")
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

// The acceptance test of the automatic choice: with the base-handle query
// failing (as under a non-IFS LSP), New's Poll is not forced, yet every
// socket lands on the overlapped engine and delivers its events.
func TestOverlappedAutomaticFallback(t *testing.T) {
	t.Setenv("POLLER_WINDOWS_ENGINE", "")
	oldCore, oldForce := newCore, forceOverlapped.Swap(false)
	newCore = newCCore
	defer func() { newCore, _ = oldCore, forceOverlapped.Swap(oldForce) }()
	withSwitches(t, wsaEOpNotSupp, -1)

	f := newFixture(t)
	p, events := f.p, f.events
	if p.sys.forceOverlapped {
		t.Fatal("the Poll is forced: the automatic choice is not tested")
	}
	r := p.Registry()
	ln, lnTok := f.listen()
	c, err := DialTCP("tcp4", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if !c.sock.connectDeferred() {
		t.Fatal("DialTCP connected a stream the overlapped engine will take")
	}
	cTok := f.register(c, Readable|Writable)
	for _, s := range []*socket{ln.sock, c.sock} {
		if e := engineOf(t, s); e != engineOverlapped {
			t.Fatalf("engine %d, want the overlapped engine", e)
		}
	}
	// Accept first (a waitEvent for one token drops the batch's others).
	s, remote, err := ln.Accept()
	for errors.Is(err, ErrWouldBlock) {
		f.wait(lnTok, readable)
		s, remote, err = ln.Accept()
	}
	if err != nil {
		t.Fatalf("Accept: %v", err)
	}
	defer s.Close()
	if err := c.TakeError(); err != nil {
		t.Fatalf("TakeError after connect: %v", err)
	}
	if remote.String() != c.LocalAddr().String() {
		t.Fatalf("accepted from %v, dialer is %v", remote, c.LocalAddr())
	}
	if _, _, err := ln.Accept(); !errors.Is(err, ErrWouldBlock) {
		t.Fatalf("second Accept = %v, want ErrWouldBlock", err)
	}
	sTok := f.register(s, Readable)
	if e := engineOf(t, s.sock); e != engineOverlapped {
		t.Fatalf("accepted stream: engine %d", e)
	}
	f.writeAll(c, cTok, []byte("ping"))
	if got := f.read(s, sTok, 4); string(got) != "ping" {
		t.Fatalf("read %q", got)
	}
	f.writeAll(s, sTok, []byte("pong"))
	if got := f.read(c, cTok, 4); string(got) != "pong" {
		t.Fatalf("read %q", got)
	}

	// UDP through WSARecvFrom and WSASendTo.
	a := listenUDP(t)
	defer a.Close()
	b := listenUDP(t)
	defer b.Close()
	if err := r.Register(b, 4, Readable); err != nil {
		t.Fatal(err)
	}
	if err := r.Register(a, 5, Writable); err != nil {
		t.Fatal(err)
	}
	if e := engineOf(t, b.sock); e != engineOverlapped {
		t.Fatalf("UDP: engine %d", e)
	}
	if _, err := a.WriteTo([]byte("dgram"), b.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 16)
	n, from, err := b.ReadFrom(buf)
	for errors.Is(err, ErrWouldBlock) {
		waitEvent(t, p, events, 4, readable)
		n, from, err = b.ReadFrom(buf)
	}
	if err != nil || string(buf[:n]) != "dgram" || from.String() != a.LocalAddr().String() {
		t.Fatalf("ReadFrom = %q from %v, %v", buf[:n], from, err)
	}
}

// Documented difference: registering binds the socket to the Poll's port
// for good.
func TestOverlappedBoundForGood(t *testing.T) {
	withOverlapped(t)
	p1, p2 := newPoll(t), newPoll(t)
	events := NewEvents(8)
	s, peer := streamPair(t)
	if err := p1.Registry().Register(s, 1, Readable); err != nil {
		t.Fatal(err)
	}
	awaitPeer(t, peer)
	if err := p1.Registry().Deregister(s); err != nil {
		t.Fatal(err)
	}
	if err := p2.Registry().Register(s, 1, Readable); !errors.Is(err, ErrBoundElsewhere) {
		t.Fatalf("Register with another poll after Deregister = %v, want ErrBoundElsewhere", err)
	}
	// Its own Poll takes it back.
	if err := p1.Registry().Register(s, 2, Readable); err != nil {
		t.Fatal(err)
	}
	peer.Write([]byte("again"))
	waitEvent(t, p1, events, 2, readable)
	p1.Close()
	if err := p2.Registry().Register(s, 3, Readable); !errors.Is(err, ErrBoundElsewhere) {
		t.Fatalf("Register after its poll closed = %v, want ErrBoundElsewhere", err)
	}

	// A package-net socket is bound to the runtime's port.
	ln := netListener(t)
	c, err := net.Dial("tcp4", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	rc, _ := c.(*net.TCPConn).SyscallConn()
	var h syscall.Handle
	rc.Control(func(fd uintptr) { h = syscall.Handle(fd) })
	if err := p2.Registry().Register(RawSocket(h), 4, Readable); !errors.Is(err, ErrBoundElsewhere) {
		t.Fatalf("RawSocket of a net.Conn = %v, want ErrBoundElsewhere", err)
	}

	// A raw socket of the caller's: registered twice with one Poll.
	fd, err := sysSocket(syscall.AF_INET, syscall.SOCK_DGRAM)
	if err != nil {
		t.Fatal(err)
	}
	defer sysCloseSocket(fd)
	sysBind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}})
	raw := RawSocket(syscall.Handle(fd))
	for i := 0; i < 2; i++ {
		if err := p2.Registry().Register(raw, 5, Writable); err != nil {
			t.Fatalf("Register #%d of a raw socket: %v", i+1, err)
		}
		waitEvent(t, p2, events, 5, writable)
		if err := p2.Registry().Deregister(raw); err != nil {
			t.Fatal(err)
		}
	}
}

// POLLER_WINDOWS_ENGINE=overlapped, read by New, forces the engine for
// every socket of the Poll (and DialTCP defers connects); unset, Wine's
// sockets get AFD. So the forced run of the suite cannot pass on AFD.
func TestOverlappedForcedByEnvironment(t *testing.T) {
	oldCore, oldForce := newCore, forceOverlapped.Swap(false)
	newCore = newCCore
	defer func() { newCore, _ = oldCore, forceOverlapped.Swap(oldForce) }()
	for _, tc := range []struct {
		env    string
		engine uint8
	}{{"overlapped", engineOverlapped}, {"", engineAFD}} {
		t.Setenv("POLLER_WINDOWS_ENGINE", tc.env)
		p := newPoll(t)
		s, peer := streamPair(t)
		if s.sock.connectDeferred() != (tc.engine == engineOverlapped) {
			t.Fatalf("POLLER_WINDOWS_ENGINE=%q: connect deferred = %v", tc.env, s.sock.connectDeferred())
		}
		if err := p.Registry().Register(s, 1, Readable); err != nil {
			t.Fatal(err)
		}
		if e := engineOf(t, s.sock); e != tc.engine {
			t.Fatalf("POLLER_WINDOWS_ENGINE=%q: engine %d, want %d", tc.env, e, tc.engine)
		}
		peer.Write([]byte("x"))
		waitEvent(t, p, NewEvents(4), 1, readable)
	}
}
