//go:build !linux && !windows

package poller

import (
	"net/netip"
	"syscall"
)

// The address-port paths on macOS and the BSDs go through package
// syscall's Sockaddr values: one allocation per datagram received and per
// one sent (Linux and Windows make none: udp_raw.go).

func sysRecvfromAddrPort(fd uintptr, p []byte) (int, netip.AddrPort, error) {
	n, sa, err := sysRecvfrom(fd, p)
	if err != nil {
		return 0, netip.AddrPort{}, err
	}
	from, _ := sockaddrAddrPort(sa)
	return n, from, nil
}

// sysSendtoDest sends p to d, or to the connected peer when d is nil.
func sysSendtoDest(fd uintptr, p []byte, d *udpDest) error {
	if d == nil {
		_, err := syscall.Write(int(fd), p)
		return err
	}
	return sysSendto(fd, p, d.sockaddr())
}
