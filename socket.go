package poller

import (
	"sync/atomic"
	"syscall"
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
	sys   sockSys // the OS layer's own per-socket data
}

const closedBit = 1 << 63

func newSocket(fd uintptr) *socket {
	return &socket{fd: fd}
}

// acquire takes a reference, or fails once the socket is closed. A nil
// socket (the zero TCPStream, TCPListener or UDPSocket) has no handle.
func (s *socket) acquire() error {
	if s == nil {
		return ErrNilSource
	}
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
		s.sysClose()
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

// attach records reg as the socket's one registration. The check in
// checkFree is made under one registry's lock only, so two registries can
// pass it at once: the compare-and-swap here decides, and the loser gets
// ErrRegisteredElsewhere (ErrAlreadyRegistered if the registration already
// recorded is of the same registry). It fails with net.ErrClosed if the
// socket was closed meanwhile. On failure the caller undoes reg.
func (s *socket) attach(reg *registration) error {
	if s == nil {
		return nil
	}
	for !s.reg.CompareAndSwap(nil, reg) {
		if s.closed() {
			return errClosed
		}
		if err := s.checkFree(reg.registry); err != nil {
			return err
		}
		// The other registration was dropped meanwhile: try again.
	}
	if s.closed() {
		s.reg.CompareAndSwap(reg, nil)
		return errClosed
	}
	return nil
}

func (s *socket) detach(reg *registration) {
	if s != nil {
		s.reg.CompareAndSwap(reg, nil)
	}
}

// injectedFault, set by tests only, is returned once by the next Accept,
// Read or ReadFrom in place of its system call's answer.
var injectedFault atomic.Pointer[error]

// takeInjectedFault returns the injected fault, once; nil almost always.
func takeInjectedFault() error {
	if p := injectedFault.Load(); p != nil && injectedFault.CompareAndSwap(p, nil) {
		return *p
	}
	return nil
}

// The OS layer's primitives on a socket (socket_unix.go, socket_windows.go),
// in the manner of internal/poll's FD methods: sysAccept, sysRecv,
// sysRecvfrom, sysSend, sysSendto, sysConnect, sysTakeError and sysClose.
// They return the OS's raw errors, for the callers here to test
// (isWouldBlock and the like) and wrap (sysError), with one exception:
// ErrWouldBlock itself means the OS layer would block and has arranged the
// event that ends it, so no re-arm is due.

// accept takes one connection: an injected fault, or the OS layer's.
func (s *socket) accept() (uintptr, syscall.Sockaddr, error) {
	if err := takeInjectedFault(); err != nil {
		return 0, nil, err
	}
	return s.sysAccept()
}

// read is recv, or an injected fault.
func (s *socket) read(p []byte) (int, error) {
	if err := takeInjectedFault(); err != nil {
		return 0, err
	}
	return s.sysRecv(p)
}

func (s *socket) localAddr() syscall.Sockaddr {
	var sa syscall.Sockaddr
	s.do("getsockname", func(fd uintptr) (err error) {
		sa, err = sysGetsockname(fd)
		return err
	})
	return sa
}

// do runs f on the open handle, wrapping its error.
func (s *socket) do(name string, f func(fd uintptr) error) error {
	if err := s.acquire(); err != nil {
		return err
	}
	defer s.release()
	if err := f(s.fd); err != nil {
		return sysError(name, err)
	}
	return nil
}

// recvfrom takes one datagram: an injected fault, or the OS layer's.
func (s *socket) recvfrom(p []byte) (int, syscall.Sockaddr, error) {
	if err := takeInjectedFault(); err != nil {
		return 0, nil, err
	}
	return s.sysRecvfrom(p)
}

// recvDatagram runs recv, one datagram's receive, again while it is
// interrupted: its count, or ErrWouldBlock (re-arming Readable) when none
// is queued. Any other error re-arms Readable too, so that the socket
// keeps reporting, as after would-block.
func (s *socket) recvDatagram(recv func() (int, error)) (int, error) {
	for {
		n, err := recv()
		switch {
		case err == nil:
			return n, nil
		case isInterrupted(err):
			continue
		case isWouldBlock(err):
			s.wouldBlock(flagReadable)
			return 0, ErrWouldBlock
		}
		s.wouldBlock(flagReadable)
		return 0, sysError("recvfrom", err)
	}
}

// sendDatagram runs send, one datagram's send of n bytes, again while it
// is interrupted: n once sent, ErrWouldBlock (re-arming Writable unless the
// send arranged the event itself) while the socket is full.
func (s *socket) sendDatagram(n int, send func() error) (int, error) {
	for {
		err := send()
		switch {
		case err == nil:
			return n, nil
		case isInterrupted(err):
			continue
		case err == ErrWouldBlock:
			return 0, ErrWouldBlock // its event is on the way: no re-arm
		case isWouldBlock(err):
			s.wouldBlock(flagWritable)
			return 0, ErrWouldBlock
		}
		return 0, sysError("sendto", err)
	}
}
