package poller

import (
	"errors"
	"fmt"
	"net"
	"runtime"
	"strconv"
	"sync"
	"syscall"
)

// ListenConfig holds the options for creating a listener or a bound UDP
// socket, in the spirit of net.ListenConfig. The zero ListenConfig is what
// the package-level ListenTCP and ListenUDP use; a nil *ListenConfig is
// the zero one too.
//
// "tcp" and "udp" with an empty host or "[::]" listen on both IPv4 and
// IPv6 (an AF_INET6 socket with IPV6_V6ONLY off, as package net does)
// where the OS allows it, and on IPv4 alone (empty host) where it does not;
// IPv4 clients then show as IPv4-mapped IPv6 addresses, which net.IP
// prints as IPv4. "0.0.0.0", "tcp4" and "udp4" stay IPv4 only, "tcp6" and
// "udp6" IPv6 only (the OS's default IPV6_V6ONLY).
type ListenConfig struct {
	// ReusePort sets SO_REUSEPORT before bind, so that several listeners
	// (one per event loop, or per process) share one port: Linux and
	// DragonFly spread new connections over them, FreeBSD does with
	// SO_REUSEPORT_LB (set too, where the kernel has it), macOS, NetBSD
	// and OpenBSD let them bind but give connections to one. On Windows it
	// fails with an error that matches errors.ErrUnsupported.
	ReusePort bool

	// Backlog is the accept queue length asked of the OS; 0 means the
	// system's maximum (as ListenTCP always did), negative is
	// ErrInvalidArgument. UDP ignores it.
	Backlog int

	// Control, if not nil, is called after the socket is created and its
	// options set (non-blocking, SO_REUSEADDR on Unix and
	// SO_EXCLUSIVEADDRUSE on Windows for TCP, IPV6_V6ONLY, SO_REUSEPORT)
	// and before it is bound, with the network ("tcp4", "tcp6", "udp4" or
	// "udp6") and address ("ip:port") about to be bound. An error from it
	// closes the socket and is returned (wrapped in a *net.OpError).
	Control func(network, address string, c syscall.RawConn) error
}

// ListenTCP listens on address ("host:port", port 0 for any) of network
// "tcp", "tcp4" or "tcp6" with lc's options, and SO_REUSEADDR on Unix
// (SO_EXCLUSIVEADDRUSE on Windows).
func (lc *ListenConfig) ListenTCP(network, address string) (*TCPListener, error) {
	if network != "tcp" && network != "tcp4" && network != "tcp6" {
		return nil, &net.OpError{Op: "listen", Net: network, Err: ErrInvalidAddress}
	}
	if lc == nil {
		lc = &ListenConfig{}
	}
	if lc.Backlog < 0 {
		return nil, fmt.Errorf("%w: Backlog %d", ErrInvalidArgument, lc.Backlog)
	}
	sock, _, err := lc.bind(network, address, syscall.SOCK_STREAM)
	if err != nil {
		return nil, err
	}
	if err := sysListenBacklog(sock.fd, lc.Backlog); err != nil {
		sysCloseSocket(sock.fd)
		return nil, sysError("listen", err)
	}
	sa, _ := sysGetsockname(sock.fd)
	return &TCPListener{sock: sock, addr: tcpAddr(sa)}, nil
}

// ListenUDP binds a non-blocking UDP socket to address of network "udp",
// "udp4" or "udp6" with lc's options.
func (lc *ListenConfig) ListenUDP(network, address string) (*UDPSocket, error) {
	if network != "udp" && network != "udp4" && network != "udp6" {
		return nil, &net.OpError{Op: "listen", Net: network, Err: ErrInvalidAddress}
	}
	if lc == nil {
		lc = &ListenConfig{}
	}
	sock, family, err := lc.bind(network, address, syscall.SOCK_DGRAM)
	if err != nil {
		return nil, err
	}
	return &UDPSocket{sock: sock, family: family}, nil
}

// bind creates a non-blocking socket for network and address, sets lc's
// options, runs lc.Control and binds it; it returns the socket's family.
func (lc *ListenConfig) bind(network, address string, typ int) (*socket, int, error) {
	if lc.ReusePort && !reusePortSupported {
		return nil, 0, &net.OpError{Op: "listen", Net: network, Err: errReusePort}
	}
	ip, port, zone, family, err := resolve(network, address)
	if err != nil {
		return nil, 0, err
	}
	dual := (network == "tcp" || network == "udp") && (ip == nil || ip.Equal(net.IPv6unspecified))
	if dual && ip == nil && !dualStackSupported() {
		dual = false // IPv4 alone, as before dual stack
	}
	if dual {
		ip, family = net.IPv6unspecified, syscall.AF_INET6
	}
	sa, err := toSockaddr(family, ip, port, zone)
	if err != nil {
		return nil, 0, err
	}
	fd, err := sysSocket(family, typ)
	if err != nil {
		return nil, 0, err
	}
	fail := func(op string, err error) (*socket, int, error) {
		sysCloseSocket(fd)
		return nil, 0, sysError(op, err)
	}
	if dual {
		// An explicit "[::]" where dual stack is impossible stays IPv6.
		sysSetV6Only(fd, false)
	}
	if typ == syscall.SOCK_STREAM {
		sysSetReuseAddr(fd)
	}
	if lc.ReusePort {
		if err := sysSetReusePort(fd); err != nil {
			return fail("setsockopt", err)
		}
	}
	sock := newSocket(fd)
	err = sock.controlBind(lc.Control, "listen", network, netName(network, family), sockaddrString(ip, family, port), sa)
	if err != nil {
		return nil, 0, err
	}
	return sock, family, nil
}

// controlBind runs what a ListenConfig or Dialer asks of a new socket
// before its bind: control (if not nil) with the network and address the
// socket is for, then the bind to sa (if not nil). When either fails it
// closes the handle and returns control's error in a *net.OpError (op on
// network), or bind's.
func (s *socket) controlBind(control func(network, address string, c syscall.RawConn) error,
	op, network, ctlNetwork, ctlAddress string, sa syscall.Sockaddr) error {
	if control != nil {
		if err := control(ctlNetwork, ctlAddress, rawConn{s}); err != nil {
			sysCloseSocket(s.fd)
			return &net.OpError{Op: op, Net: network, Err: err}
		}
	}
	if sa != nil {
		if err := sysBind(s.fd, sa); err != nil {
			sysCloseSocket(s.fd)
			return sysError("bind", err)
		}
	}
	return nil
}

var errReusePort = fmt.Errorf("poller: ReusePort: no SO_REUSEPORT on %s: %w", runtime.GOOS, errors.ErrUnsupported)

// dualStackSupported reports, once, whether an AF_INET6 socket can have
// IPV6_V6ONLY off (as package net probes it). Linux, FreeBSD, NetBSD,
// macOS and Windows allow it; OpenBSD and DragonFly have no IPv4-mapped
// addresses (dualStackOS), so IPv4 alone there. Wine 8 allows it, and its
// "[::]" listener with IPV6_V6ONLY=0 accepts IPv4 clients (TestDualStack).
var dualStackSupported = sync.OnceValue(func() bool {
	if !dualStackOS {
		return false
	}
	fd, err := sysSocket(syscall.AF_INET6, syscall.SOCK_STREAM)
	if err != nil {
		return false
	}
	defer sysCloseSocket(fd)
	return sysSetV6Only(fd, false) == nil
})

// netName is network with the family's digit ("tcp4", "udp6", ...).
func netName(network string, family int) string {
	base := network[:3]
	if family == syscall.AF_INET6 {
		return base + "6"
	}
	return base + "4"
}

// sockaddrString is "ip:port" for a Control hook; a nil ip is the
// family's any address.
func sockaddrString(ip net.IP, family, port int) string {
	if ip == nil {
		ip = net.IPv4zero
		if family == syscall.AF_INET6 {
			ip = net.IPv6unspecified
		}
	}
	return net.JoinHostPort(ip.String(), strconv.Itoa(port))
}

// Dialer holds the options for connecting a TCPStream, like net.Dialer.
// The zero Dialer is what the package-level DialTCP uses; a nil *Dialer
// is the zero one too.
type Dialer struct {
	// LocalAddr, if not nil, is the local address to bind before
	// connecting: a *net.TCPAddr of the remote address's family (port 0
	// for any), or the dial fails with ErrInvalidAddress.
	LocalAddr net.Addr

	// Control, if not nil, is called after the socket is created and
	// before it is bound (LocalAddr) and connected, with the network
	// ("tcp4" or "tcp6") and remote address ("ip:port"). An error from it
	// closes the socket and is returned (wrapped in a *net.OpError).
	Control func(network, address string, c syscall.RawConn) error
}

// DialTCP starts a non-blocking connect to address, as the package-level
// DialTCP does, with d's options.
func (d *Dialer) DialTCP(network, address string) (*TCPStream, error) {
	if network != "tcp" && network != "tcp4" && network != "tcp6" {
		return nil, &net.OpError{Op: "dial", Net: network, Err: ErrInvalidAddress}
	}
	t, err := d.prepare(network, address, syscall.SOCK_STREAM)
	if err != nil {
		return nil, err
	}
	// On Windows' overlapped engine the connect starts at Register.
	if err := t.sock.sysConnect(t.sa); err != nil {
		sysCloseSocket(t.sock.fd)
		return nil, err
	}
	return &TCPStream{sock: t.sock, remote: &net.TCPAddr{IP: t.ip, Port: t.port, Zone: t.zone}}, nil
}

// dialTarget is a socket made for a dial, not yet connected, and the
// remote address it is for.
type dialTarget struct {
	sock   *socket
	sa     syscall.Sockaddr
	ip     net.IP
	port   int
	zone   string
	family int
}

// prepare is what DialTCP and DialUDP share (d may be nil): it resolves
// address (an empty or unspecified host is the loopback address), makes a
// socket of typ, runs d.Control and binds d.LocalAddr. The caller connects
// to t.sa, or closes t.sock.fd.
func (d *Dialer) prepare(network, address string, typ int) (t dialTarget, err error) {
	if d == nil {
		d = &Dialer{}
	}
	ip, port, zone, family, err := resolve(network, address)
	if err != nil {
		return t, err
	}
	if ip == nil || ip.IsUnspecified() {
		ip = net.IPv4(127, 0, 0, 1)
		if family == syscall.AF_INET6 {
			ip = net.IPv6loopback
		}
	}
	t = dialTarget{ip: ip, port: port, zone: zone, family: family}
	if t.sa, err = toSockaddr(family, ip, port, zone); err != nil {
		return t, err
	}
	var local syscall.Sockaddr
	if d.LocalAddr != nil {
		if local, err = localSockaddr(family, typ, d.LocalAddr); err != nil {
			return t, &net.OpError{Op: "dial", Net: network, Addr: d.LocalAddr, Err: err}
		}
	}
	fd, err := sysSocket(family, typ)
	if err != nil {
		return t, err
	}
	t.sock = newSocket(fd)
	return t, t.sock.controlBind(d.Control, "dial", network, netName(network, family), sockaddrString(ip, family, port), local)
}

// localSockaddr converts a Dialer's LocalAddr for a socket of family and
// typ: a *net.TCPAddr for a stream, a *net.UDPAddr for a datagram socket.
func localSockaddr(family, typ int, a net.Addr) (syscall.Sockaddr, error) {
	var ip net.IP
	var port int
	var zone string
	switch la := a.(type) {
	case *net.TCPAddr:
		if la == nil || typ != syscall.SOCK_STREAM {
			return nil, fmt.Errorf("%w: LocalAddr %T is not a *net.UDPAddr", ErrInvalidAddress, a)
		}
		ip, port, zone = la.IP, la.Port, la.Zone
	case *net.UDPAddr:
		if la == nil || typ != syscall.SOCK_DGRAM {
			return nil, fmt.Errorf("%w: LocalAddr %T is not a *net.TCPAddr", ErrInvalidAddress, a)
		}
		ip, port, zone = la.IP, la.Port, la.Zone
	default:
		return nil, fmt.Errorf("%w: LocalAddr %T is not a *net.TCPAddr or *net.UDPAddr", ErrInvalidAddress, a)
	}
	if family == syscall.AF_INET6 && ip != nil && ip.To4() != nil {
		return nil, fmt.Errorf("%w: LocalAddr %v is IPv4, the remote address IPv6", ErrInvalidAddress, a)
	}
	return toSockaddr(family, ip, port, zone)
}
