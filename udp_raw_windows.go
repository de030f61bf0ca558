package poller

import (
	"net/netip"
	"syscall"
	"unsafe"
)

// recvfrom and sendto for the address-port paths, with the addresses on the
// stack (syscall.Syscall6 keeps them there: it is nosplit and
// uintptrkeepalive): no allocation per datagram. On a non-overlapped call
// of a non-blocking socket they do what WSARecvFrom and WSASendTo would,
// with fewer arguments.

func sysRecvfromAddrPort(fd uintptr, p []byte) (int, netip.AddrPort, error) {
	p = clampIO(p)
	var rsa syscall.RawSockaddrAny
	l := int32(unsafe.Sizeof(rsa))
	var buf unsafe.Pointer
	if len(p) > 0 {
		buf = unsafe.Pointer(&p[0])
	}
	n, _, e := syscall.Syscall6(procRecvfrom.Addr(), 6, fd, uintptr(buf), uintptr(int32(len(p))), 0,
		uintptr(unsafe.Pointer(&rsa)), uintptr(unsafe.Pointer(&l)))
	if int32(n) == -1 {
		if e != wsaEMsgSize {
			return 0, netip.AddrPort{}, errnoErr(e)
		}
		n = uintptr(len(p)) // truncated, as on Unix
	}
	from, _ := rawAddrPort(&rsa)
	return int(int32(n)), from, nil
}

// sysSendtoDest sends p to d, or to the connected peer when d is nil. One
// datagram longer than one call takes cannot go out whole: WSAEMSGSIZE.
func sysSendtoDest(fd uintptr, p []byte, d *udpDest) error {
	if len(p) > maxIOLen {
		return wsaEMsgSize
	}
	var raw rawDest
	to, l := raw.dest(d)
	var buf unsafe.Pointer
	if len(p) > 0 {
		buf = unsafe.Pointer(&p[0])
	}
	n, _, e := syscall.Syscall6(procSendto.Addr(), 6, fd, uintptr(buf), uintptr(int32(len(p))), 0,
		uintptr(to), uintptr(l))
	if int32(n) == -1 {
		return errnoErr(e)
	}
	return nil
}
