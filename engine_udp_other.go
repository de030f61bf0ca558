//go:build !windows

package poller

import "net/netip"

// UDPSocket's hooks for Windows' overlapped engine (engine_udp_windows.go):
// nothing elsewhere.

type udpSys struct{}

func (u *UDPSocket) engineRecvfrom(p []byte) (int, netip.AddrPort, error, bool) {
	return 0, netip.AddrPort{}, nil, false
}

func (u *UDPSocket) engineWriteTo(p []byte, d *udpDest) (int, error, bool) { return 0, nil, false }
