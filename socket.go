package poller

import (
	"net"
	"sync/atomic"
)

// socket is the state shared by this package's sockets: the OS handle, a
// reference count that keeps the handle open while an operation uses it,
// and the registration, if any.
//
// Invariant: the handle is closed exactly once, by whoever drops the last
// reference after Close set the closed bit; a registered socket is
// deregistered before its handle is closed.
type socket struct {
	fd    uintptr
	state atomic.Uint64 // closedBit | number of references
	reg   atomic.Pointer[registration]
}

const closedBit = 1 << 63

func newSocket(fd uintptr) *socket {
	return &socket{fd: fd}
}

// acquire takes a reference, or fails once the socket is closed.
func (s *socket) acquire() error {
	for {
		old := s.state.Load()
		if old&closedBit != 0 {
			return errClosed
		}
		if s.state.CompareAndSwap(old, old+1) {
			return nil
		}
	}
}

// release drops a reference taken by acquire (or by Close); nil-safe.
func (s *socket) release() {
	if s == nil {
		return
	}
	if s.state.Add(^uint64(0)) == closedBit {
		sysCloseSocket(s.fd)
	}
}

func (s *socket) closed() bool { return s.state.Load()&closedBit != 0 }

// close marks the socket closed, deregisters it while the handle is still
// open, and closes the handle when the last operation in flight ends.
func (s *socket) close() error {
	if err := s.acquire(); err != nil {
		return err
	}
	for {
		old := s.state.Load()
		if old&closedBit != 0 {
			s.release()
			return errClosed // a concurrent Close won
		}
		if s.state.CompareAndSwap(old, old|closedBit) {
			break
		}
	}
	if reg := s.reg.Swap(nil); reg != nil {
		reg.registry.deregisterSocket(reg)
	}
	s.release()
	return nil
}

// source implements Source for the sockets embedding a *socket.
func (s *socket) source() (uintptr, *socket, error) {
	if s == nil {
		return 0, nil, ErrNilSource
	}
	if err := s.acquire(); err != nil {
		return 0, nil, err
	}
	return s.fd, s, nil
}

// checkFree fails if the socket is registered already; nil-safe (raw
// sources are checked by handle only).
func (s *socket) checkFree(r *Registry) error {
	if s == nil {
		return nil
	}
	if reg := s.reg.Load(); reg != nil {
		if reg.registry == r {
			return ErrAlreadyRegistered
		}
		return ErrRegisteredElsewhere
	}
	return nil
}

// checkOwn fails if the socket is registered with another registry.
func (s *socket) checkOwn(r *Registry) error {
	if s == nil {
		return nil
	}
	if reg := s.reg.Load(); reg != nil && reg.registry != r {
		return ErrRegisteredElsewhere
	}
	return nil
}

// attach records reg; it returns false if the socket was closed meanwhile,
// in which case the caller undoes the registration.
func (s *socket) attach(reg *registration) bool {
	if s == nil {
		return true
	}
	s.reg.Store(reg)
	if s.closed() {
		s.reg.CompareAndSwap(reg, nil)
		return false
	}
	return true
}

func (s *socket) detach(reg *registration) {
	if s != nil {
		s.reg.CompareAndSwap(reg, nil)
	}
}

// TCPListener is a non-blocking listening TCP socket. Register it for
// Readable and Accept until ErrWouldBlock.
type TCPListener struct {
	sock *socket
	addr net.Addr
}

func (l *TCPListener) source() (uintptr, *socket, error) {
	if l == nil {
		return 0, nil, ErrNilSource
	}
	return l.sock.source()
}

// Addr returns the address the listener is bound to.
func (l *TCPListener) Addr() net.Addr { return l.addr }

// Close closes the listener, deregistering it first.
func (l *TCPListener) Close() error {
	if l == nil {
		return ErrNilSource
	}
	return l.sock.close()
}

// TCPStream is a non-blocking TCP connection.
type TCPStream struct {
	sock   *socket
	remote net.Addr
}

func (s *TCPStream) source() (uintptr, *socket, error) {
	if s == nil {
		return 0, nil, ErrNilSource
	}
	return s.sock.source()
}

// Close closes the stream, deregistering it first. Data not yet sent may be
// discarded by the OS only as it would for any closed socket.
func (s *TCPStream) Close() error {
	if s == nil {
		return ErrNilSource
	}
	return s.sock.close()
}

// RemoteAddr returns the peer's address.
func (s *TCPStream) RemoteAddr() net.Addr { return s.remote }

// UDPSocket is a non-blocking UDP socket.
type UDPSocket struct {
	sock *socket
}

func (u *UDPSocket) source() (uintptr, *socket, error) {
	if u == nil {
		return 0, nil, ErrNilSource
	}
	return u.sock.source()
}

// Close closes the socket, deregistering it first.
func (u *UDPSocket) Close() error {
	if u == nil {
		return ErrNilSource
	}
	return u.sock.close()
}
