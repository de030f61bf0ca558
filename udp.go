package poller

import (
	"net"
)

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

// ListenUDP binds a non-blocking UDP socket to address: the zero
// ListenConfig's ListenUDP ("udp" with an empty host or "[::]" is dual
// stack where the OS allows it).
func ListenUDP(network, address string) (*UDPSocket, error) {
	return (&ListenConfig{}).ListenUDP(network, address)
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
	for {
		err = u.sock.sysSendto(p, to)
		switch {
		case err == nil:
			return len(p), nil
		case isInterrupted(err):
			continue
		case err == ErrWouldBlock:
			return 0, ErrWouldBlock // its event is on the way: no re-arm
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
