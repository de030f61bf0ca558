package poller

import (
	"net/netip"
	"testing"
)

// TestUDPMulticastWindows joins, sends to and leaves an IPv4 and an IPv6
// group on the default interface with the sender's loopback on (Windows
// loops multicast back to the host's own members).
func TestUDPMulticastWindows(t *testing.T) {
	t.Run("udp4", func(t *testing.T) {
		multicastExchange(t, "udp4", nil, netip.MustParseAddr("239.1.2.3"), "0.0.0.0:0")
	})
	t.Run("udp6", func(t *testing.T) {
		multicastExchange(t, "udp6", nil, netip.MustParseAddr("ff15::1:2:3"), "[::]:0")
	})
}
