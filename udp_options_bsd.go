//go:build darwin || freebsd || netbsd || openbsd || dragonfly

package poller

import "syscall"

// The BSDs name the interface of an IPv4 membership by its address.
const ipv4MreqByIndex = false

// The IPv4 multicast TTL and loopback options are one byte on the BSDs.
func (u *UDPSocket) setIPv4MulticastOpt(opt, v int) error {
	if u == nil {
		return ErrNilSource
	}
	return u.sock.do("setsockopt", func(fd uintptr) error {
		return syscall.SetsockoptByte(int(fd), syscall.IPPROTO_IP, opt, byte(v))
	})
}

func sysSetIPv4Mreq(fd uintptr, join bool, group [4]byte, _ int, local [4]byte) error {
	opt := syscall.IP_DROP_MEMBERSHIP
	if join {
		opt = syscall.IP_ADD_MEMBERSHIP
	}
	mreq := &syscall.IPMreq{Multiaddr: group, Interface: local}
	return syscall.SetsockoptIPMreq(int(fd), syscall.IPPROTO_IP, opt, mreq)
}
