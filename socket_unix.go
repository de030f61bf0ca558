//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package poller

import (
	"io"
	"net"
	"os"
	"syscall"
)

func sysCloseSocket(fd uintptr) { syscall.Close(int(fd)) }

// wouldBlock is where Windows re-arms a direction; epoll and kqueue need
// nothing.
func (s *socket) wouldBlock(flags uint32) {}

// ListenTCP listens on address ("host:port", port 0 for any) of network
// "tcp", "tcp4" or "tcp6" with SO_REUSEADDR set.
func ListenTCP(network, address string) (*TCPListener, error) {
	if network != "tcp" && network != "tcp4" && network != "tcp6" {
		return nil, &net.OpError{Op: "listen", Net: network, Err: ErrInvalidAddress}
	}
	fd, err := bindSocket(network, address, syscall.SOCK_STREAM)
	if err != nil {
		return nil, err
	}
	if err := syscall.Listen(fd, syscall.SOMAXCONN); err != nil {
		syscall.Close(fd)
		return nil, os.NewSyscallError("listen", err)
	}
	sa, _ := syscall.Getsockname(fd)
	return &TCPListener{sock: newSocket(uintptr(fd)), addr: tcpAddr(sa)}, nil
}

// bindSocket creates a non-blocking socket of network's family and binds it.
func bindSocket(network, address string, typ int) (int, error) {
	ip, port, zone, family, err := resolve(network, address)
	if err != nil {
		return -1, err
	}
	sa, err := toSockaddr(family, ip, port, zone)
	if err != nil {
		return -1, err
	}
	fd, err := sysSocket(family, typ)
	if err != nil {
		return -1, err
	}
	if typ == syscall.SOCK_STREAM {
		syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 1)
	}
	if err := syscall.Bind(fd, sa); err != nil {
		syscall.Close(fd)
		return -1, os.NewSyscallError("bind", err)
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
		fd, sa, err := sysAccept(int(l.sock.fd))
		switch err {
		case nil:
			remote := tcpAddr(sa)
			return &TCPStream{sock: newSocket(uintptr(fd)), remote: remote}, remote, nil
		case syscall.EINTR, syscall.ECONNABORTED:
			continue
		case syscall.EAGAIN:
			l.sock.wouldBlock(flagReadable)
			return nil, nil, ErrWouldBlock
		}
		return nil, nil, os.NewSyscallError("accept", err)
	}
}

// DialTCP starts a non-blocking connect to address and returns at once. The
// stream becomes writable when the connect finished: then TakeError tells
// whether it failed (for example with syscall.ECONNREFUSED).
func DialTCP(network, address string) (*TCPStream, error) {
	ip, port, zone, family, err := resolve(network, address)
	if err != nil {
		return nil, err
	}
	if network[:3] != "tcp" {
		return nil, &net.OpError{Op: "dial", Net: network, Err: ErrInvalidAddress}
	}
	if ip == nil {
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
	for {
		err = syscall.Connect(fd, sa)
		if err != syscall.EINTR {
			break
		}
	}
	if err != nil && err != syscall.EINPROGRESS {
		syscall.Close(fd)
		return nil, os.NewSyscallError("connect", err)
	}
	return &TCPStream{sock: newSocket(uintptr(fd)), remote: &net.TCPAddr{IP: ip, Port: port, Zone: zone}}, nil
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
		n, err := syscall.Read(int(s.sock.fd), p)
		switch err {
		case nil:
			if n == 0 && len(p) > 0 {
				return 0, io.EOF
			}
			return n, nil
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			s.sock.wouldBlock(flagReadable)
			return 0, ErrWouldBlock
		}
		return 0, os.NewSyscallError("read", err)
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
	for written < len(p) {
		n, err := sysSend(int(s.sock.fd), p[written:])
		switch err {
		case nil:
			written += n
			continue
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			s.sock.wouldBlock(flagWritable)
			return written, ErrWouldBlock
		}
		return written, os.NewSyscallError("write", err)
	}
	return written, nil
}

// CloseWrite shuts down the sending side; the peer reads io.EOF.
func (s *TCPStream) CloseWrite() error {
	return s.sockopt("shutdown", func(fd int) error { return syscall.Shutdown(fd, syscall.SHUT_WR) })
}

// SetNoDelay enables (true) or disables Nagle's algorithm's delay.
func (s *TCPStream) SetNoDelay(noDelay bool) error {
	v := 0
	if noDelay {
		v = 1
	}
	return s.sockopt("setsockopt", func(fd int) error {
		return syscall.SetsockoptInt(fd, syscall.IPPROTO_TCP, syscall.TCP_NODELAY, v)
	})
}

// TakeError returns and clears the socket's pending error (SO_ERROR), for
// example a refused connect; nil if there is none.
func (s *TCPStream) TakeError() error {
	var soErr int
	err := s.sockopt("getsockopt", func(fd int) (err error) {
		soErr, err = syscall.GetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_ERROR)
		return err
	})
	if err != nil {
		return err
	}
	if soErr != 0 {
		return os.NewSyscallError("connect", syscall.Errno(soErr))
	}
	return nil
}

// LocalAddr returns the stream's local address.
func (s *TCPStream) LocalAddr() net.Addr {
	var sa syscall.Sockaddr
	s.sockopt("getsockname", func(fd int) (err error) {
		sa, err = syscall.Getsockname(fd)
		return err
	})
	return tcpAddr(sa)
}

// sockopt runs f on the open descriptor, wrapping its error.
func (s *TCPStream) sockopt(name string, f func(fd int) error) error {
	if s == nil {
		return ErrNilSource
	}
	return s.sock.do(name, f)
}

func (s *socket) do(name string, f func(fd int) error) error {
	if err := s.acquire(); err != nil {
		return err
	}
	defer s.release()
	if err := f(int(s.fd)); err != nil {
		return os.NewSyscallError(name, err)
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
	return &UDPSocket{sock: newSocket(uintptr(fd))}, nil
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
		n, sa, err := syscall.Recvfrom(int(u.sock.fd), p, 0)
		switch err {
		case nil:
			return n, udpAddr(sa), nil
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			u.sock.wouldBlock(flagReadable)
			return 0, nil, ErrWouldBlock
		}
		return 0, nil, os.NewSyscallError("recvfrom", err)
	}
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
	sa, err := syscall.Getsockname(int(u.sock.fd))
	if err != nil {
		return 0, os.NewSyscallError("getsockname", err)
	}
	family := syscall.AF_INET
	if _, ok := sa.(*syscall.SockaddrInet6); ok {
		family = syscall.AF_INET6
	}
	to, err := udpSockaddr(family, addr)
	if err != nil {
		return 0, err
	}
	for {
		err = syscall.Sendto(int(u.sock.fd), p, 0, to)
		switch err {
		case nil:
			return len(p), nil
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			u.sock.wouldBlock(flagWritable)
			return 0, ErrWouldBlock
		}
		return 0, os.NewSyscallError("sendto", err)
	}
}

// LocalAddr returns the socket's local address.
func (u *UDPSocket) LocalAddr() net.Addr {
	if u == nil {
		return nil
	}
	var sa syscall.Sockaddr
	u.sock.do("getsockname", func(fd int) (err error) {
		sa, err = syscall.Getsockname(fd)
		return err
	})
	if a := udpAddr(sa); a != nil {
		return a
	}
	return nil
}
