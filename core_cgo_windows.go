//go:build windows && cgo

package poller

/*
#cgo LDFLAGS: -lws2_32 -lntdll
#cgo noescape iocp_port_open
#cgo nocallback iocp_port_open
#cgo noescape iocp_sock_add
#cgo nocallback iocp_sock_add
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
#include "iocp.h"
*/
import "C"

import (
	"sync/atomic"
	"syscall"
	"unsafe"
)

// cCore is the C core (iocp.c): every method is one cgo call.
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

func (c *cCore) add(socket uintptr, id uint64, interest uint32) (uintptr, error) {
	c.n.Add(1)
	var st C.uintptr_t
	rc := C.iocp_sock_add(C.uintptr_t(c.port), C.uintptr_t(socket), C.uint64_t(id), C.uint32_t(interest), &st)
	return uintptr(st), cErr(rc)
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
