package poller

import (
	"errors"
	"syscall"
)

// invalidRawSource is a raw source naming no socket.
func invalidRawSource() Source { return RawSocket(syscall.InvalidHandle) }

// errWriteShutdown is what Write returns after CloseWrite: Winsock's
// WSAESHUTDOWN, which matches syscall.ESHUTDOWN.
var errWriteShutdown error = syscall.ESHUTDOWN

func isWriteShutdown(err error) bool { return errors.Is(err, errWriteShutdown) }

// raiseOpenFiles: Windows has no descriptor limit to raise.
func raiseOpenFiles(n int) error { return nil }
