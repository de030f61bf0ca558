package poller

import (
	"net/netip"
	"syscall"
	"unsafe"
)

// recvfrom(2) and sendto(2) for the address-port paths, as raw system calls
// (socket_raw_linux.go says why that is safe), with the addresses on the
// stack: no allocation per datagram.

func sysRecvfromAddrPort(fd uintptr, p []byte) (int, netip.AddrPort, error) {
	var rsa syscall.RawSockaddrAny
	l := uint32(unsafe.Sizeof(rsa))
	buf := unsafe.Pointer(&emptyRead)
	if len(p) > 0 {
		buf = unsafe.Pointer(&p[0])
	}
	n, _, e := syscall.RawSyscall6(syscall.SYS_RECVFROM, fd, uintptr(buf), uintptr(len(p)), 0,
		uintptr(unsafe.Pointer(&rsa)), uintptr(unsafe.Pointer(&l)))
	if e != 0 {
		return 0, netip.AddrPort{}, e
	}
	from, _ := rawAddrPort(&rsa)
	return int(n), from, nil
}

// sysSendtoDest sends p to d, or to the connected peer when d is nil.
func sysSendtoDest(fd uintptr, p []byte, d *udpDest) error {
	var raw rawDest
	to, l := raw.dest(d)
	buf := unsafe.Pointer(&emptyRead)
	if len(p) > 0 {
		buf = unsafe.Pointer(&p[0])
	}
	_, _, e := syscall.RawSyscall6(syscall.SYS_SENDTO, fd, uintptr(buf), uintptr(len(p)), syscall.MSG_NOSIGNAL,
		uintptr(to), uintptr(l))
	if e != 0 {
		return e
	}
	return nil
}
