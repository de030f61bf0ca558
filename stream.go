package poller

import (
	"io"
	"syscall"
)

// The loops of the stream sockets (TCP and Unix-domain): each takes its
// reference on the socket and retries what the OS lets it retry.

// acceptConn accepts one pending connection, or returns ErrWouldBlock when
// none is pending.
func (s *socket) acceptConn() (uintptr, syscall.Sockaddr, error) {
	if err := s.acquire(); err != nil {
		return 0, nil, err
	}
	defer s.release()
	for {
		fd, sa, err := s.accept()
		switch {
		case err == nil:
			return fd, sa, nil
		case isInterrupted(err) || isConnAborted(err):
			continue
		case isWouldBlock(err):
			s.wouldBlock(flagReadable)
			return 0, nil, ErrWouldBlock
		}
		// EMFILE, ENOBUFS and the like leave connections queued: poll
		// again, as after would-block, so that the listener keeps
		// reporting (a spurious event at worst).
		s.wouldBlock(flagReadable)
		return 0, nil, sysError("accept", err)
	}
}

// readStream reads what is available into p. It returns io.EOF after the
// peer's orderly close and ErrWouldBlock when nothing is available now.
func (s *socket) readStream(p []byte) (int, error) { return s.recvStream(p, false) }

// recvStream is readStream, and with peek set Peek (MSG_PEEK: the data
// stays queued).
func (s *socket) recvStream(p []byte, peek bool) (int, error) {
	if err := s.acquire(); err != nil {
		return 0, err
	}
	defer s.release()
	for {
		var n int
		var err error
		if peek {
			n, err = s.sysPeek(p)
		} else {
			n, err = s.read(p)
		}
		switch {
		case err == nil:
			if n == 0 && len(p) > 0 {
				if err := s.connectFailure(nil); err != nil {
					return 0, sysError("read", err)
				}
				return 0, io.EOF
			}
			return n, nil
		case isInterrupted(err):
			continue
		case err == ErrWouldBlock:
			return 0, ErrWouldBlock // its event is on the way: no re-arm
		case isWouldBlock(err):
			s.wouldBlock(flagReadable)
			return 0, ErrWouldBlock
		case isShutdown(err):
			return 0, io.EOF // after CloseRead (Windows)
		}
		s.wouldBlock(flagReadable) // keep reporting, as after would-block
		return 0, sysError("read", s.connectFailure(err))
	}
}

// writeStream writes as much of p as the socket takes now; ErrWouldBlock
// with the count when it took less.
func (s *socket) writeStream(p []byte) (int, error) {
	if err := s.acquire(); err != nil {
		return 0, err
	}
	defer s.release()
	written := 0
	for {
		// One call even for an empty p: the OS layer may have an answer.
		n, err := s.sysSend(p[written:])
		switch {
		case err == nil:
			if written += n; written < len(p) {
				continue
			}
			return written, nil
		case isInterrupted(err):
			continue
		case err == ErrWouldBlock:
			return written + n, ErrWouldBlock // its event is on the way: no re-arm
		case isWouldBlock(err):
			s.wouldBlock(flagWritable)
			return written, ErrWouldBlock
		}
		return written, sysError("write", s.connectFailure(err))
	}
}
