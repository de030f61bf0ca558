//go:build !windows

package poller

import "syscall"

func setIntOpt(fd uintptr, level, opt, v int) error {
	return syscall.SetsockoptInt(int(fd), level, opt, v)
}

func getIntOpt(fd uintptr, level, opt int) (int, error) {
	return syscall.GetsockoptInt(int(fd), level, opt)
}

func sysSetIPv6Mreq(fd uintptr, opt int, mreq *syscall.IPv6Mreq) error {
	return syscall.SetsockoptIPv6Mreq(int(fd), syscall.IPPROTO_IPV6, opt, mreq)
}
