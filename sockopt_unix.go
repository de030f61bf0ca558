//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package poller

import (
	"errors"
	"fmt"
	"syscall"
)

// The Unix calls under sockopt.go and listen.go; raw errors.

func sysSetsockoptInt(fd uintptr, level, name, v int) error {
	return syscall.SetsockoptInt(int(fd), level, name, v)
}

func sysGetsockoptInt(fd uintptr, level, name int) (int, error) {
	return syscall.GetsockoptInt(int(fd), level, name)
}

func sysSetLinger(fd uintptr, sec int) error {
	l := syscall.Linger{}
	if sec >= 0 {
		l.Onoff, l.Linger = 1, int32(sec)
	}
	return syscall.SetsockoptLinger(int(fd), syscall.SOL_SOCKET, syscall.SO_LINGER, &l)
}

var errKeepAliveTimes = fmt.Errorf("poller: keepalive idle, interval and count are system-wide here: %w", errors.ErrUnsupported)

// sysSetKeepAliveTimes sets the keepalive idle time and interval (seconds)
// and probe count (0: 9); negative leaves one alone. Where the OS has no
// per-socket setting (OpenBSD) asking for one fails with
// errors.ErrUnsupported.
func sysSetKeepAliveTimes(fd uintptr, idle, intvl, cnt int) error {
	if cnt == 0 {
		cnt = 9
	}
	for _, o := range [...]struct{ name, v int }{{tcpKeepIdle, idle}, {tcpKeepIntvl, intvl}, {tcpKeepCnt, cnt}} {
		if o.v < 0 {
			continue
		}
		if o.name == 0 {
			return errKeepAliveTimes
		}
		if err := syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, o.name, o.v); err != nil {
			return err
		}
	}
	return nil
}

func sysShutdownRead(fd uintptr) error { return syscall.Shutdown(int(fd), syscall.SHUT_RD) }

// afterCloseRead: epoll and kqueue report the shutdown themselves.
func (s *socket) afterCloseRead() {}

// isShutdown: a receive after CloseRead (Windows' WSAESHUTDOWN; Unix reads
// 0 bytes instead).
func isShutdown(err error) bool { return false }

// sysPeek is the primitive of Peek: recv(2) with MSG_PEEK.
func (s *socket) sysPeek(p []byte) (int, error) {
	n, _, err := syscall.Recvfrom(int(s.fd), p, syscall.MSG_PEEK)
	return n, err
}

// sysSetV6Only sets IPV6_V6ONLY (false: dual stack).
func sysSetV6Only(fd uintptr, on bool) error {
	return syscall.SetsockoptInt(int(fd), syscall.IPPROTO_IPV6, syscall.IPV6_V6ONLY, boolInt(on))
}

const reusePortSupported = true

// sysListenBacklog listens with backlog n, 0 for the system's maximum.
func sysListenBacklog(fd uintptr, n int) error {
	if n == 0 {
		n = listenBacklog
	}
	return syscall.Listen(int(fd), n)
}

// sysSetReusePort sets SO_REUSEPORT, and on FreeBSD SO_REUSEPORT_LB too,
// which (unlike FreeBSD's SO_REUSEPORT) spreads connections over the
// listeners; an older FreeBSD without it keeps SO_REUSEPORT alone.
func sysSetReusePort(fd uintptr) error {
	if err := syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, soReusePort, 1); err != nil {
		return err
	}
	if soReusePortLB != 0 {
		syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, soReusePortLB, 1)
	}
	return nil
}
