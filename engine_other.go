//go:build !windows

package poller

import "syscall"

// The socket layer's hooks for Windows' overlapped engine (engine_windows.go):
// nothing to do elsewhere. Each reports done = false, and the plain system
// call path runs.

type sockSys struct{}

func (s *socket) deferConnect(family int, sa syscall.Sockaddr) (bool, error) { return false, nil }

func (s *socket) engineWrite(p []byte, to syscall.Sockaddr) (int, error, bool) { return 0, nil, false }

func (s *socket) engineAccept() (uintptr, syscall.Sockaddr, error, bool) { return 0, nil, nil, false }

func (s *socket) engineRecvfrom(p []byte) (int, syscall.Sockaddr, error, bool) {
	return 0, nil, nil, false
}

func (s *socket) engineTakeError() (error, bool) { return nil, false }

func (s *socket) engineReadError(err error) error { return err }

// connectDeferred reports whether the stream's connect waits for Register.
func (s *socket) connectDeferred() bool { return false }

// overlappedBound reports whether the socket is bound to a Poll for good.
func (s *socket) overlappedBound() bool { return false }

// closeHandle closes the socket's handle at its final release.
func (s *socket) closeHandle() { sysCloseSocket(s.fd) }
