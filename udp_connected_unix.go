//go:build !windows

package poller

import "net/netip"

// The address-port primitives of a UDP socket (udp_addrport.go calls
// them): the system calls of udp_raw_linux.go or udp_raw_other.go.

func (s *socket) sysRecvfromAddrPort(p []byte) (int, netip.AddrPort, error) {
	return sysRecvfromAddrPort(s.fd, p)
}

// sysSendtoDest sends p to d; connected: the socket is connected to d, and
// sendto is given no address.
func (s *socket) sysSendtoDest(p []byte, d *udpDest, connected bool) error {
	if connected {
		d = nil
	}
	return sysSendtoDest(s.fd, p, d)
}

// sysUDPConnected: nothing to do; the kernel reports ICMP errors to a
// connected socket.
func sysUDPConnected(fd uintptr) {}

// recvError is err: ECONNREFUSED already says what it is.
func (u *UDPSocket) recvError(err error) error { return err }
