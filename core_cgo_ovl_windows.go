//go:build windows && cgo

package poller

/*
#cgo noescape iocp_sock_add_ex
#cgo nocallback iocp_sock_add_ex
#cgo noescape iocp_ovl_send
#cgo nocallback iocp_ovl_send
#cgo noescape iocp_ovl_recvfrom
#cgo nocallback iocp_ovl_recvfrom
#cgo noescape iocp_ovl_accept
#cgo nocallback iocp_ovl_accept
#cgo nocallback iocp_ovl_connect_status
#cgo nocallback iocp_engine_for
#cgo nocallback iocp_test_switches
#cgo nocallback iocp_live_bytes
#cgo nocallback iocp_syscalls
#include "iocp.h"
*/
import "C"

import (
	"syscall"
	"unsafe"
)

// The C core's overlapped engine (iocp_ovl.c): cCore implements
// engineCore. Every method is one cgo call; Go memory passed in (buffers,
// addresses) is C's for the call's duration only.

func init() {
	engineFor = func(fd uintptr) int { return int(C.iocp_engine_for(C.uintptr_t(fd))) }
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

func (c *cCore) addEngine(socket uintptr, id uint64, interest, flags uint32, connectTo unsafe.Pointer, connectLen int32) (uintptr, uint32, error) {
	c.n.Add(1)
	var st C.uintptr_t
	var engine C.uint32_t
	rc := C.iocp_sock_add_ex(C.uintptr_t(c.port), C.uintptr_t(socket), C.uint64_t(id), C.uint32_t(interest),
		C.uint32_t(flags), connectTo, C.int(connectLen), &st, &engine)
	return uintptr(st), uint32(engine), cErr(rc)
}

func (c *cCore) send(state uintptr, p []byte, to unsafe.Pointer, toLen int32) (int, error) {
	c.n.Add(1)
	var n C.int
	rc := C.iocp_ovl_send(C.uintptr_t(c.port), C.uintptr_t(state), bufPtr(p), C.int(len(p)), to, C.int(toLen), &n)
	return int(n), cErrno(rc)
}

func (c *cCore) recvfrom(state uintptr, p []byte, from *syscall.RawSockaddrAny) (int, error) {
	c.n.Add(1)
	var n C.int
	l := C.int(unsafe.Sizeof(*from))
	rc := C.iocp_ovl_recvfrom(C.uintptr_t(c.port), C.uintptr_t(state), bufPtr(p), C.int(len(p)), unsafe.Pointer(from), &l, &n)
	return int(n), cErrno(rc)
}

func (c *cCore) accept(state uintptr, remote *syscall.RawSockaddrAny) (uintptr, error) {
	c.n.Add(1)
	var s C.uintptr_t
	l := C.int(unsafe.Sizeof(*remote))
	rc := C.iocp_ovl_accept(C.uintptr_t(c.port), C.uintptr_t(state), &s, unsafe.Pointer(remote), &l)
	return uintptr(s), cErrno(rc)
}

func (c *cCore) connectStatus(state uintptr, take bool) error {
	c.n.Add(1)
	t := C.int(0)
	if take {
		t = 1
	}
	return cErrno(C.iocp_ovl_connect_status(C.uintptr_t(c.port), C.uintptr_t(state), t))
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
