package poller

import "syscall"

// rawConn is the syscall.RawConn of one of this package's sockets: what
// SyscallConn returns and what the Control hooks of ListenConfig and Dialer
// get. It holds the socket, not the handle: each call takes a reference,
// so the handle stays open while the callback runs, and fails with
// net.ErrClosed once the socket is closed.
type rawConn struct{ s *socket }

// syscallConn returns the socket's RawConn; it fails on a nil or closed
// socket.
func (s *socket) syscallConn() (syscall.RawConn, error) {
	if err := s.acquire(); err != nil {
		return nil, err
	}
	s.release()
	return rawConn{s}, nil
}

// Control runs f with the handle, held open meanwhile.
func (c rawConn) Control(f func(fd uintptr)) error {
	if f == nil {
		return errNilCallback
	}
	if err := c.s.acquire(); err != nil {
		return err
	}
	defer c.s.release()
	f(c.s.fd)
	return nil
}

// Read runs f once with the handle and returns: waiting belongs to the
// Poll. If f reports it is not done (its own recv would block) Read returns
// ErrWouldBlock, and on Windows re-arms Readable as a Read that would block
// does.
func (c rawConn) Read(f func(fd uintptr) (done bool)) error {
	return c.once(f, flagReadable)
}

// Write is Read's counterpart for sending: f runs once; not done gives
// ErrWouldBlock and (Windows) re-arms Writable.
func (c rawConn) Write(f func(fd uintptr) (done bool)) error {
	return c.once(f, flagWritable)
}

func (c rawConn) once(f func(fd uintptr) bool, dir uint32) error {
	if f == nil {
		return errNilCallback
	}
	if err := c.s.acquire(); err != nil {
		return err
	}
	defer c.s.release()
	if !f(c.s.fd) {
		c.s.wouldBlock(dir)
		return ErrWouldBlock
	}
	return nil
}
