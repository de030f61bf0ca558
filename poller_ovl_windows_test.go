//go:build windows && cgo

package poller

// Tests of the overlapped engine (iocp_ovl.c, poller_ovl_windows.go) through the
// public API: the automatic fallback, its documented differences from AFD,
// writes through the C send buffer, both skip-on-success modes, leaks; and
// the measurements behind BENCHMARKS.md's engines section.

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

const wsaEOpNotSupp = syscall.Errno(10045)

// withOverlapped makes the Polls and dials of the test use the overlapped
// engine (with the C core, whichever core the run's other tests use).
func withOverlapped(t testing.TB) {
	t.Helper()
	oldCore, oldForce := newCore, forceOverlapped.Swap(true)
	newCore = newCCore
	t.Cleanup(func() {
		forceOverlapped.Store(oldForce)
		newCore = oldCore
	})
}

// withSwitches sets the C core's test switches for the test.
func withSwitches(t testing.TB, failBaseQuery syscall.Errno, skipMode int) {
	t.Helper()
	setTestSwitches(failBaseQuery, skipMode)
	t.Cleanup(func() { setTestSwitches(0, -1) })
}

// ForEachSkipMode runs f as two subtests, skip-on-success off and on, when
// the overlapped engine is forced (POLLER_WINDOWS_ENGINE=overlapped or
// withOverlapped); otherwise once. Exported for example_test.go.
func ForEachSkipMode(t *testing.T, f func(t *testing.T)) {
	t.Helper()
	if !overlappedForced() {
		f(t)
		return
	}
	for _, mode := range []int{0, 1} {
		name := map[int]string{0: "skip=off", 1: "skip=on"}[mode]
		t.Run(name, func(t *testing.T) {
			withSwitches(t, 0, mode)
			f(t)
		})
	}
}

// engineOf is the engine of the socket's registration.
func engineOf(t testing.TB, s *socket) uint8 {
	t.Helper()
	reg := s.reg.Load()
	if reg == nil {
		t.Fatal("not registered")
	}
	return reg.sys.engine
}

// writeAll writes p, waiting for Writable (token) whenever Write would block.
func writeAll(t testing.TB, p *Poll, events *Events, s *TCPStream, token Token, b []byte) {
	t.Helper()
	for len(b) > 0 {
		n, err := s.Write(b)
		b = b[n:]
		if errors.Is(err, ErrWouldBlock) {
			waitEvent(t, p, events, token, writable)
			continue
		}
		if err != nil {
			t.Fatalf("Write: %v", err)
		}
	}
}

// readAll reads n bytes from s, waiting for Readable (token) on
// ErrWouldBlock.
func readAll(t testing.TB, p *Poll, events *Events, s *TCPStream, token Token, n int) []byte {
	t.Helper()
	out := make([]byte, 0, n)
	buf := make([]byte, n)
	for len(out) < n {
		k, err := s.Read(buf[:n-len(out)])
		out = append(out, buf[:k]...)
		if errors.Is(err, ErrWouldBlock) {
			waitEvent(t, p, events, token, readable)
			continue
		}
		if err != nil {
			t.Fatalf("Read: %v", err)
		}
	}
	return out
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

	p := newPoll(t)
	if p.sys.forceOverlapped {
		t.Fatal("the Poll is forced: the automatic choice is not tested")
	}
	r := p.Registry()
	events := NewEvents(16)
	ln, err := ListenTCP("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if err := r.Register(ln, 1, Readable); err != nil {
		t.Fatal(err)
	}
	c, err := DialTCP("tcp4", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if !c.sock.connectDeferred() {
		t.Fatal("DialTCP connected a stream the overlapped engine will take")
	}
	if err := r.Register(c, 2, Readable|Writable); err != nil {
		t.Fatal(err)
	}
	for _, s := range []*socket{ln.sock, c.sock} {
		if e := engineOf(t, s); e != engineOverlapped {
			t.Fatalf("engine %d, want the overlapped engine", e)
		}
	}
	// Accept first (a waitEvent for one token drops the batch's others).
	s, remote, err := ln.Accept()
	for errors.Is(err, ErrWouldBlock) {
		waitEvent(t, p, events, 1, readable)
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
	if err := r.Register(s, 3, Readable); err != nil {
		t.Fatal(err)
	}
	if e := engineOf(t, s.sock); e != engineOverlapped {
		t.Fatalf("accepted stream: engine %d", e)
	}
	writeAll(t, p, events, c, 2, []byte("ping"))
	if got := readAll(t, p, events, s, 3, 4); string(got) != "ping" {
		t.Fatalf("read %q", got)
	}
	writeAll(t, p, events, s, 3, []byte("pong"))
	if got := readAll(t, p, events, c, 2, 4); string(got) != "pong" {
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

// Documented difference: a stream dialed for this engine connects only
// when registered (ConnectEx needs the socket bound to the port).
func TestOverlappedConnectStartsAtRegister(t *testing.T) {
	withOverlapped(t)
	p := newPoll(t)
	ln := netListener(t).(*net.TCPListener)
	s, err := DialTCP("tcp4", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if !s.sock.connectDeferred() {
		t.Fatal("connect not deferred under the overlapped engine")
	}
	ln.SetDeadline(time.Now().Add(200 * time.Millisecond))
	if c, err := ln.Accept(); err == nil {
		c.Close()
		t.Fatal("a connection arrived before Register")
	}
	if _, err := s.Write([]byte("x")); err == nil || errors.Is(err, ErrWouldBlock) {
		t.Fatalf("Write before Register = %v, want a not-connected error", err)
	}
	if err := p.Registry().Register(s, 1, Writable); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, p, NewEvents(4), 1, writable)
	if err := s.TakeError(); err != nil {
		t.Fatalf("TakeError: %v", err)
	}
	ln.SetDeadline(time.Time{})
	peer, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	if _, err := s.Write([]byte("hi")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 2)
	if _, err := io.ReadFull(peer, buf); err != nil || string(buf) != "hi" {
		t.Fatalf("peer read %q, %v", buf, err)
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

// pattern is the byte stream the write tests send: byte i is i mod 251.
func pattern(off int64, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte((off + int64(i)) % 251)
	}
	return b
}

// readPattern reads n bytes of pattern from off and reports a mismatch.
func readPattern(peer io.Reader, off, n int64) error {
	buf := make([]byte, 64<<10)
	for n > 0 {
		k := int64(len(buf))
		if k > n {
			k = n
		}
		if _, err := io.ReadFull(peer, buf[:k]); err != nil {
			return err
		}
		if !bytes.Equal(buf[:k], pattern(off, int(k))) {
			return fmt.Errorf("bytes at %d differ", off)
		}
		off += k
		n -= k
	}
	return nil
}

// Writes go through the C send buffer: while a send is in flight Write takes
// nothing; its completion is Writable; every accepted byte arrives, in
// order, also when the registration is dropped with a send in flight.
func TestOverlappedWriteNothingLost(t *testing.T) {
	withOverlapped(t)
	p := newPoll(t)
	events := NewEvents(8)
	s, peer := streamPair(t)
	if err := p.Registry().Register(s, 1, Writable); err != nil {
		t.Fatal(err)
	}
	awaitPeer(t, peer)
	waitEvent(t, p, events, 1, writable)

	var sent int64
	fill := func() {
		for {
			n, err := s.Write(pattern(sent, 100_000))
			sent += int64(n)
			if errors.Is(err, ErrWouldBlock) {
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if sent > 256<<20 {
				t.Fatal("the send path never filled")
			}
		}
	}
	fill()
	if n, err := s.Write([]byte("more")); n != 0 || !errors.Is(err, ErrWouldBlock) {
		t.Fatalf("Write with a send in flight = %d, %v, want 0, ErrWouldBlock", n, err)
	}
	read := make(chan error, 1)
	go func(n int64) { read <- readPattern(peer, 0, n) }(sent)
	waitEvent(t, p, events, 1, writable)
	if err := <-read; err != nil {
		t.Fatalf("peer: %v", err)
	}

	// Again, then Deregister with the send in flight: it still finishes.
	first := sent
	fill()
	if err := p.Registry().Deregister(s); err != nil {
		t.Fatal(err)
	}
	if err := readPattern(peer, first, sent-first); err != nil {
		t.Fatalf("peer after Deregister: %v", err)
	}
	t.Logf("%d bytes, all delivered", sent)
}

// Without skip-on-success (as where the provider has no IFS handles) every
// operation completes through its packet: no event twice, none lost, and a
// send stays in flight until its packet is dequeued.
func TestOverlappedSkipOff(t *testing.T) {
	withOverlapped(t)
	withSwitches(t, 0, 0)
	p := newPoll(t)
	events := NewEvents(8)
	s, peer := streamPair(t)
	if err := p.Registry().Register(s, 1, Readable|Writable); err != nil {
		t.Fatal(err)
	}
	if s.sock.sys.boundSkip.Load() {
		t.Fatal("skip-on-success set with the switch off")
	}
	awaitPeer(t, peer)
	waitEvent(t, p, events, 1, writable)
	buf := make([]byte, 8)
	for round := 0; round < 5; round++ {
		peer.Write([]byte("ping"))
		waitEvent(t, p, events, 1, readable)
		if got := drain(t, s); string(got) != "ping" {
			t.Fatalf("round %d: read %q", round, got)
		}
		writeAll(t, p, events, s, 1, []byte("pong"))
		if _, err := io.ReadFull(peer, buf[:4]); err != nil || string(buf[:4]) != "pong" {
			t.Fatalf("round %d: peer read %q, %v", round, buf[:4], err)
		}
	}

	// Data there before Register completes at once: one event only.
	s2, peer2 := streamPair(t)
	p2 := newPoll(t)
	go peer2.Write([]byte("early"))
	if err := p2.Registry().Register(s2, 7, Readable); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, p2, events, 7, readable)
	expectQuiet(t, p2, events, 7)
	if got := drain(t, s2); string(got) != "early" {
		t.Fatalf("read %q", got)
	}

	// Accept and UDP.
	ln, err := ListenTCP("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if err := p.Registry().Register(ln, 2, Readable); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		c, err := net.Dial("tcp4", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
	}
	for accepted := 0; accepted < 3; {
		waitEvent(t, p, events, 2, readable)
		for {
			a, _, err := ln.Accept()
			if errors.Is(err, ErrWouldBlock) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			a.Close()
			accepted++
		}
	}
	u1 := listenUDP(t)
	defer u1.Close()
	u2 := listenUDP(t)
	defer u2.Close()
	p.Registry().Register(u1, 3, Writable)
	p.Registry().Register(u2, 4, Readable)
	waitEvent(t, p, events, 3, writable)
	// One datagram at a time: each send is in flight until its packet is
	// dequeued, and that is u1's next Writable. Waiting for one token drops
	// the batch's others, so u2 is read first, then waited for.
	var got []byte
	for i := 0; i < 3; i++ {
		for {
			_, err := u1.WriteTo([]byte{'a' + byte(i)}, u2.LocalAddr())
			if err == nil {
				break
			}
			if !errors.Is(err, ErrWouldBlock) {
				t.Fatal(err)
			}
			waitEvent(t, p, events, 3, writable)
		}
	}
	for len(got) < 3 {
		n, _, err := u2.ReadFrom(buf)
		if errors.Is(err, ErrWouldBlock) {
			waitEvent(t, p, events, 4, readable)
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, buf[:n]...)
	}
	if string(got) != "abc" {
		t.Fatalf("datagrams %q, want abc in order", got)
	}
}

// Register, use and drop states every way, with listeners and UDP sockets:
// no C allocation and no handle (AcceptEx's pre-created sockets included)
// left behind.
func TestOverlappedNoLeaks(t *testing.T) {
	withOverlapped(t)
	ln := netListener(t)
	cycles := func(n int) {
		polls := cyclingPoll{t: t}
		for i := 0; i < n; i++ {
			p := polls.get()
			r := p.Registry()
			s, err := DialTCP("tcp4", ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			if err := r.Register(s, Token(i), Readable); err != nil {
				t.Fatal(err)
			}
			c, err := ln.Accept()
			if err != nil {
				t.Fatal(err)
			}
			switch i % 4 {
			case 0:
				r.Deregister(s)
			case 1:
				s.Write([]byte("x")) // a send, maybe still in flight
			}
			if i%10 == 0 {
				l, _ := ListenTCP("tcp4", "127.0.0.1:0")
				u, _ := ListenUDP("udp4", "127.0.0.1:0")
				r.Register(l, 1<<20, Readable) // an AcceptEx pending
				r.Register(u, 1<<21, Readable) // a WSARecvFrom pending
				if i%20 == 0 {
					l.Close()
					u.Close()
				} else {
					defer l.Close() // closed after their Poll
					defer u.Close()
				}
			}
			s.Close()
			c.Close()
			if i%25 == 24 {
				p.Wait(NewEvents(64), 0)
			}
			if i%50 == 49 {
				polls.close()
			}
		}
		polls.close()
	}
	cycles(50)
	base, baseBytes := takeLeakSnapshot(t), cLiveBytes()
	const n = 400
	cycles(n)
	checkCycleLeaks(t, base, n)
	if got := cLiveBytes(); got != baseBytes {
		t.Errorf("C bytes %d after %d cycles, baseline %d", got, n, baseBytes)
	}
}

// ---- BENCHMARKS.md: the two engines side by side ----

type engineFigures struct {
	name                  string
	streamBytes, udpBytes float64 // C heap per idle registration
	listenerBytes         float64
	waitsPerRound         float64
	cgoPerEvent           float64 // Go-to-C crossings
	goSyscallsPerEvent    float64 // recv and send made from Go
	cSyscallsPerEvent     float64 // Winsock / IOCP / NT calls made in C
}

// measureEngine takes an engine's figures; overlapped picks the engine.
func measureEngine(t *testing.T, overlapped bool) engineFigures {
	oldCore, oldForce := newCore, forceOverlapped.Swap(overlapped)
	newCore = newCCore
	defer func() { newCore, _ = oldCore, forceOverlapped.Swap(oldForce) }()
	f := engineFigures{name: "AFD (IOCTL_AFD_POLL)"}
	if overlapped {
		f.name = "overlapped (iocp_ovl.c)"
	}
	p := newPoll(t)
	r := p.Registry()
	ln := netListener(t)

	// Memory: idle streams registered Readable|Writable (writable
	// reported), a UDP socket registered Readable, a listener.
	const idle = 256
	before := cLiveBytes()
	peers := make([]net.Conn, 0, idle)
	streams := make([]*TCPStream, 0, idle)
	events := NewEvents(1024)
	for i := 0; i < idle; i++ {
		s, err := DialTCP("tcp4", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if err := r.Register(s, Token(i), Readable|Writable); err != nil {
			t.Fatal(err)
		}
		c, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		streams, peers = append(streams, s), append(peers, c)
	}
	for seen := map[Token]bool{}; len(seen) < idle; {
		if err := p.Wait(events, eventTimeout); err != nil {
			t.Fatal(err)
		}
		for ev := range events.All() {
			seen[ev.Token()] = true
		}
	}
	f.streamBytes = float64(cLiveBytes()-before) / idle
	before = cLiveBytes()
	u, _ := ListenUDP("udp4", "127.0.0.1:0")
	defer u.Close()
	r.Register(u, 1<<20, Readable)
	f.udpBytes = float64(cLiveBytes() - before)
	before = cLiveBytes()
	l, _ := ListenTCP("tcp4", "127.0.0.1:0")
	defer l.Close()
	r.Register(l, 1<<21, Readable)
	f.listenerBytes = float64(cLiveBytes() - before)

	// Crossings: 64 of the streams become readable; Wait until all have
	// reported, Read each until ErrWouldBlock and Write a 16-byte reply.
	const ready, rounds = 64, 20
	msg := []byte("0123456789abcdef")
	buf := make([]byte, 64)
	var waits, evs, cgo, cSys, goSys float64
	for round := 0; round < rounds; round++ {
		for i := 0; i < ready; i++ {
			peers[i].Write(msg)
		}
		time.Sleep(20 * time.Millisecond)
		c0, s0 := p.sys.core.calls(), cSyscalls()
		done := 0
		for done < ready {
			if err := p.Wait(events, eventTimeout); err != nil {
				t.Fatal(err)
			}
			waits++
			for ev := range events.All() {
				if !ev.IsReadable() {
					continue
				}
				s := streams[ev.Token()]
				for {
					goSys++ // one recv
					_, err := s.Read(buf)
					if errors.Is(err, ErrWouldBlock) {
						break
					}
					if err != nil {
						t.Fatal(err)
					}
				}
				if engineOf(t, s.sock) == engineAFD {
					goSys++ // one send; the engine's is a cgo call
				}
				if _, err := s.Write(msg); err != nil {
					t.Fatal(err)
				}
				done++
				evs++
			}
		}
		cgo += float64(p.sys.core.calls() - c0)
		cSys += float64(cSyscalls() - s0)
		for i := 0; i < ready; i++ {
			io.ReadFull(peers[i], buf[:len(msg)])
		}
	}
	f.waitsPerRound = waits / rounds
	f.cgoPerEvent = cgo / evs
	f.goSyscallsPerEvent = goSys / evs
	f.cSyscallsPerEvent = cSys / evs
	return f
}

func TestOverlappedEngineFigures(t *testing.T) {
	t.Setenv("POLLER_WINDOWS_ENGINE", "")
	figs := []engineFigures{measureEngine(t, false), measureEngine(t, true)}
	var b strings.Builder
	b.WriteString(`## Windows engines: AFD and overlapped

Reproduce with ` + "`make bench-engines`" + ` (runs TestOverlappedEngineFigures in
poller_ovl_windows_test.go under Wine, one cgo binary, both engines of the C core, and rewrites
this section). The overlapped engine (iocp_ovl.c) is the fallback for sockets whose base
socket AFD cannot see (non-IFS layered providers); ` + "`POLLER_WINDOWS_ENGINE=overlapped`" + ` forces it.

Memory: C heap bytes per registration, measured (` + "`iocp_live_bytes`" + `, malloc's usable sizes) with
256 idle streams registered Readable|Writable, one UDP socket and one listener registered Readable.
Kernel memory is not counted: each engine keeps one request pending per idle socket (AFD: one poll
IRP on a shared helper handle; overlapped: one zero-byte receive IRP on the socket itself, which
pins no buffer).

Crossings: 64 streams made readable by their peers (16 bytes each); ` + "`Wait`" + ` (capacity 1,024)
until all have reported; each stream read until ` + "`ErrWouldBlock`" + ` and answered with one 16-byte
` + "`Write`" + `; 20 rounds. A crossing is a Go-to-C call (cgo) or a system call made from Go (` + "`recv`" + `,
` + "`send`" + `); the system calls the C core makes on its side are counted apart. Counts, not times, carry over
to Windows.

| engine | C bytes per idle stream | per UDP socket | per listener | Waits per round | cgo calls per event | Go system calls per event | crossings per event | C-side system calls per event |
|---|---:|---:|---:|---:|---:|---:|---:|---:|
`)
	for _, f := range figs {
		fmt.Fprintf(&b, "| %s | %.0f | %.0f | %.0f | %.2f | %.3f | %.3f | %.3f | %.3f |\n",
			f.name, f.streamBytes, f.udpBytes, f.listenerBytes, f.waitsPerRound, f.cgoPerEvent,
			f.goSyscallsPerEvent, f.cgoPerEvent+f.goSyscallsPerEvent, f.cSyscallsPerEvent)
	}
	b.WriteString(`
Reading the table:

- Memory. An AFD registration is one ` + "`iocp_sock`" + ` (its IO_STATUS_BLOCK and AFD_POLL_INFO) plus a
  32nd of a helper record. An overlapped one is one ` + "`ovl_sock`" + `: two OVERLAPPED records and the
  addresses its operations need; its send buffer exists only while a send is in flight (at
  most 64 KiB, for a backlog the kernel did not take at once). A UDP socket adds the 64 KiB
  datagram buffer its pending WSARecvFrom fills (a zero-byte receive could drop a datagram);
  a listener adds nothing on the heap but holds one pre-created socket for its AcceptEx.
- Crossings. Reads are ` + "`recv`" + ` from Go in both engines (the data, then WSAEWOULDBLOCK). AFD's
  reply is a ` + "`send`" + ` from Go; the overlapped engine's is one cgo call into
  ` + "`iocp_ovl_send`" + `, which copies into the C buffer and issues WSASend: one crossing either way.
  Each Wait is one cgo call for both: the re-arms it carries (AFD polls, zero-byte receives)
  are issued on the C side.
- C-side system calls per event: AFD re-submits one poll per re-arm and shares one
  GetQueuedCompletionStatusEx per batch. The overlapped engine issues the zero-byte WSARecv
  per re-arm, peeks one byte when it completes (to tell data from FIN), and issues the
  reply's WSASend; with skip-on-success (set where the provider has IFS handles, as here)
  a send the kernel takes at once queues no packet.
`)
	section := b.String()
	t.Log("\n" + section)
	if path := os.Getenv("POLLER_ENGINES_MD"); path != "" {
		if err := rewriteSection(path, "engines", section); err != nil {
			t.Fatal(err)
		}
	}
}

// rewriteSection replaces what lies between <!-- name:begin --> and
// <!-- name:end --> in the file at path, appending both markers when absent.
func rewriteSection(path, name, body string) error {
	old, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		return err
	}
	begin, end := "<!-- "+name+":begin -->", "<!-- "+name+":end -->"
	text := string(old)
	i, j := strings.Index(text, begin), strings.Index(text, end)
	block := begin + "\n" + body + end
	switch {
	case i >= 0 && j > i:
		text = text[:i] + block + text[j+len(end):]
	case len(text) == 0:
		text = "# Benchmarks\n\n" + block + "\n"
	default:
		text = strings.TrimRight(text, "\n") + "\n\n" + block + "\n"
	}
	return os.WriteFile(path, []byte(text), 0o644)
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

// runLoop keeps Waiting on p in a goroutine until the returned stop is
// called; stop returns the loop's Wait error, if any.
func runLoop(p *Poll) (stop func() error) {
	quit := make(chan struct{})
	result := make(chan error, 1)
	go func() {
		ev := NewEvents(8)
		for {
			select {
			case <-quit:
				result <- nil
				return
			default:
			}
			if err := p.Wait(ev, 20*time.Millisecond); err != nil {
				result <- err
				return
			}
		}
	}()
	return func() error {
		close(quit)
		return <-result
	}
}

// The lingering close: Close with the engine's send in flight loses nothing.
// 4 MiB and more go through Writes and Writable waits (the peer reading only
// between rounds), the last Write leaving a send in flight with the peer
// paused; then Close at once, with or without a Wait blocked meanwhile (a
// deferred delete and handover). The event loop keeps waiting; the peer
// reads every byte, checksum compared, then EOF; C's allocations go back.
// Also: the Poll closed before the socket's last reference is gone: Go
// closes the handle itself.
func TestOverlappedCloseLosesNothing(t *testing.T) {
	for _, blocked := range []bool{false, true} {
		t.Run(fmt.Sprintf("waitBlocked=%v", blocked), func(t *testing.T) {
			withOverlapped(t)
			base := cLiveAllocs()
			p := newPoll(t)
			events := NewEvents(8)
			s, peer := streamPair(t)
			if err := p.Registry().Register(s, 1, Writable); err != nil {
				t.Fatal(err)
			}
			awaitPeer(t, peer)
			waitEvent(t, p, events, 1, writable)

			// The peer reads what it is asked for, then (on close of more)
			// the rest to EOF; its count and checksum come back.
			more := make(chan int64)
			type result struct {
				n   int64
				sum [32]byte
				err error
			}
			done := make(chan result, 1)
			go func() {
				h := sha256.New()
				var n int64
				for k := range more {
					m, err := io.CopyN(h, peer, k)
					n += m
					if err != nil {
						done <- result{n: n, err: err}
						return
					}
				}
				peer.SetReadDeadline(time.Now().Add(30 * time.Second))
				m, err := io.Copy(h, peer)
				n += m
				var r result
				r.n, r.err = n, err
				copy(r.sum[:], h.Sum(nil))
				done <- r
			}()

			want := sha256.New()
			var sent, asked int64
			fill := func() { // until a send stays in flight
				for {
					b := pattern(sent, 100_000)
					n, err := s.Write(b)
					want.Write(b[:n])
					sent += int64(n)
					if errors.Is(err, ErrWouldBlock) {
						return
					}
					if err != nil {
						t.Fatal(err)
					}
					if sent > 256<<20 {
						t.Fatal("the send path never filled")
					}
				}
			}
			for fill(); sent < 4<<20; fill() {
				more <- sent - asked // the peer drains; Writable follows
				asked = sent
				waitEvent(t, p, events, 1, writable)
			}
			if n, err := s.Write([]byte("x")); n != 0 || !errors.Is(err, ErrWouldBlock) {
				t.Fatalf("Write with a send in flight = %d, %v, want 0, ErrWouldBlock", n, err)
			}

			// The event loop keeps running; with blocked, Close comes
			// while its Wait is blocked.
			stopLoop := runLoop(p)
			if blocked {
				waitBlocked(p)
			} else if err := stopLoop(); err != nil {
				t.Fatal(err)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			if !blocked { // the loop resumes after the Close
				stopLoop = runLoop(p)
			}
			close(more)
			r := <-done
			if err := stopLoop(); err != nil {
				t.Fatal(err)
			}
			if r.err != nil {
				t.Fatalf("peer after %d of %d bytes: %v", r.n, sent, r.err)
			}
			if r.n != sent || !bytes.Equal(r.sum[:], want.Sum(nil)) {
				t.Fatalf("peer got %d bytes (checksum equal: %v), want %d", r.n, bytes.Equal(r.sum[:], want.Sum(nil)), sent)
			}
			if err := p.Close(); err != nil {
				t.Fatal(err)
			}
			if got := cLiveAllocs(); got != base {
				t.Fatalf("C allocations %d, want %d", got, base)
			}
			t.Logf("%d bytes, all delivered, then EOF", sent)
		})
	}

	// The Poll closes while an operation still holds the closed socket:
	// its last release finds the Poll gone and closes the handle itself.
	t.Run("pollClosedFirst", func(t *testing.T) {
		withOverlapped(t)
		base := cLiveAllocs()
		p := newPoll(t)
		s, peer := streamPair(t)
		if err := p.Registry().Register(s, 1, Writable|Readable); err != nil {
			t.Fatal(err)
		}
		awaitPeer(t, peer)
		if err := s.sock.acquire(); err != nil { // an operation in flight
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if s.sock.sys.linger.Load() == nil {
			t.Fatal("Close did not delete with linger")
		}
		if err := p.Close(); err != nil {
			t.Fatal(err)
		}
		if got := cLiveAllocs(); got != base {
			t.Fatalf("C allocations %d, want %d", got, base)
		}
		s.sock.release() // the last reference: Go closes the handle
		peer.SetReadDeadline(time.Now().Add(10 * time.Second))
		if n, err := peer.Read(make([]byte, 1)); err == nil {
			t.Fatalf("peer read %d bytes, want EOF", n)
		} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
			t.Fatal("the handle was never closed")
		}
	})
}

// fullListener returns the address of a listener (backlog 1) whose accept
// queue is full: a new connect to it stays pending (its SYNs dropped).
func fullListener(t *testing.T) string {
	t.Helper()
	addr, _ := fullListenerHandle(t)
	return addr
}

// fullListenerHandle is fullListener, with the listener's handle (to make
// room by accepting).
func fullListenerHandle(t *testing.T) (string, syscall.Handle) {
	t.Helper()
	h, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, syscall.IPPROTO_TCP)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Closesocket(h) })
	if err := syscall.Bind(h, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Listen(h, 1); err != nil {
		t.Fatal(err)
	}
	sa, err := syscall.Getsockname(h)
	if err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", sa.(*syscall.SockaddrInet4).Port)
	for i := 0; ; i++ {
		if i == 16 {
			t.Fatal("the listener's queue never filled")
		}
		c, err := net.DialTimeout("tcp4", addr, 500*time.Millisecond)
		if err != nil {
			return addr, h // timed out: the queue is full
		}
		t.Cleanup(func() { c.Close() })
	}
}

// Deregister while the deferred connect (ConnectEx) is in flight, then
// Register again: the stream must not report a connect that did not
// happen. Every Writable after the re-Register either comes with TakeError
// reporting a failure, or the stream really is connected.
func TestOverlappedReregisterDuringConnect(t *testing.T) {
	withOverlapped(t)
	ForEachSkipMode(t, func(t *testing.T) {
		addr := fullListener(t)
		p := newPoll(t)
		events := NewEvents(8)
		s, err := DialTCP("tcp4", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		r := p.Registry()
		if err := r.Register(s, 1, Writable); err != nil {
			t.Fatal(err)
		}
		expectQuiet(t, p, events, 1) // the connect is pending
		if err := r.Deregister(s); err != nil {
			t.Fatal(err)
		}
		if err := r.Register(s, 1, Writable); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(2 * time.Second)
		for time.Now().Before(deadline) {
			if err := p.Wait(events, time.Until(deadline)); err != nil {
				t.Fatal(err)
			}
			for ev := range events.All() {
				if ev.Token() != 1 || !ev.IsWritable() {
					continue
				}
				terr := s.TakeError()
				_, perr := syscall.Getpeername(syscall.Handle(s.sock.fd))
				if terr == nil && perr != nil {
					t.Fatalf("Writable (%v) with TakeError nil, yet not connected (getpeername: %v)", ev, perr)
				}
				t.Logf("Writable %v: TakeError %v, getpeername %v", ev, terr, perr)
				return
			}
		}
		t.Log("no Writable: the restarted connect is pending")
	})
}

// Deregister and Register again (twice) while the connect is really
// pending (the listener's queue is full) leave the connect alone, as AFD and epoll do:
// once the listener makes room, the stream connects (Writable, TakeError
// nil, a peer address).
func TestOverlappedReregisterDuringPendingConnectConnects(t *testing.T) {
	withOverlapped(t)
	ForEachSkipMode(t, func(t *testing.T) {
		addr, lh := fullListenerHandle(t)
		p := newPoll(t)
		events := NewEvents(8)
		s, err := DialTCP("tcp4", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		r := p.Registry()
		if err := r.Register(s, 1, Writable); err != nil {
			t.Fatal(err)
		}
		expectQuiet(t, p, events, 1) // the connect is pending
		// Twice, with no Wait between: the second Register finds the
		// connect through a state deleted and not yet freed.
		for i := 0; i < 2; i++ {
			if err := r.Deregister(s); err != nil {
				t.Fatal(err)
			}
			if err := r.Register(s, 1, Writable); err != nil {
				t.Fatal(err)
			}
		}
		// Make room: accept what the queue holds; the stream's SYN is
		// retried and accepted.
		setNonblock(uintptr(lh))
		for i := 0; i < 2; i++ {
			if a, _, err := sysAccept(uintptr(lh)); err == nil {
				sysCloseSocket(a)
			}
		}
		ev := waitEvent(t, p, events, 1, writable)
		if err := s.TakeError(); err != nil {
			t.Fatalf("Writable (%v) with TakeError %v: the Deregister aborted the connect", ev, err)
		}
		if _, err := syscall.Getpeername(syscall.Handle(s.sock.fd)); err != nil {
			t.Fatalf("Writable (%v), yet not connected: getpeername %v", ev, err)
		}
	})
}

// A send that fails at once partway through a large Write (the second of
// its 64 KiB sends, injected) returns the accepted count with
// ErrWouldBlock; a Writable must follow, and the next Write reports the
// failure.
func TestOverlappedShortWriteFailureIsReported(t *testing.T) {
	withOverlapped(t)
	ForEachSkipMode(t, func(t *testing.T) {
		p := newPoll(t)
		events := NewEvents(8)
		s, peer := streamPair(t)
		if err := p.Registry().Register(s, 1, Writable); err != nil {
			t.Fatal(err)
		}
		awaitPeer(t, peer)
		waitEvent(t, p, events, 1, writable)
		setTestFailSend(1, wsaEConnReset)
		t.Cleanup(func() { setTestFailSend(-1, 0) })
		b := make([]byte, 200<<10)
		n, err := s.Write(b)
		t.Logf("Write = %d, %v", n, err)
		for errors.Is(err, ErrWouldBlock) {
			b = b[n:]
			waitEvent(t, p, events, 1, writable) // never came before the fix
			n, err = s.Write(b)
		}
		if !errors.Is(err, syscall.ECONNRESET) {
			t.Fatalf("Write = %d, %v, want the injected ECONNRESET", n, err)
		}
	})
}
