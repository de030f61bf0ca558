//go:build !windows

package poller

// sysUDPConnected: nothing to do; the kernel reports ICMP errors to a
// connected socket.
func sysUDPConnected(fd uintptr) {}

// recvError is err: ECONNREFUSED already says what it is.
func (u *UDPSocket) recvError(err error) error { return err }
