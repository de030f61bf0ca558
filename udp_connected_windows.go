package poller

import (
	"syscall"
	"unsafe"
)

const wsaEConnRefused = syscall.Errno(10061)

// sysUDPConnected turns SIO_UDP_CONNRESET back on for a connected socket
// (sysSocket turned it off), so an ICMP port-unreachable reaches Read
// (udp_connected.go says why). Wine 8 lacks the ioctl: its failure is
// ignored, and Wine passes on what its Linux socket reports.
func sysUDPConnected(fd uintptr) {
	on := uint32(1)
	var ret uint32
	syscall.WSAIoctl(syscall.Handle(fd), sioUDPConnReset, (*byte)(unsafe.Pointer(&on)), 4, nil, 0, &ret, nil, 0)
}

// recvError reports the WSAECONNRESET of a connected socket's receive (an
// ICMP port-unreachable) as WSAECONNREFUSED, which matches
// syscall.ECONNREFUSED as on Linux.
func (u *UDPSocket) recvError(err error) error {
	if err == wsaEConnReset && u.connected() {
		return wsaEConnRefused
	}
	return err
}
