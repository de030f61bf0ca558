package poller

import "syscall"

// Windows names the interface of an IPv4 membership by its address here
// (as package net does).
const ipv4MreqByIndex = false

// The IPv4 multicast TTL and loopback options are DWORDs on Windows.
func (u *UDPSocket) setIPv4MulticastOpt(opt, v int) error {
	return u.setOpt(syscall.IPPROTO_IP, opt, v)
}

func sysSetIPv4Mreq(fd uintptr, join bool, group [4]byte, _ int, local [4]byte) error {
	opt := syscall.IP_DROP_MEMBERSHIP
	if join {
		opt = syscall.IP_ADD_MEMBERSHIP
	}
	mreq := &syscall.IPMreq{Multiaddr: group, Interface: local}
	return syscall.SetsockoptIPMreq(syscall.Handle(fd), syscall.IPPROTO_IP, opt, mreq)
}

func sysSetIPv6Mreq(fd uintptr, opt int, mreq *syscall.IPv6Mreq) error {
	return syscall.SetsockoptIPv6Mreq(syscall.Handle(fd), syscall.IPPROTO_IPV6, opt, mreq)
}
