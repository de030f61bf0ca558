package poller

import (
	"io"
	"net"
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
	sys   sockSys // the OS layer's own (Windows: the overlapped engine's)
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
		s.closeHandle()
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

// Addr returns the address the listener is bound to; nil for a nil
// listener.
func (l *TCPListener) Addr() net.Addr {
	if l == nil {
		return nil
	}
	return l.addr
}

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

// RemoteAddr returns the peer's address; nil for a nil stream.
func (s *TCPStream) RemoteAddr() net.Addr {
	if s == nil {
		return nil
	}
	return s.remote
}

// UDPSocket is a non-blocking UDP socket.
type UDPSocket struct {
	sock   *socket
	family int // AF_INET or AF_INET6
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

// ListenTCP listens on address ("host:port", port 0 for any) of network
// "tcp", "tcp4" or "tcp6" with SO_REUSEADDR set. An empty host listens on
// IPv4. An IPv6 address (such as "[::]:0") gives an IPv6 socket with the
// OS's default IPV6_V6ONLY: on Linux it usually accepts IPv4 clients too,
// on Windows it does not.
func ListenTCP(network, address string) (*TCPListener, error) {
	if network != "tcp" && network != "tcp4" && network != "tcp6" {
		return nil, &net.OpError{Op: "listen", Net: network, Err: ErrInvalidAddress}
	}
	fd, err := bindSocket(network, address, syscall.SOCK_STREAM)
	if err != nil {
		return nil, err
	}
	if err := sysListen(fd); err != nil {
		sysCloseSocket(fd)
		return nil, sysError("listen", err)
	}
	sa, _ := sysGetsockname(fd)
	return &TCPListener{sock: newSocket(fd), addr: tcpAddr(sa)}, nil
}

// bindSocket creates a non-blocking socket of network's family and binds it.
func bindSocket(network, address string, typ int) (uintptr, error) {
	ip, port, zone, family, err := resolve(network, address)
	if err != nil {
		return 0, err
	}
	sa, err := toSockaddr(family, ip, port, zone)
	if err != nil {
		return 0, err
	}
	fd, err := sysSocket(family, typ)
	if err != nil {
		return 0, err
	}
	if typ == syscall.SOCK_STREAM {
		sysSetReuseAddr(fd)
	}
	if err := sysBind(fd, sa); err != nil {
		sysCloseSocket(fd)
		return 0, sysError("bind", err)
	}
	return fd, nil
}

// Accept accepts one pending connection as a non-blocking stream, or
// returns ErrWouldBlock when none is pending.
func (l *TCPListener) Accept() (*TCPStream, net.Addr, error) {
	if l == nil {
		return nil, nil, ErrNilSource
	}
	if err := l.sock.acquire(); err != nil {
		return nil, nil, err
	}
	defer l.sock.release()
	for {
		fd, sa, err := l.sock.accept()
		switch {
		case err == nil:
			remote := tcpAddr(sa)
			return &TCPStream{sock: newSocket(fd), remote: remote}, remote, nil
		case isInterrupted(err) || isConnAborted(err):
			continue
		case isWouldBlock(err):
			l.sock.wouldBlock(flagReadable)
			return nil, nil, ErrWouldBlock
		}
		// EMFILE, ENOBUFS and the like leave connections queued: poll
		// again, as after would-block, so that the listener keeps
		// reporting (a spurious event at worst).
		l.sock.wouldBlock(flagReadable)
		return nil, nil, sysError("accept", err)
	}
}

// accept takes one connection: an injected fault, the overlapped engine's,
// or the system's.
func (s *socket) accept() (uintptr, syscall.Sockaddr, error) {
	if err := takeInjectedFault(); err != nil {
		return 0, nil, err
	}
	fd, sa, err, done := s.engineAccept()
	if !done {
		fd, sa, err = sysAccept(s.fd)
	}
	return fd, sa, err
}

// DialTCP starts a non-blocking connect to address and returns at once. The
// stream becomes writable when the connect finished: then TakeError tells
// whether it failed (for example with syscall.ECONNREFUSED). A failed
// connect is reported to any interest, Readable only too, with IsError
// (and, for Writable, IsWriteClosed), and the next Read or Write returns
// its error, on every OS. An empty host dials the loopback address. On
// Windows, a stream for the overlapped engine
// (a socket AFD cannot poll, or POLLER_WINDOWS_ENGINE=overlapped) is only
// bound here: its connect starts when it is registered.
func DialTCP(network, address string) (*TCPStream, error) {
	if network != "tcp" && network != "tcp4" && network != "tcp6" {
		return nil, &net.OpError{Op: "dial", Net: network, Err: ErrInvalidAddress}
	}
	ip, port, zone, family, err := resolve(network, address)
	if err != nil {
		return nil, err
	}
	if ip == nil || ip.IsUnspecified() {
		ip = net.IPv4(127, 0, 0, 1)
		if family == syscall.AF_INET6 {
			ip = net.IPv6loopback
		}
	}
	sa, err := toSockaddr(family, ip, port, zone)
	if err != nil {
		return nil, err
	}
	fd, err := sysSocket(family, syscall.SOCK_STREAM)
	if err != nil {
		return nil, err
	}
	remote := &net.TCPAddr{IP: ip, Port: port, Zone: zone}
	sock := newSocket(fd)
	if deferred, err := sock.deferConnect(family, sa); err != nil {
		sysCloseSocket(fd)
		return nil, sysError("bind", err)
	} else if deferred {
		// Windows' overlapped engine: the connect starts at Register.
		return &TCPStream{sock: sock, remote: remote}, nil
	}
	for {
		err = sysConnect(fd, sa)
		if !isInterrupted(err) {
			break
		}
	}
	if err != nil && !isConnectPending(err) {
		sysCloseSocket(fd)
		return nil, sysError("connect", err)
	}
	return &TCPStream{sock: sock, remote: remote}, nil
}

// Read reads what is available into p. It returns io.EOF after the peer's
// orderly close and ErrWouldBlock when nothing is available now.
func (s *TCPStream) Read(p []byte) (int, error) {
	if s == nil {
		return 0, ErrNilSource
	}
	if err := s.sock.acquire(); err != nil {
		return 0, err
	}
	defer s.sock.release()
	for {
		n, err := s.sock.read(p)
		switch {
		case err == nil:
			if n == 0 && len(p) > 0 {
				if err := s.sock.connectFailure(nil); err != nil {
					return 0, sysError("read", err)
				}
				return 0, io.EOF
			}
			return n, nil
		case isInterrupted(err):
			continue
		case isWouldBlock(err):
			s.sock.wouldBlock(flagReadable)
			return 0, ErrWouldBlock
		}
		if err = s.sock.engineReadError(err); err == ErrWouldBlock {
			return 0, ErrWouldBlock // the overlapped engine's connect is in flight
		}
		s.sock.wouldBlock(flagReadable) // keep reporting, as after would-block
		return 0, sysError("read", s.sock.connectFailure(err))
	}
}

// read is recv, or an injected fault.
func (s *socket) read(p []byte) (int, error) {
	if err := takeInjectedFault(); err != nil {
		return 0, err
	}
	return sysRead(s.fd, p)
}

// Write writes as much of p as the socket takes now. If it takes less than
// all of p, it returns the count with ErrWouldBlock: wait for Writable and
// write the rest.
func (s *TCPStream) Write(p []byte) (int, error) {
	if s == nil {
		return 0, ErrNilSource
	}
	if err := s.sock.acquire(); err != nil {
		return 0, err
	}
	defer s.sock.release()
	if n, err, done := s.sock.engineWrite(p, nil); done {
		return n, err
	}
	written := 0
	for written < len(p) {
		n, err := sysSend(s.sock.fd, p[written:])
		switch {
		case err == nil:
			written += n
			continue
		case isInterrupted(err):
			continue
		case isWouldBlock(err):
			s.sock.wouldBlock(flagWritable)
			return written, ErrWouldBlock
		}
		return written, sysError("write", s.sock.connectFailure(err))
	}
	return written, nil
}

// CloseWrite shuts down the sending side; the peer reads io.EOF.
func (s *TCPStream) CloseWrite() error {
	if s == nil {
		return ErrNilSource
	}
	return s.sock.do("shutdown", sysShutdownWrite)
}

// SetNoDelay enables (true) or disables Nagle's algorithm's delay.
func (s *TCPStream) SetNoDelay(noDelay bool) error {
	if s == nil {
		return ErrNilSource
	}
	return s.sock.do("setsockopt", func(fd uintptr) error { return sysSetNoDelay(fd, noDelay) })
}

// TakeError returns and clears the socket's pending error (SO_ERROR), for
// example a refused connect; nil if there is none.
func (s *TCPStream) TakeError() error {
	if s == nil {
		return ErrNilSource
	}
	if err, done := s.sock.engineTakeError(); done {
		return err
	}
	var soErr error
	err := s.sock.do("getsockopt", func(fd uintptr) (err error) {
		soErr, err = sysSocketError(fd)
		return err
	})
	if err != nil {
		return err
	}
	if soErr != nil {
		return sysError("connect", soErr)
	}
	return nil
}

// LocalAddr returns the stream's local address.
func (s *TCPStream) LocalAddr() net.Addr {
	if s == nil {
		return nil
	}
	return tcpAddr(s.sock.localAddr())
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

// ListenUDP binds a non-blocking UDP socket to address.
func ListenUDP(network, address string) (*UDPSocket, error) {
	if network != "udp" && network != "udp4" && network != "udp6" {
		return nil, &net.OpError{Op: "listen", Net: network, Err: ErrInvalidAddress}
	}
	fd, err := bindSocket(network, address, syscall.SOCK_DGRAM)
	if err != nil {
		return nil, err
	}
	u := &UDPSocket{sock: newSocket(fd), family: syscall.AF_INET}
	if _, ok := u.sock.localAddr().(*syscall.SockaddrInet6); ok {
		u.family = syscall.AF_INET6
	}
	return u, nil
}

// ReadFrom reads one datagram into p (truncating what does not fit) and
// returns its sender, or ErrWouldBlock when none is queued.
func (u *UDPSocket) ReadFrom(p []byte) (int, net.Addr, error) {
	if u == nil {
		return 0, nil, ErrNilSource
	}
	if err := u.sock.acquire(); err != nil {
		return 0, nil, err
	}
	defer u.sock.release()
	for {
		n, sa, err := u.sock.recvfrom(p)
		switch {
		case err == nil:
			return n, udpAddr(sa), nil
		case isInterrupted(err):
			continue
		case isWouldBlock(err):
			u.sock.wouldBlock(flagReadable)
			return 0, nil, ErrWouldBlock
		}
		u.sock.wouldBlock(flagReadable) // keep reporting, as after would-block
		return 0, nil, sysError("recvfrom", err)
	}
}

// recvfrom takes one datagram: an injected fault, the overlapped engine's,
// or the system's.
func (s *socket) recvfrom(p []byte) (int, syscall.Sockaddr, error) {
	if err := takeInjectedFault(); err != nil {
		return 0, nil, err
	}
	n, sa, err, done := s.engineRecvfrom(p)
	if !done {
		n, sa, err = sysRecvfrom(s.fd, p)
	}
	return n, sa, err
}

// WriteTo sends p as one datagram to addr (a *net.UDPAddr).
func (u *UDPSocket) WriteTo(p []byte, addr net.Addr) (int, error) {
	if u == nil {
		return 0, ErrNilSource
	}
	if err := u.sock.acquire(); err != nil {
		return 0, err
	}
	defer u.sock.release()
	to, err := udpSockaddr(u.family, addr)
	if err != nil {
		return 0, err
	}
	if n, err, done := u.sock.engineWrite(p, to); done {
		return n, err
	}
	for {
		err = sysSendto(u.sock.fd, p, to)
		switch {
		case err == nil:
			return len(p), nil
		case isInterrupted(err):
			continue
		case isWouldBlock(err):
			u.sock.wouldBlock(flagWritable)
			return 0, ErrWouldBlock
		}
		return 0, sysError("sendto", err)
	}
}

// LocalAddr returns the socket's local address.
func (u *UDPSocket) LocalAddr() net.Addr {
	if u == nil {
		return nil
	}
	if a := udpAddr(u.sock.localAddr()); a != nil {
		return a
	}
	return nil
}
