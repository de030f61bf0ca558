package poller

import (
	"fmt"
	"syscall"
)

// The socket control methods of UnixStream, UnixListener and
// UnixDatagram, and their adoption: each is the shared socket's, as for
// the TCP and UDP twins (sockapi.go, adopt.go). All return ErrNilSource
// for a nil or zero value and net.ErrClosed after Close.

// SyscallConn returns a raw network connection, as TCPStream's does.
func (s *UnixStream) SyscallConn() (syscall.RawConn, error) {
	if s == nil {
		return nil, ErrNilSource
	}
	return s.sock.syscallConn()
}

// SyscallConn returns a raw network connection, as TCPStream's does.
func (l *UnixListener) SyscallConn() (syscall.RawConn, error) {
	if l == nil {
		return nil, ErrNilSource
	}
	return l.sock.syscallConn()
}

// SyscallConn returns a raw network connection, as TCPStream's does.
func (u *UnixDatagram) SyscallConn() (syscall.RawConn, error) {
	if u == nil {
		return nil, ErrNilSource
	}
	return u.sock.syscallConn()
}

// TakeError returns and clears the socket's pending error (SO_ERROR), for
// example a connect that failed later (Windows); nil if there is none.
func (s *UnixStream) TakeError() error {
	if s == nil {
		return ErrNilSource
	}
	return s.sock.takeError()
}

// TakeError returns and clears the listener's pending error (SO_ERROR);
// nil if there is none.
func (l *UnixListener) TakeError() error {
	if l == nil {
		return ErrNilSource
	}
	return l.sock.takeError()
}

// TakeError returns and clears the socket's pending error (SO_ERROR); nil
// if there is none.
func (u *UnixDatagram) TakeError() error {
	if u == nil {
		return ErrNilSource
	}
	return u.sock.takeError()
}

// CloseRead shuts down the receiving side, as TCPStream's does: Read and
// Peek return io.EOF afterwards.
func (s *UnixStream) CloseRead() error {
	if s == nil {
		return ErrNilSource
	}
	return s.sock.closeRead()
}

// Peek reads what is available into p without consuming it (MSG_PEEK),
// as TCPStream's does.
func (s *UnixStream) Peek(p []byte) (int, error) {
	if s == nil {
		return 0, ErrNilSource
	}
	return s.sock.peek(p)
}

// Writev writes bufs, in order, as TCPStream's does: on "unix" as one
// stream of bytes. On "unixpacket" each system call sends one message
// made of the buffers it takes (up to 64): keep to 64 buffers or fewer for
// one message.
func (s *UnixStream) Writev(bufs [][]byte) (int64, error) {
	if s == nil {
		return 0, ErrNilSource
	}
	return s.sock.writev(bufs)
}

// SetReadBuffer sets the receive buffer size (SO_RCVBUF).
func (s *UnixStream) SetReadBuffer(bytes int) error {
	if s == nil {
		return ErrNilSource
	}
	return s.sock.setReadBuffer(bytes)
}

// SetWriteBuffer sets the send buffer size (SO_SNDBUF).
func (s *UnixStream) SetWriteBuffer(bytes int) error {
	if s == nil {
		return ErrNilSource
	}
	return s.sock.setWriteBuffer(bytes)
}

// SetReadBuffer sets the receive buffer size (SO_RCVBUF).
func (u *UnixDatagram) SetReadBuffer(bytes int) error {
	if u == nil {
		return ErrNilSource
	}
	return u.sock.setReadBuffer(bytes)
}

// SetWriteBuffer sets the send buffer size (SO_SNDBUF), which bounds the
// largest datagram on Linux.
func (u *UnixDatagram) SetWriteBuffer(bytes int) error {
	if u == nil {
		return ErrNilSource
	}
	return u.sock.setWriteBuffer(bytes)
}

// UnixStreamFrom adopts a connected Unix-domain stream socket ("unix" or
// "unixpacket": a *net.UnixConn, an *os.File, ...) as a UnixStream, as
// TCPStreamFrom does a TCP one: the handle is duplicated and the original
// stays the caller's.
func UnixStreamFrom(c syscall.Conn) (*UnixStream, error) {
	network := "unix"
	fd, _, err := adoptChecked(c, func(fd uintptr) (syscall.Sockaddr, error) {
		var err error
		network, err = checkAdoptedUnix(fd, false)
		return nil, err
	})
	if err != nil {
		return nil, err
	}
	s := &UnixStream{sock: newSocket(fd), net: network}
	if sa, err := sysGetpeername(fd); err == nil {
		s.remote = unixAddr(sa, network)
	}
	return s, nil
}

// UnixListenerFrom adopts a listening Unix-domain socket as a
// UnixListener. Its Close never unlinks the path: the socket file is the
// original's owner's.
func UnixListenerFrom(c syscall.Conn) (*UnixListener, error) {
	network := "unix"
	fd, local, err := adoptChecked(c, func(fd uintptr) (syscall.Sockaddr, error) {
		var err error
		if network, err = checkAdoptedUnix(fd, true); err != nil {
			return nil, err
		}
		return sysGetsockname(fd)
	})
	if err != nil {
		return nil, err
	}
	return &UnixListener{sock: newSocket(fd), addr: unixAddr(local, network)}, nil
}

// UnixDatagramFrom adopts a Unix-domain datagram socket as a
// UnixDatagram; its Close never unlinks the path.
func UnixDatagramFrom(c syscall.Conn) (*UnixDatagram, error) {
	fd, _, err := adoptChecked(c, func(fd uintptr) (syscall.Sockaddr, error) {
		network, err := checkAdoptedUnix(fd, false)
		if err == nil && network != "unixgram" {
			err = fmt.Errorf("%w: a %s socket, not unixgram", ErrInvalidAddress, network)
		}
		return nil, err
	})
	if err != nil {
		return nil, err
	}
	return &UnixDatagram{sock: newSocket(fd)}, nil
}

// checkAdoptedUnix checks that fd is a Unix-domain socket, listening or
// not (a datagram socket never listens), and returns its network.
func checkAdoptedUnix(fd uintptr, listening bool) (string, error) {
	local, err := sysGetsockname(fd)
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrInvalidAddress, sysError("getsockname", err))
	}
	if _, ok := local.(*syscall.SockaddrUnix); !ok {
		return "", fmt.Errorf("%w: not a Unix-domain socket (%T)", ErrInvalidAddress, local)
	}
	typ, err := sysGetsockoptInt(fd, syscall.SOL_SOCKET, soSockType)
	if err != nil {
		return "", fmt.Errorf("%w: not a socket: %w", ErrInvalidAddress, sysError("getsockopt", err))
	}
	network := map[int]string{syscall.SOCK_STREAM: "unix", syscall.SOCK_SEQPACKET: "unixpacket", syscall.SOCK_DGRAM: "unixgram"}[typ]
	if network == "" || network == "unixgram" && listening {
		return "", fmt.Errorf("%w: Unix-domain socket of type %d", ErrInvalidAddress, typ)
	}
	if network != "unixgram" {
		if err := checkAdoptedType(fd, typ, listening); err != nil {
			return "", err
		}
	}
	return network, nil
}
