package poller

import (
	"fmt"
	"net"
	"net/netip"
	"syscall"
)

// UDP socket options. Each applies to the socket's family: IP_* options on
// an IPv4 socket, IPV6_* ones on an IPv6 socket, and both on a dual-stack
// one ("udp" with an empty host or [::], IPV6_V6ONLY off), whose IPv4
// traffic the IP_* options govern. IPv4 groups can be joined on an IPv4
// or a dual-stack socket, IPv6 groups on an IPv6 one.

// SetBroadcast allows or forbids sending to broadcast addresses
// (SO_BROADCAST).
func (u *UDPSocket) SetBroadcast(on bool) error {
	return u.setOpt(syscall.SOL_SOCKET, syscall.SO_BROADCAST, boolInt(on))
}

// SetTTL sets the time to live (IPv6: the hop limit) of unicast datagrams,
// 1 to 255; other values fail with ErrInvalidArgument.
func (u *UDPSocket) SetTTL(ttl int) error {
	if u == nil {
		return ErrNilSource
	}
	if ttl < 1 || ttl > 255 {
		return fmt.Errorf("%w: SetTTL(%d)", ErrInvalidArgument, ttl)
	}
	return u.setBoth(syscall.IPV6_UNICAST_HOPS, ttl, func() error { return u.setOpt(syscall.IPPROTO_IP, syscall.IP_TTL, ttl) })
}

// SetMulticastTTL sets the time to live (IPv6: the hop limit) of multicast
// datagrams, 0 (this host only) to 255; other values fail with an error
// matching syscall.EINVAL.
func (u *UDPSocket) SetMulticastTTL(ttl int) error {
	if u == nil {
		return ErrNilSource
	}
	if ttl < 0 || ttl > 255 {
		return fmt.Errorf("%w: SetMulticastTTL(%d)", ErrInvalidArgument, ttl)
	}
	return u.setBoth(syscall.IPV6_MULTICAST_HOPS, ttl, func() error { return u.setIPv4MulticastOpt(syscall.IP_MULTICAST_TTL, ttl) })
}

// SetMulticastLoopback sets whether multicast datagrams this socket sends
// come back to this host's own members of the group.
func (u *UDPSocket) SetMulticastLoopback(on bool) error {
	if u == nil {
		return ErrNilSource
	}
	return u.setBoth(syscall.IPV6_MULTICAST_LOOP, boolInt(on), func() error {
		return u.setIPv4MulticastOpt(syscall.IP_MULTICAST_LOOP, boolInt(on))
	})
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
	if group.Is6() && u.family != syscall.AF_INET6 || group.Is4() && u.family == syscall.AF_INET6 && !u.dualStack() {
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

// setBoth sets the IPv6 option opt to v on an IPv6 socket, and runs
// setIPv4 on an IPv4 or a dual-stack one.
func (u *UDPSocket) setBoth(opt, v int, setIPv4 func() error) error {
	if u.family != syscall.AF_INET6 {
		return setIPv4()
	}
	if err := u.setOpt(syscall.IPPROTO_IPV6, opt, v); err != nil || !u.dualStack() {
		return err
	}
	return setIPv4()
}

// dualStack reports whether an IPv6 socket also carries IPv4.
func (u *UDPSocket) dualStack() bool {
	v6only, err := u.getOpt(syscall.IPPROTO_IPV6, syscall.IPV6_V6ONLY)
	return u.family == syscall.AF_INET6 && err == nil && v6only == 0
}

// setOpt sets an int option with the handle held; nil-safe.
func (u *UDPSocket) setOpt(level, opt, v int) error {
	if u == nil {
		return ErrNilSource
	}
	return u.sock.setInt(level, opt, v)
}

// getOpt reads an int option back (tests).
func (u *UDPSocket) getOpt(level, opt int) (int, error) {
	if u == nil {
		return 0, ErrNilSource
	}
	return u.sock.getInt(level, opt)
}
