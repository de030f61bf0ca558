//go:build darwin || freebsd || netbsd || openbsd || dragonfly

package poller

import "syscall"

// The per-message system calls on the BSDs and macOS go through the
// scheduler's system-call path, as package syscall makes them
// (socket_raw_linux.go skips it on Linux; OpenBSD forbids raw system calls
// outside libc, macOS makes them through libc).

// nonblockSyscall6 runs a system call of a non-blocking socket.
func nonblockSyscall6(trap, a1, a2, a3, a4, a5, a6 uintptr) (r1, r2 uintptr, err syscall.Errno) {
	return syscall.Syscall6(trap, a1, a2, a3, a4, a5, a6)
}

func sysRead(fd uintptr, p []byte) (int, error) { return syscall.Read(int(fd), p) }
