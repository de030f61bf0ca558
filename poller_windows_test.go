package poller

// Windows-only checks of the completion-port backend: allocation and handle
// leaks, crossings per batch, and foreign sockets through RawSocket.

import (
	"errors"
	"net"
	"syscall"
	"testing"
	"unsafe"
)

var (
	kernel32                     = syscall.NewLazyDLL("kernel32.dll")
	procGetProcessHandleCount    = kernel32.NewProc("GetProcessHandleCount")
	ntdll                        = syscall.NewLazyDLL("ntdll.dll")
	procNtQuerySystemInformation = ntdll.NewProc("NtQuerySystemInformation")
)

// handleCount returns the process's open handles: GetProcessHandleCount, or
// where that answers 0 (Wine 8), the process's entries in the system handle
// table (SystemHandleInformation).
func handleCount(t testing.TB) int {
	t.Helper()
	var n uint32
	r, _, _ := procGetProcessHandleCount.Call(uintptr(^uintptr(0)), uintptr(unsafe.Pointer(&n)))
	if r != 0 && n != 0 {
		return int(n)
	}
	const systemHandleInformation = 16
	const statusInfoLengthMismatch = 0xC0000004
	buf := make([]byte, 1<<20)
	for {
		var ret uint32
		st, _, _ := procNtQuerySystemInformation.Call(systemHandleInformation,
			uintptr(unsafe.Pointer(&buf[0])), uintptr(len(buf)), uintptr(unsafe.Pointer(&ret)))
		if uint32(st) == statusInfoLengthMismatch {
			buf = make([]byte, 2*len(buf))
			continue
		}
		if st != 0 {
			t.Fatalf("NtQuerySystemInformation: %#x", st)
		}
		break
	}
	// SYSTEM_HANDLE_INFORMATION: ULONG count (padded to a pointer), then
	// entries of 8 bytes and two pointer-sized fields (24 bytes on 64-bit,
	// 16 on 386) whose first USHORT is the owning process id.
	count := *(*uint32)(unsafe.Pointer(&buf[0]))
	pid := uint16(syscall.Getpid())
	ptr := int(unsafe.Sizeof(uintptr(0)))
	size := 8 + 2*ptr
	mine := 0
	for i := uint32(0); i < count; i++ {
		off := ptr + size*int(i)
		if off+size > len(buf) {
			break
		}
		if *(*uint16)(unsafe.Pointer(&buf[off])) == pid {
			mine++
		}
	}
	if mine == 0 {
		t.Fatal("no handle count available")
	}
	return mine
}

// liveAllocs counts the live allocations of the cores in this build (both
// the C core's and the pure-Go core's in cgo builds).
func liveAllocs() int64 { return coreLiveAllocs() }

// stressCycles registers a stream with a poll left pending, then deregisters
// it, closes it, or closes its Poll, n times.
func stressCycles(t *testing.T, ln net.Listener, n int) {
	polls := cyclingPoll{t: t}
	for i := 0; i < n; i++ {
		p := polls.get()
		s, c := dialAccept(t, ln)
		// Readable only: the poll stays pending, nothing is sent.
		if err := p.Registry().Register(s, Token(i), Readable); err != nil {
			t.Fatal(err)
		}
		switch {
		case i%4 == 0:
			if err := p.Registry().Deregister(s); err != nil {
				t.Fatal(err)
			}
		case i%100 == 99:
			polls.close() // with the poll still pending
		}
		s.Close() // deregisters first where still registered
		c.Close()
		if i%50 == 0 && polls.p != nil {
			p.Wait(NewEvents(64), 0) // lets cancelled states' packets free them
		}
	}
	polls.close()
}

// cyclingPoll is the Poll of stress cycles that close it now and then: get
// makes a new one after each close.
type cyclingPoll struct {
	t testing.TB
	p *Poll // nil after close
}

func (c *cyclingPoll) get() *Poll {
	if c.p == nil {
		var err error
		if c.p, err = New(); err != nil {
			c.t.Fatal(err)
		}
	}
	return c.p
}

func (c *cyclingPoll) close() {
	if c.p != nil {
		c.p.Close()
		c.p = nil
	}
}

func TestStressRegisterPendingDeregister(t *testing.T) {
	requireAFD(t, "its streams are accepted before they are registered (dialAccept)")
	ln := netListener(t)
	// Warm up: Winsock's one-time handles and the Go runtime's threads.
	stressCycles(t, ln, 200)
	base := takeLeakSnapshot(t)
	const cycles = 2000
	stressCycles(t, ln, cycles)
	now := checkCycleLeaks(t, base, cycles)
	t.Logf("%d cycles: handles %d -> %d, core allocations %d -> %d", cycles, base.handles, now.handles, base.allocs, now.allocs)
}

// A socket owned by package net (bound to the runtime's own port) delivers
// readable events through RawSocket: AFD needs no port binding.
func TestRawSocketNetConn(t *testing.T) {
	requireAFD(t, "a package-net socket is bound to Go's own completion port, and the overlapped engine must bind it to the Poll's")
	p := newPoll(t)
	ln := netListener(t)
	c, err := net.Dial("tcp4", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	peer, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	rc, err := c.(*net.TCPConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var h syscall.Handle
	rc.Control(func(fd uintptr) { h = syscall.Handle(fd) })
	src := RawSocket(h)
	if err := p.Registry().Register(src, 77, Readable); err != nil {
		t.Fatal(err)
	}
	events := NewEvents(8)
	peer.Write([]byte("from net"))
	waitEvent(t, p, events, 77, readable)
	buf := make([]byte, 16)
	n, err := c.Read(buf)
	if err != nil || string(buf[:n]) != "from net" {
		t.Fatalf("net.Conn Read = %q, %v", buf[:n], err)
	}
	// The caller's own read told it nothing more is there: Rearm, as after
	// WSAEWOULDBLOCK (a Reregister would poll afresh and hide a lost edge).
	if err := p.Registry().Rearm(src, Readable); err != nil {
		t.Fatal(err)
	}
	peer.Write([]byte("again"))
	waitEvent(t, p, events, 77, readable)
	if err := p.Registry().Deregister(src); err != nil {
		t.Fatal(err)
	}
	if err := p.Registry().Register(RawSocket(syscall.InvalidHandle), 1, Readable); !errors.Is(err, ErrNilSource) {
		t.Fatalf("RawSocket(InvalidHandle) = %v, want ErrNilSource", err)
	}
}
