package poller

import (
	"net"
	"syscall"
)

// The socket control methods of TCPStream, TCPListener and UDPSocket: each
// is the shared socket's (sockopt.go, rawconn.go, writev.go). All return
// ErrNilSource for a nil or zero value and net.ErrClosed after Close.

// SyscallConn returns a raw network connection, so that TCPStream
// implements syscall.Conn. Control runs its function with the handle held
// open (Close waits for no one: the handle closes when Control returns).
// Read and Write run their function once and return; if it reports not
// done, they return ErrWouldBlock (re-arming that direction on Windows, as
// Read and Write do): waiting for readiness belongs to the Poll.
func (s *TCPStream) SyscallConn() (syscall.RawConn, error) {
	if s == nil {
		return nil, ErrNilSource
	}
	return s.sock.syscallConn()
}

// SyscallConn returns a raw network connection, as TCPStream's does.
func (l *TCPListener) SyscallConn() (syscall.RawConn, error) {
	if l == nil {
		return nil, ErrNilSource
	}
	return l.sock.syscallConn()
}

// SyscallConn returns a raw network connection, as TCPStream's does.
func (u *UDPSocket) SyscallConn() (syscall.RawConn, error) {
	if u == nil {
		return nil, ErrNilSource
	}
	return u.sock.syscallConn()
}

// TakeError returns and clears the listener's pending error (SO_ERROR);
// nil if there is none.
func (l *TCPListener) TakeError() error {
	if l == nil {
		return ErrNilSource
	}
	return l.sock.takeError()
}

// TakeError returns and clears the socket's pending error (SO_ERROR), for
// example an ICMP error of an earlier datagram on Unix; nil if there is
// none.
func (u *UDPSocket) TakeError() error {
	if u == nil {
		return ErrNilSource
	}
	return u.sock.takeError()
}

// SetKeepAlive turns TCP keepalive probes (SO_KEEPALIVE) on or off.
func (s *TCPStream) SetKeepAlive(on bool) error {
	if s == nil {
		return ErrNilSource
	}
	return s.sock.setKeepAlive(on)
}

// SetKeepAliveConfig sets keepalive as net.TCPConn.SetKeepAliveConfig
// does: Enable turns probes on or off; Idle, Interval and Count of zero
// mean 15 s, 15 s and 9, negative ones leave the setting alone, and
// durations round up to whole seconds. Linux, FreeBSD, NetBSD, DragonFly,
// macOS and Windows 10 1709 or later set each per socket. Older Windows
// (and Wine 8) set Idle and Interval through SIO_KEEPALIVE_VALS and keep
// their own count (10): there a Count above 0 fails with an error
// matching errors.ErrUnsupported, after the rest is set. OpenBSD has them
// system-wide only: there a non-negative Idle, Interval or Count fails
// with an error matching errors.ErrUnsupported, after Enable is set.
func (s *TCPStream) SetKeepAliveConfig(cfg net.KeepAliveConfig) error {
	if s == nil {
		return ErrNilSource
	}
	return s.sock.setKeepAliveConfig(cfg)
}

// SetLinger sets what Close does with unsent data, as
// net.TCPConn.SetLinger: sec < 0 sends it in the background (the
// default), 0 discards it and resets the connection, sec > 0 lingers up to
// sec seconds. More than 65535 is ErrInvalidArgument. Close does not wait
// here either: the socket is non-blocking.
func (s *TCPStream) SetLinger(sec int) error {
	if s == nil {
		return ErrNilSource
	}
	return s.sock.setLinger(sec)
}

// SetReadBuffer sets the receive buffer size (SO_RCVBUF; Linux doubles it
// and caps it at net.core.rmem_max). Negative is ErrInvalidArgument.
func (s *TCPStream) SetReadBuffer(bytes int) error {
	if s == nil {
		return ErrNilSource
	}
	return s.sock.setReadBuffer(bytes)
}

// SetWriteBuffer sets the send buffer size (SO_SNDBUF), as SetReadBuffer
// does the receive buffer's.
func (s *TCPStream) SetWriteBuffer(bytes int) error {
	if s == nil {
		return ErrNilSource
	}
	return s.sock.setWriteBuffer(bytes)
}

// SetReadBuffer sets the receive buffer size (SO_RCVBUF), as TCPStream's.
func (u *UDPSocket) SetReadBuffer(bytes int) error {
	if u == nil {
		return ErrNilSource
	}
	return u.sock.setReadBuffer(bytes)
}

// SetWriteBuffer sets the send buffer size (SO_SNDBUF), as TCPStream's.
func (u *UDPSocket) SetWriteBuffer(bytes int) error {
	if u == nil {
		return ErrNilSource
	}
	return u.sock.setWriteBuffer(bytes)
}

// NoDelay reports whether Nagle's delay is off (TCP_NODELAY).
func (s *TCPStream) NoDelay() (bool, error) {
	if s == nil {
		return false, ErrNilSource
	}
	return s.sock.noDelay()
}

// CloseRead shuts down the receiving side (shutdown SHUT_RD; SD_RECEIVE on
// Windows). Read and Peek return io.EOF afterwards, and a registered stream
// gets a Readable event (with IsReadClosed on Linux; on Windows, where AFD
// reports nothing for it, CloseRead posts the event itself). The peer sees
// nothing (no FIN) and its writes succeed. What it sends afterwards
// differs by OS: Linux still queues it for Read (io.EOF again once it is
// read), the BSDs discard it, and Windows may reset the connection.
func (s *TCPStream) CloseRead() error {
	if s == nil {
		return ErrNilSource
	}
	return s.sock.closeRead()
}

// Peek reads what is available into p without consuming it (MSG_PEEK):
// the next Read or Peek returns the same bytes. Like Read it returns io.EOF
// after the peer's orderly close, and ErrWouldBlock when nothing is there
// (which re-arms Readable on Windows, as Read does). A Peek that returns
// data re-arms nothing: the Readable that brought the data stays
// reported, and the next event comes after a Read that would block.
func (s *TCPStream) Peek(p []byte) (int, error) {
	if s == nil {
		return 0, ErrNilSource
	}
	return s.sock.peek(p)
}

// Writev writes bufs, in order, as one stream of bytes: writev (sendmsg)
// on Unix and WSASend with several WSABUFs on Windows, up to 64 buffers a
// system call; a stream registered on Windows' overlapped engine copies up
// to 64 KiB of them into one send. Like Write it writes what the socket
// takes now: all of it and nil, or the count so far with ErrWouldBlock
// (wait for Writable, then write the rest: bufs from that byte on), or
// with the error that stopped it. It allocates nothing.
func (s *TCPStream) Writev(bufs [][]byte) (int64, error) {
	if s == nil {
		return 0, ErrNilSource
	}
	return s.sock.writev(bufs)
}
