//go:build !windows

package poller

import "syscall"

func sysSetIPv6Mreq(fd uintptr, opt int, mreq *syscall.IPv6Mreq) error {
	return syscall.SetsockoptIPv6Mreq(int(fd), syscall.IPPROTO_IPV6, opt, mreq)
}
