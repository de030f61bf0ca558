package poller

import (
	"syscall"
	"unsafe"
)

// The per-message system calls of this package's sockets on Linux (read,
// and send in socket_accept4.go) skip the scheduler's system-call
// bookkeeping: RawSyscall instead of Syscall, no entersyscall/exitsyscall
// around them. That is safe because every socket of this package is
// non-blocking (SOCK_NONBLOCK at socket and accept4): the call copies what
// it can and returns, EAGAIN if nothing, and never sleeps, so the goroutine
// holds its P no longer than for any short computation and no other
// goroutine waits on it. It pays: callgrind counts 441 user-space
// instructions per Read that finds nothing with Syscall, 238 without (the
// notes of bench/cmd/bench). The race detector's annotations of the buffer
// that syscall.Read makes are skipped with it.

// nonblockSyscall6 runs a system call that cannot block.
func nonblockSyscall6(trap, a1, a2, a3, a4, a5, a6 uintptr) (r1, r2 uintptr, err syscall.Errno) {
	return syscall.RawSyscall6(trap, a1, a2, a3, a4, a5, a6)
}

// emptyRead is the buffer address read(2) gets for an empty p.
var emptyRead byte

func sysRead(fd uintptr, p []byte) (int, error) {
	buf := unsafe.Pointer(&emptyRead)
	if len(p) > 0 {
		buf = unsafe.Pointer(&p[0])
	}
	n, _, e := syscall.RawSyscall(syscall.SYS_READ, fd, uintptr(buf), uintptr(len(p)))
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}
