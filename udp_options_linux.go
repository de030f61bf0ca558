package poller

import "syscall"

// Linux names the interface of an IPv4 membership by index (ip_mreqn).
const ipv4MreqByIndex = true

func (u *UDPSocket) setIPv4MulticastOpt(opt, v int) error {
	return u.setOpt(syscall.IPPROTO_IP, opt, v)
}

func sysSetIPv4Mreq(fd uintptr, join bool, group [4]byte, index int, _ [4]byte) error {
	opt := syscall.IP_DROP_MEMBERSHIP
	if join {
		opt = syscall.IP_ADD_MEMBERSHIP
	}
	mreq := &syscall.IPMreqn{Multiaddr: group, Ifindex: int32(index)}
	return syscall.SetsockoptIPMreqn(int(fd), syscall.IPPROTO_IP, opt, mreq)
}
