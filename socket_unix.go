//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package poller

import (
	"os"
	"syscall"
)

// The Unix socket layer under socket.go: thin calls with raw errors.

func sysCloseSocket(fd uintptr) { syscall.Close(int(fd)) }

// sockSys is the OS layer's per-socket data: none here.
type sockSys struct{}

// The primitives on a socket (socket.go): the system calls themselves.

func (s *socket) sysAccept() (uintptr, syscall.Sockaddr, error)       { return sysAccept(s.fd) }
func (s *socket) sysRecv(p []byte) (int, error)                       { return sysRead(s.fd, p) }
func (s *socket) sysRecvfrom(p []byte) (int, syscall.Sockaddr, error) { return sysRecvfrom(s.fd, p) }
func (s *socket) sysSend(p []byte) (int, error)                       { return sysSend(s.fd, p) }
func (s *socket) sysSendto(p []byte, to syscall.Sockaddr) error       { return sysSendto(s.fd, p, to) }
func (s *socket) sysConnect(sa syscall.Sockaddr) error                { return startConnect(s.fd, sa) }
func (s *socket) sysTakeError() (soErr, err error)                    { return sysSocketError(s.fd) }
func (s *socket) sysClose()                                           { sysCloseSocket(s.fd) }

// wouldBlock is where Windows re-arms a direction; epoll and kqueue need
// nothing.
func (s *socket) wouldBlock(flags uint32) {}

// connectDeferred and overlappedBound answer for Windows' tests of a socket
// bound to a completion port; here a connect always starts at once, and no
// socket is bound.
func (s *socket) connectDeferred() bool { return false }
func (s *socket) overlappedBound() bool { return false }

// connectFailure returns err: read and write report a failed connect
// themselves here (ECONNREFUSED, once, as SO_ERROR would).
func (s *socket) connectFailure(err error) error { return err }

func sysError(op string, err error) error { return os.NewSyscallError(op, err) }

func isWouldBlock(err error) bool                      { return err == syscall.EAGAIN }
func isInterrupted(err error) bool                     { return err == syscall.EINTR }
func isConnAborted(err error) bool                     { return err == syscall.ECONNABORTED }
func isConnectPending(err error) bool                  { return err == syscall.EINPROGRESS }
func sysBind(fd uintptr, sa syscall.Sockaddr) error    { return syscall.Bind(int(fd), sa) }
func sysConnect(fd uintptr, sa syscall.Sockaddr) error { return syscall.Connect(int(fd), sa) }
func sysShutdownWrite(fd uintptr) error                { return syscall.Shutdown(int(fd), syscall.SHUT_WR) }

// listenBacklog asks for the longest accept queue the system allows: the
// kernel caps it at its own limit (net.core.somaxconn on Linux, 4096 by
// default; kern.ipc.somaxconn or soacceptqueue on the BSDs), whereas
// syscall.SOMAXCONN is the 128 of old headers, too short for a burst of
// connects. 65535 because Linux before 4.1 kept the backlog in 16 bits.
const listenBacklog = 65535

func sysListen(fd uintptr) error { return syscall.Listen(int(fd), listenBacklog) }

func sysSetReuseAddr(fd uintptr) {
	syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 1)
}

func sysGetsockname(fd uintptr) (syscall.Sockaddr, error) { return syscall.Getsockname(int(fd)) }

func sysRecvfrom(fd uintptr, p []byte) (int, syscall.Sockaddr, error) {
	return syscall.Recvfrom(int(fd), p, 0)
}

func sysSendto(fd uintptr, p []byte, to syscall.Sockaddr) error {
	return syscall.Sendto(int(fd), p, 0, to)
}

func sysSetNoDelay(fd uintptr, on bool) error {
	v := 0
	if on {
		v = 1
	}
	return syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_NODELAY, v)
}

// sysSocketError returns the pending SO_ERROR (nil if none), or the error of
// the query itself.
func sysSocketError(fd uintptr) (soErr, err error) {
	v, err := syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_ERROR)
	if err != nil || v == 0 {
		return nil, err
	}
	return syscall.Errno(v), nil
}
