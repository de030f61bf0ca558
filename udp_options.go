package poller

import (
	"fmt"
	"net"
	"net/netip"
	"syscall"
)

// UDP socket options. Each applies to the socket's family: IP_* options on
// an IPv4 socket, IPV6_* ones on an IPv6 socket (which has no IPv4
// multicast here: join IPv4 groups on an IPv4 socket).

// SetBroadcast allows or forbids sending to broadcast addresses
// (SO_BROADCAST).
func (u *UDPSocket) SetBroadcast(on bool) error {
	return u.setOpt("setsockopt", syscall.SOL_SOCKET, syscall.SO_BROADCAST, boolInt(on))
}

// SetTTL sets the time to live (IPv6: the hop limit) of unicast datagrams,
// 1 to 255; other values fail with an error matching syscall.EINVAL.
func (u *UDPSocket) SetTTL(ttl int) error {
	if u == nil {
		return ErrNilSource
	}
	if ttl < 1 || ttl > 255 {
		return fmt.Errorf("poller: SetTTL(%d): %w", ttl, syscall.EINVAL)
	}
	if u.family == syscall.AF_INET6 {
		return u.setOpt("setsockopt", syscall.IPPROTO_IPV6, syscall.IPV6_UNICAST_HOPS, ttl)
	}
	return u.setOpt("setsockopt", syscall.IPPROTO_IP, syscall.IP_TTL, ttl)
}

// SetMulticastTTL sets the time to live (IPv6: the hop limit) of multicast
// datagrams, 0 (this host only) to 255; other values fail with an error
// matching syscall.EINVAL.
func (u *UDPSocket) SetMulticastTTL(ttl int) error {
	if u == nil {
		return ErrNilSource
	}
	if ttl < 0 || ttl > 255 {
		return fmt.Errorf("poller: SetMulticastTTL(%d): %w", ttl, syscall.EINVAL)
	}
	if u.family == syscall.AF_INET6 {
		return u.setOpt("setsockopt", syscall.IPPROTO_IPV6, syscall.IPV6_MULTICAST_HOPS, ttl)
	}
	return u.setIPv4MulticastOpt(syscall.IP_MULTICAST_TTL, ttl)
}

// SetMulticastLoopback sets whether multicast datagrams this socket sends
// come back to this host's own members of the group.
func (u *UDPSocket) SetMulticastLoopback(on bool) error {
	if u == nil {
		return ErrNilSource
	}
	if u.family == syscall.AF_INET6 {
		return u.setOpt("setsockopt", syscall.IPPROTO_IPV6, syscall.IPV6_MULTICAST_LOOP, boolInt(on))
	}
	return u.setIPv4MulticastOpt(syscall.IP_MULTICAST_LOOP, boolInt(on))
}

// JoinGroup joins the multicast group on interface ifi (nil: the one the
// system picks). The group must be a multicast address of the socket's
// family, else the error matches ErrInvalidAddress.
func (u *UDPSocket) JoinGroup(ifi *net.Interface, group netip.Addr) error {
	return u.membership(ifi, group, true)
}

// LeaveGroup leaves a group JoinGroup joined, on the same interface.
func (u *UDPSocket) LeaveGroup(ifi *net.Interface, group netip.Addr) error {
	return u.membership(ifi, group, false)
}

func (u *UDPSocket) membership(ifi *net.Interface, group netip.Addr, join bool) error {
	if u == nil {
		return ErrNilSource
	}
	if err := u.sock.acquire(); err != nil { // nil-safe
		return err
	}
	defer u.sock.release()
	op := "leave group"
	if join {
		op = "join group"
	}
	if !group.IsValid() || !group.IsMulticast() {
		return fmt.Errorf("poller: %s: %w: %v is not a multicast address", op, ErrInvalidAddress, group)
	}
	if group.Is4() != (u.family == syscall.AF_INET) {
		return fmt.Errorf("poller: %s: %w: group %v on a socket of the other family", op, ErrInvalidAddress, group)
	}
	index := 0
	if ifi != nil {
		index = ifi.Index
	}
	if group.Is6() {
		mreq := &syscall.IPv6Mreq{Multiaddr: group.As16(), Interface: uint32(index)}
		opt := syscall.IPV6_LEAVE_GROUP
		if join {
			opt = syscall.IPV6_JOIN_GROUP
		}
		return u.sock.do("setsockopt", func(fd uintptr) error { return sysSetIPv6Mreq(fd, opt, mreq) })
	}
	var local [4]byte
	if ifi != nil && !ipv4MreqByIndex {
		a, err := interfaceIPv4(ifi)
		if err != nil {
			return fmt.Errorf("poller: %s: %w", op, err)
		}
		local = a
	}
	return u.sock.do("setsockopt", func(fd uintptr) error { return sysSetIPv4Mreq(fd, join, group.As4(), index, local) })
}

// interfaceIPv4 is ifi's first IPv4 address, which names it in an ip_mreq.
func interfaceIPv4(ifi *net.Interface) ([4]byte, error) {
	addrs, err := ifi.Addrs()
	if err != nil {
		return [4]byte{}, err
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok {
			if ip4 := n.IP.To4(); ip4 != nil {
				return [4]byte(ip4), nil
			}
		}
	}
	return [4]byte{}, fmt.Errorf("%w: interface %s has no IPv4 address", ErrInvalidAddress, ifi.Name)
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// setOpt sets an int option with the handle held; nil-safe.
func (u *UDPSocket) setOpt(name string, level, opt, v int) error {
	if u == nil {
		return ErrNilSource
	}
	return u.sock.do(name, func(fd uintptr) error { return setIntOpt(fd, level, opt, v) })
}

// getOpt reads an int option back (tests).
func (u *UDPSocket) getOpt(level, opt int) (int, error) {
	if u == nil {
		return 0, ErrNilSource
	}
	var v int
	err := u.sock.do("getsockopt", func(fd uintptr) (err error) {
		v, err = getIntOpt(fd, level, opt)
		return err
	})
	return v, err
}
