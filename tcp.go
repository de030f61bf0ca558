package poller

import (
	"io"
	"net"
	"syscall"
)

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

// DialTCP starts a non-blocking connect to address and returns at once. The
// stream becomes writable when the connect finished: then TakeError tells
// whether it failed (for example with syscall.ECONNREFUSED). A failed
// connect is reported to any interest, Readable only too, with IsError
// (and, for Writable, IsWriteClosed), and the next Read or Write returns
// its error, on every OS. An empty host dials the loopback address. On
// Windows, a stream whose socket the OS cannot poll for readiness (or every
// stream, with POLLER_WINDOWS_ENGINE=overlapped) is only bound here: its
// connect starts when it is registered.
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
	if err := sock.sysConnect(sa); err != nil {
		sysCloseSocket(fd)
		return nil, err
	}
	return &TCPStream{sock: sock, remote: remote}, nil
}

// startConnect starts a non-blocking connect of fd to sa: nil once it is
// under way (or done), else the error, wrapped.
func startConnect(fd uintptr, sa syscall.Sockaddr) error {
	for {
		err := sysConnect(fd, sa)
		switch {
		case err == nil || isConnectPending(err):
			return nil
		case !isInterrupted(err):
			return sysError("connect", err)
		}
	}
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
		case err == ErrWouldBlock:
			return 0, ErrWouldBlock // its event is on the way: no re-arm
		case isWouldBlock(err):
			s.sock.wouldBlock(flagReadable)
			return 0, ErrWouldBlock
		}
		s.sock.wouldBlock(flagReadable) // keep reporting, as after would-block
		return 0, sysError("read", s.sock.connectFailure(err))
	}
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
	written := 0
	for {
		// One call even for an empty p: the OS layer may have an answer.
		n, err := s.sock.sysSend(p[written:])
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
			s.sock.wouldBlock(flagWritable)
			return written, ErrWouldBlock
		}
		return written, sysError("write", s.sock.connectFailure(err))
	}
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
	if err := s.sock.acquire(); err != nil {
		return err
	}
	defer s.sock.release()
	soErr, err := s.sock.sysTakeError()
	if err != nil {
		return sysError("getsockopt", err)
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
