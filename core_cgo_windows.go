//go:build windows && cgo

package poller

/*
#cgo LDFLAGS: -lws2_32 -lntdll
#cgo noescape iocp_port_open
#cgo nocallback iocp_port_open
#cgo noescape iocp_sock_add_ex
#cgo nocallback iocp_sock_add_ex
#cgo noescape iocp_wait
#cgo nocallback iocp_wait
#cgo nocallback iocp_port_close
#cgo nocallback iocp_sock_modify
#cgo nocallback iocp_sock_rearm
#cgo nocallback iocp_sock_delete
#cgo nocallback iocp_sock_retire
#cgo nocallback iocp_bad_submits
#cgo nocallback iocp_wake
#cgo nocallback iocp_live_allocs
#cgo noescape iocp_ovl_send
#cgo nocallback iocp_ovl_send
#cgo noescape iocp_ovl_recvfrom
#cgo nocallback iocp_ovl_recvfrom
#cgo noescape iocp_ovl_accept
#cgo nocallback iocp_ovl_accept
#cgo nocallback iocp_ovl_connect_status
#cgo noescape iocp_ovl_delete
#cgo nocallback iocp_ovl_delete
#cgo nocallback iocp_ovl_handover
#cgo nocallback iocp_ovl_free
#cgo nocallback iocp_test_fail_send
#cgo nocallback iocp_engine_for
#cgo nocallback iocp_test_switches
#cgo nocallback iocp_live_bytes
#cgo nocallback iocp_syscalls
#include "iocp.h"
*/
import "C"

import (
	"sync/atomic"
	"syscall"
	"unsafe"
)

// cCore is the C core (iocp.c, with its engines in iocp_afd.c and iocp_ovl.c),
// the binding of iocp.h: every method is one cgo call (ovlSend and
// ovlDelete may make more), and Go memory passed in (buffers, addresses) is
// C's for the call's duration only.
type cCore struct {
	port uintptr
	n    atomic.Uint64 // cgo calls made
}

func newCCore() (core, error) { return &cCore{}, nil }

func cErr(rc C.int) error {
	if rc == 0 {
		return nil
	}
	return syscall.Errno(rc)
}

// cErrno is cErr without boxing WSAEWOULDBLOCK anew (boxing an Errno above
// 255 allocates).
func cErrno(rc C.int) error {
	if rc == 0 {
		return nil
	}
	return errnoErr(syscall.Errno(rc))
}

// bufPtr is p's first byte, or nil.
func bufPtr(p []byte) unsafe.Pointer {
	if len(p) == 0 {
		return nil
	}
	return unsafe.Pointer(&p[0])
}

func (c *cCore) calls() uint64 { return c.n.Load() }

func (c *cCore) open() error {
	c.n.Add(1)
	var port C.uintptr_t
	if err := cErr(C.iocp_port_open(&port)); err != nil {
		return err
	}
	c.port = uintptr(port)
	return nil
}

func (c *cCore) add(socket uintptr, id uint64, interest, flags uint32, connectTo unsafe.Pointer, connectLen int32) (uintptr, uint32, error) {
	c.n.Add(1)
	var st C.uintptr_t
	var engine C.uint32_t
	rc := C.iocp_sock_add_ex(C.uintptr_t(c.port), C.uintptr_t(socket), C.uint64_t(id), C.uint32_t(interest),
		C.uint32_t(flags), connectTo, C.int(connectLen), &st, &engine)
	return uintptr(st), uint32(engine), cErr(rc)
}

func (c *cCore) modify(state uintptr, id uint64, interest uint32) error {
	c.n.Add(1)
	return cErr(C.iocp_sock_modify(C.uintptr_t(c.port), C.uintptr_t(state), C.uint64_t(id), C.uint32_t(interest)))
}

func (c *cCore) rearm(state uintptr, bits uint32) error {
	c.n.Add(1)
	return cErr(C.iocp_sock_rearm(C.uintptr_t(c.port), C.uintptr_t(state), C.uint32_t(bits)))
}

func (c *cCore) remove(state uintptr) error {
	c.n.Add(1)
	return cErr(C.iocp_sock_delete(C.uintptr_t(c.port), C.uintptr_t(state)))
}

func (c *cCore) retire(state uintptr) error {
	c.n.Add(1)
	return cErr(C.iocp_sock_retire(C.uintptr_t(c.port), C.uintptr_t(state), 0))
}

// wait passes Go memory for the call's duration only: rearms and out hold
// no Go pointers, and C keeps none.
func (c *cCore) wait(rearms []coreRearm, out []rawEvent, timeoutMs uint32) (int, error) {
	c.n.Add(1)
	var pr *C.iocp_rearm
	if len(rearms) > 0 {
		pr = (*C.iocp_rearm)(unsafe.Pointer(&rearms[0]))
	}
	var po *C.iocp_event
	if len(out) > 0 {
		po = (*C.iocp_event)(unsafe.Pointer(&out[0]))
	}
	var n C.int
	rc := C.iocp_wait(C.uintptr_t(c.port), pr, C.int(len(rearms)), po, C.int(len(out)), C.uint32_t(timeoutMs), &n)
	return int(n), cErr(rc)
}

func (c *cCore) wake(id uint64) error {
	c.n.Add(1)
	return cErr(C.iocp_wake(C.uintptr_t(c.port), C.uint64_t(id)))
}

func (c *cCore) close() error {
	c.n.Add(1)
	return cErr(C.iocp_port_close(C.uintptr_t(c.port)))
}

// ovlSend gives the engine at most maxIOLen bytes per call (C takes an int).
// A stream's longer buffer goes in such parts for as long as the engine
// takes each one whole (as iocp_ovl_send itself does with its chunks), so
// that a short count comes only with the engine's would-block, whose
// Writable event follows. A datagram that long fails with WSAEMSGSIZE.
func (c *cCore) ovlSend(state uintptr, p []byte, to unsafe.Pointer, toLen int32) (int, error) {
	if to != nil && len(p) > maxIOLen {
		return 0, wsaEMsgSize
	}
	total := 0
	for {
		part := clampIO(p[total:])
		c.n.Add(1)
		var n C.int
		rc := C.iocp_ovl_send(C.uintptr_t(c.port), C.uintptr_t(state), bufPtr(part), C.int(len(part)), to, C.int(toLen), &n)
		total += int(n)
		if rc != 0 || int(n) < len(part) || total == len(p) {
			return total, cErrno(rc)
		}
	}
}

func (c *cCore) ovlRecvfrom(state uintptr, p []byte, from *syscall.RawSockaddrAny) (int, error) {
	p = clampIO(p)
	c.n.Add(1)
	var n C.int
	l := C.int(unsafe.Sizeof(*from))
	rc := C.iocp_ovl_recvfrom(C.uintptr_t(c.port), C.uintptr_t(state), bufPtr(p), C.int(len(p)), unsafe.Pointer(from), &l, &n)
	return int(n), cErrno(rc)
}

func (c *cCore) ovlAccept(state uintptr, remote *syscall.RawSockaddrAny) (uintptr, error) {
	c.n.Add(1)
	var s C.uintptr_t
	l := C.int(unsafe.Sizeof(*remote))
	rc := C.iocp_ovl_accept(C.uintptr_t(c.port), C.uintptr_t(state), &s, unsafe.Pointer(remote), &l)
	return uintptr(s), cErrno(rc)
}

func (c *cCore) ovlConnectStatus(state uintptr, take bool) error {
	c.n.Add(1)
	t := C.int(0)
	if take {
		t = 1
	}
	return cErrno(C.iocp_ovl_connect_status(C.uintptr_t(c.port), C.uintptr_t(state), t))
}

func (c *cCore) ovlDelete(state uintptr, linger bool) (heldBack, error) {
	c.n.Add(1)
	var h C.iocp_held
	flags := C.uint32_t(0)
	if linger {
		flags = rearmLinger
	}
	rc := C.iocp_ovl_delete(C.uintptr_t(c.port), C.uintptr_t(state), flags, &h)
	if rc != 0 {
		return heldBack{}, cErrno(rc)
	}
	b := heldBack{flags: uint32(h.flags), connectErr: syscall.Errno(h.connect_err)}
	if h.addr_len > 0 {
		raw := (*syscall.RawSockaddrAny)(unsafe.Pointer(&h.addr[0]))
		b.sa, _ = raw.Sockaddr()
	}
	if s := uintptr(h.socket); s != uintptr(syscall.InvalidHandle) {
		b.fd, b.hasFD = s, true
	}
	if h.data != nil {
		c.n.Add(1)
		b.data = C.GoBytes(h.data, h.data_len)
		b.hasData = true
		C.iocp_ovl_free(h.data)
	}
	return b, nil
}

func (c *cCore) ovlHandover(state uintptr) error {
	c.n.Add(1)
	return cErr(C.iocp_ovl_handover(C.uintptr_t(c.port), C.uintptr_t(state)))
}

// cLiveAllocs is the C core's count of live allocations, process-wide.
func cLiveAllocs() int64 { return int64(C.iocp_live_allocs()) }

// cBadSubmits is the C core's count of polls submitted for a state Go had
// deleted or retired, process-wide (iocp_bad_submits): 0 unless a bug.
func cBadSubmits() int64 { return int64(C.iocp_bad_submits()) }

// cCoreNew makes the C core; tests and benchmarks switch newCore between it
// and newGoCore (the pure-Go core, compiled in cgo builds too).
var cCoreNew func() (core, error) = newCCore

// defaultCore is the C core in cgo builds.
func defaultCore() (core, error) { return newCCore() }

// coreLiveAllocs is the live allocation count of the cores in this build:
// both cores' counts, so that it covers whichever core newCore picks.
func coreLiveAllocs() int64 { return cLiveAllocs() + goLiveAllocs() }

// coreBadSubmits is both cores' count of polls submitted for a state Go had
// deleted or retired: 0 unless a bug.
func coreBadSubmits() int64 { return cBadSubmits() + goBadSubmits.Load() }

// engineFor is the C core's choice of engine for a socket
// (iocp_engine_for): AFD, or the overlapped engine when the socket's
// base-handle query fails; a negative Winsock error if the query itself
// could not be made.
func engineFor(fd uintptr) int { return int(C.iocp_engine_for(C.uintptr_t(fd))) }

// ovlDialing reports whether a new stream on fd will use the overlapped
// engine: when it is forced, or when the C core would choose it. (Builds
// without cgo have no overlapped engine: core_nocgo_windows.go.)
func ovlDialing(fd uintptr) bool {
	return overlappedForced() || engineFor(fd) == engineOverlapped
}

// setTestFailSend makes the send after the next after sends of the
// overlapped engine fail at once with err (after < 0: none), process-wide.
func setTestFailSend(after int, err syscall.Errno) {
	C.iocp_test_fail_send(C.int(after), C.int(err))
}

// setTestSwitches sets iocp_test_switches: failBaseQuery non-zero makes
// every base-handle query fail with it (as a non-IFS LSP would); skipMode
// -1 decides skip-on-success per socket, 0 never sets it, 1 always.
func setTestSwitches(failBaseQuery syscall.Errno, skipMode int) {
	C.iocp_test_switches(C.int(failBaseQuery), C.int(skipMode))
}

// cLiveBytes and cSyscalls are the C core's counts of live heap bytes and
// of the system calls it made, process-wide.
func cLiveBytes() int64 { return int64(C.iocp_live_bytes()) }
func cSyscalls() uint64 { return uint64(C.iocp_syscalls()) }

// setTestBaseHandleFault sets iocp_test_switches so that SIO_BASE_HANDLE
// fails with err (0: no fault) and the BSP ioctls answer with the socket
// itself; skip-on-success is decided per socket.
func setTestBaseHandleFault(err syscall.Errno) {
	C.iocp_test_switches(-C.int(err), -1)
}
