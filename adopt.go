package poller

import (
	"fmt"
	"net"
	"reflect"
	"syscall"
)

// Adoption of package net's and os's sockets, like mio's from_std and
// net.FileConn: each From function duplicates the handle (dup with
// close-on-exec on Unix; on Windows WSADuplicateSocket into this process,
// which works for a socket the Go runtime has bound to its completion
// port) and makes the duplicate non-blocking. The original stays the
// caller's to close; the two share one socket, so whatever reads it first
// gets the data, and on Unix its non-blocking mode is shared too (package
// net's sockets are non-blocking already). Adopt a connection while
// nothing reads or writes the original: no byte is lost or read twice.
//
// c may be a *net.TCPConn, *net.TCPListener, *net.UDPConn, *os.File, or
// one of this package's sockets. A nil c gives ErrNilSource; a socket of
// the wrong type (a UDP socket for TCPStreamFrom, a listener for a stream,
// a Unix-domain socket...) an error matching ErrInvalidAddress; a closed
// one what its SyscallConn or Control returns (net.ErrClosed for package
// net's). On Windows, a socket of package net cannot be registered with a
// Poll forced onto the overlapped engine (POLLER_WINDOWS_ENGINE=overlapped):
// the duplicate is bound to the runtime's completion port, and Register
// fails with ErrBoundElsewhere.

// TCPStreamFrom adopts a connected TCP socket as a TCPStream.
func TCPStreamFrom(c syscall.Conn) (*TCPStream, error) {
	fd, _, err := adopt(c, syscall.SOCK_STREAM, false)
	if err != nil {
		return nil, err
	}
	var remote net.Addr
	if sa, err := sysGetpeername(fd); err == nil {
		remote = tcpAddr(sa)
	}
	return &TCPStream{sock: newSocket(fd), remote: remote}, nil
}

// TCPListenerFrom adopts a listening TCP socket as a TCPListener.
func TCPListenerFrom(c syscall.Conn) (*TCPListener, error) {
	fd, local, err := adopt(c, syscall.SOCK_STREAM, true)
	if err != nil {
		return nil, err
	}
	return &TCPListener{sock: newSocket(fd), addr: tcpAddr(local)}, nil
}

// UDPSocketFrom adopts a UDP socket as a UDPSocket.
func UDPSocketFrom(c syscall.Conn) (*UDPSocket, error) {
	fd, local, err := adopt(c, syscall.SOCK_DGRAM, false)
	if err != nil {
		return nil, err
	}
	family := syscall.AF_INET
	if _, ok := local.(*syscall.SockaddrInet6); ok {
		family = syscall.AF_INET6
	}
	return &UDPSocket{sock: newSocket(fd), family: family}, nil
}

// adopt duplicates c's handle, checks it is an IPv4 or IPv6 socket of type
// typ, listening or not, and returns the non-blocking duplicate and its
// local address.
func adopt(c syscall.Conn, typ int, listening bool) (uintptr, syscall.Sockaddr, error) {
	return adoptChecked(c, func(fd uintptr) (syscall.Sockaddr, error) { return checkAdopted(fd, typ, listening) })
}

// adoptChecked duplicates c's handle once check, given the original
// handle, accepted it; it returns the duplicate and what check returned.
func adoptChecked(c syscall.Conn, check func(fd uintptr) (syscall.Sockaddr, error)) (uintptr, syscall.Sockaddr, error) {
	if c == nil {
		return 0, nil, ErrNilSource
	}
	if v := reflect.ValueOf(c); v.Kind() == reflect.Pointer && v.IsNil() {
		return 0, nil, ErrNilSource
	}
	raw, err := c.SyscallConn()
	if err != nil {
		return 0, nil, fmt.Errorf("poller: adopt: %w", err)
	}
	var fd uintptr
	var local syscall.Sockaddr
	var dupErr error
	if err := raw.Control(func(h uintptr) {
		if local, dupErr = check(h); dupErr == nil {
			fd, dupErr = sysDupSocket(h)
		}
	}); err != nil {
		return 0, nil, fmt.Errorf("poller: adopt: %w", err)
	}
	if dupErr != nil {
		return 0, nil, dupErr
	}
	return fd, local, nil
}

func checkAdopted(fd uintptr, typ int, listening bool) (syscall.Sockaddr, error) {
	if err := checkAdoptedType(fd, typ, listening); err != nil {
		return nil, err
	}
	local, err := sysGetsockname(fd)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidAddress, sysError("getsockname", err))
	}
	switch local.(type) {
	case *syscall.SockaddrInet4, *syscall.SockaddrInet6:
		return local, nil
	}
	return nil, fmt.Errorf("%w: not an IPv4 or IPv6 socket (%T)", ErrInvalidAddress, local)
}

// checkAdoptedType checks that fd is a socket of type typ, listening or
// not (a connection-oriented one: SOCK_STREAM or SOCK_SEQPACKET).
func checkAdoptedType(fd uintptr, typ int, listening bool) error {
	gotTyp, err := sysGetsockoptInt(fd, syscall.SOL_SOCKET, soSockType)
	if err != nil {
		return fmt.Errorf("%w: not a socket: %w", ErrInvalidAddress, sysError("getsockopt", err))
	}
	if gotTyp != typ {
		return fmt.Errorf("%w: socket type %d, want %d", ErrInvalidAddress, gotTyp, typ)
	}
	if typ != syscall.SOCK_DGRAM {
		acc, err := sysGetsockoptInt(fd, syscall.SOL_SOCKET, soAcceptConn)
		if err != nil {
			return sysError("getsockopt", err)
		}
		if (acc != 0) != listening {
			what := "a listener"
			if listening {
				what = "not a listener"
			}
			return fmt.Errorf("%w: the socket is %s", ErrInvalidAddress, what)
		}
	}
	return nil
}
