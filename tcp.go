package poller

import (
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
// "tcp", "tcp4" or "tcp6": the zero ListenConfig's ListenTCP. "tcp" with an
// empty host or "[::]" listens on IPv4 and IPv6 where the OS allows it
// (ListenConfig tells which); an IPv6 address other than "[::]" gives an
// IPv6 socket with the OS's default IPV6_V6ONLY.
func ListenTCP(network, address string) (*TCPListener, error) {
	return (&ListenConfig{}).ListenTCP(network, address)
}

// Accept accepts one pending connection as a non-blocking stream, or
// returns ErrWouldBlock when none is pending.
func (l *TCPListener) Accept() (*TCPStream, net.Addr, error) {
	if l == nil {
		return nil, nil, ErrNilSource
	}
	fd, sa, err := l.sock.acceptConn()
	if err != nil {
		return nil, nil, err
	}
	remote := tcpAddr(sa)
	return &TCPStream{sock: newSocket(fd), remote: remote}, remote, nil
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
	return (&Dialer{}).DialTCP(network, address)
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
	return s.sock.readStream(p)
}

// Write writes as much of p as the socket takes now. If it takes less than
// all of p, it returns the count with ErrWouldBlock: wait for Writable and
// write the rest.
func (s *TCPStream) Write(p []byte) (int, error) {
	if s == nil {
		return 0, ErrNilSource
	}
	return s.sock.writeStream(p)
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
	return s.sock.takeError()
}

// LocalAddr returns the stream's local address.
func (s *TCPStream) LocalAddr() net.Addr {
	if s == nil {
		return nil
	}
	return tcpAddr(s.sock.localAddr())
}
