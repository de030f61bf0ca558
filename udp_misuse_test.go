package poller

import (
	"net"
	"net/netip"
	"syscall"
)

// udpMisuseCases are TestMisuseTable's rows for UDPSocket's address-port,
// connected and option calls: nil and zero receivers, closed sockets, bad
// arguments. Each gives a typed error (or documented success), never a
// panic.
var udpMisuseCases = []struct {
	name string
	run  func(f misuseFixture) error
	want error
}{
	// nil and zero receivers
	{"ReadFromAddrPort on a nil *UDPSocket", func(f misuseFixture) error { _, _, err := (*UDPSocket)(nil).ReadFromAddrPort(readBuf); return err }, ErrNilSource},
	{"ReadFromAddrPort on a zero UDPSocket", func(f misuseFixture) error { _, _, err := (&UDPSocket{}).ReadFromAddrPort(readBuf); return err }, ErrNilSource},
	{"WriteToAddrPort on a nil *UDPSocket", func(f misuseFixture) error {
		_, err := (*UDPSocket)(nil).WriteToAddrPort(readBuf, netip.MustParseAddrPort("127.0.0.1:9"))
		return err
	}, ErrNilSource},
	{"WriteToAddrPort on a zero UDPSocket", func(f misuseFixture) error {
		_, err := (&UDPSocket{}).WriteToAddrPort(readBuf, netip.MustParseAddrPort("127.0.0.1:9"))
		return err
	}, ErrNilSource},
	{"Read on a nil *UDPSocket", func(f misuseFixture) error { _, err := (*UDPSocket)(nil).Read(readBuf); return err }, ErrNilSource},
	{"Read on a zero UDPSocket", func(f misuseFixture) error { _, err := (&UDPSocket{}).Read(readBuf); return err }, ErrNilSource},
	{"Write on a nil *UDPSocket", func(f misuseFixture) error { _, err := (*UDPSocket)(nil).Write(readBuf); return err }, ErrNilSource},
	{"Write on a zero UDPSocket", func(f misuseFixture) error { _, err := (&UDPSocket{}).Write(readBuf); return err }, ErrNilSource},
	{"RemoteAddr of a nil *UDPSocket", func(f misuseFixture) error { return nilAddr((*UDPSocket)(nil).RemoteAddr()) }, nil},
	{"RemoteAddr of a zero UDPSocket", func(f misuseFixture) error { return nilAddr((&UDPSocket{}).RemoteAddr()) }, nil},
	{"RemoteAddr of a ListenUDP socket", func(f misuseFixture) error { return nilAddr(f.udp().RemoteAddr()) }, nil},
	{"SetBroadcast on a nil *UDPSocket", func(f misuseFixture) error { return (*UDPSocket)(nil).SetBroadcast(true) }, ErrNilSource},
	{"SetTTL on a nil *UDPSocket", func(f misuseFixture) error { return (*UDPSocket)(nil).SetTTL(1) }, ErrNilSource},
	{"SetTTL out of range on a nil *UDPSocket", func(f misuseFixture) error { return (*UDPSocket)(nil).SetTTL(-1) }, ErrNilSource},
	{"SetMulticastTTL on a nil *UDPSocket", func(f misuseFixture) error { return (*UDPSocket)(nil).SetMulticastTTL(1) }, ErrNilSource},
	{"SetMulticastLoopback on a nil *UDPSocket", func(f misuseFixture) error { return (*UDPSocket)(nil).SetMulticastLoopback(true) }, ErrNilSource},
	{"JoinGroup on a nil *UDPSocket", func(f misuseFixture) error { return (*UDPSocket)(nil).JoinGroup(nil, netip.MustParseAddr("239.1.1.1")) }, ErrNilSource},
	{"LeaveGroup on a nil *UDPSocket", func(f misuseFixture) error {
		return (*UDPSocket)(nil).LeaveGroup(nil, netip.MustParseAddr("239.1.1.1"))
	}, ErrNilSource},
	{"SetTTL on a zero UDPSocket", func(f misuseFixture) error { return (&UDPSocket{}).SetTTL(1) }, ErrNilSource},
	{"JoinGroup on a zero UDPSocket", func(f misuseFixture) error { return (&UDPSocket{}).JoinGroup(nil, netip.MustParseAddr("239.1.1.1")) }, ErrNilSource},

	// closed sockets
	{"ReadFromAddrPort on a closed UDP socket", func(f misuseFixture) error {
		u := f.closedUDP()
		_, _, err := u.ReadFromAddrPort(readBuf)
		return err
	}, net.ErrClosed},
	{"WriteToAddrPort on a closed UDP socket", func(f misuseFixture) error {
		_, err := f.closedUDP().WriteToAddrPort(readBuf, netip.MustParseAddrPort("127.0.0.1:9"))
		return err
	}, net.ErrClosed},
	{"Read on a closed connected UDP socket", func(f misuseFixture) error {
		u := f.dialedUDP()
		u.Close()
		_, err := u.Read(readBuf)
		return err
	}, net.ErrClosed},
	{"Write on a closed connected UDP socket", func(f misuseFixture) error {
		u := f.dialedUDP()
		u.Close()
		_, err := u.Write(readBuf)
		return err
	}, net.ErrClosed},
	{"Close a closed connected UDP socket", func(f misuseFixture) error {
		u := f.dialedUDP()
		u.Close()
		return u.Close()
	}, net.ErrClosed},
	{"RemoteAddr of a closed connected UDP socket still names the peer", func(f misuseFixture) error {
		u := f.dialedUDP()
		u.Close()
		if u.RemoteAddr() == nil {
			return net.UnknownNetworkError("RemoteAddr is nil")
		}
		return nil
	}, nil},
	{"SetBroadcast on a closed UDP socket", func(f misuseFixture) error { return f.closedUDP().SetBroadcast(true) }, net.ErrClosed},
	{"SetTTL on a closed UDP socket", func(f misuseFixture) error { return f.closedUDP().SetTTL(2) }, net.ErrClosed},
	{"SetMulticastTTL on a closed UDP socket", func(f misuseFixture) error { return f.closedUDP().SetMulticastTTL(2) }, net.ErrClosed},
	{"SetMulticastLoopback on a closed UDP socket", func(f misuseFixture) error { return f.closedUDP().SetMulticastLoopback(false) }, net.ErrClosed},
	{"JoinGroup on a closed UDP socket", func(f misuseFixture) error { return f.closedUDP().JoinGroup(nil, netip.MustParseAddr("239.1.1.1")) }, net.ErrClosed},
	{"LeaveGroup on a closed UDP socket", func(f misuseFixture) error { return f.closedUDP().LeaveGroup(nil, netip.MustParseAddr("239.1.1.1")) }, net.ErrClosed},

	// bad arguments
	{"WriteToAddrPort to the zero AddrPort", func(f misuseFixture) error { _, err := f.udp().WriteToAddrPort(readBuf, netip.AddrPort{}); return err }, ErrInvalidAddress},
	{"WriteToAddrPort to an IPv6 address from an IPv4 socket", func(f misuseFixture) error {
		_, err := f.udp().WriteToAddrPort(readBuf, netip.MustParseAddrPort("[::1]:9"))
		return err
	}, ErrInvalidAddress},
	{"WriteToAddrPort on a connected socket", func(f misuseFixture) error {
		_, err := f.dialedUDP().WriteToAddrPort(readBuf, netip.MustParseAddrPort("127.0.0.1:9"))
		return err
	}, net.ErrWriteToConnected},
	{"WriteTo on a connected socket", func(f misuseFixture) error {
		_, err := f.dialedUDP().WriteTo(readBuf, &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 9})
		return err
	}, net.ErrWriteToConnected},
	{"Write on a socket not connected", func(f misuseFixture) error { _, err := f.udp().Write(readBuf); return err }, syscall.EDESTADDRREQ},
	{"Read on a socket not connected, nothing queued", func(f misuseFixture) error { _, err := f.udp().Read(readBuf); return err }, ErrWouldBlock},
	{"ReadFromAddrPort into an empty buffer, nothing queued", func(f misuseFixture) error { _, _, err := f.udp().ReadFromAddrPort(nil); return err }, ErrWouldBlock},
	{"DialUDP with a TCP network", func(f misuseFixture) error { _, err := DialUDP("tcp", "127.0.0.1:9"); return err }, ErrInvalidAddress},
	{"DialUDP with an empty network", func(f misuseFixture) error { _, err := DialUDP("", "127.0.0.1:9"); return err }, ErrInvalidAddress},
	{"DialUDP to a malformed address", func(f misuseFixture) error { _, err := DialUDP("udp4", "127.0.0.1"); return err }, ErrInvalidAddress},
	{"DialUDP udp4 to an IPv6 address", func(f misuseFixture) error { _, err := DialUDP("udp4", "[::1]:9"); return err }, ErrInvalidAddress},
	{"DialUDP to port 65536", func(f misuseFixture) error { _, err := DialUDP("udp4", "127.0.0.1:65536"); return err }, ErrInvalidAddress},
	{"Dialer.DialUDP with a TCP LocalAddr", func(f misuseFixture) error {
		_, err := (&Dialer{LocalAddr: &net.TCPAddr{}}).DialUDP("udp4", "127.0.0.1:9")
		return err
	}, ErrInvalidAddress},
	{"Dialer.DialUDP udp6 with an IPv4 LocalAddr", func(f misuseFixture) error {
		_, err := (&Dialer{LocalAddr: &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)}}).DialUDP("udp6", "[::1]:9")
		return err
	}, ErrInvalidAddress},
	{"DialUDP on a nil *Dialer", func(f misuseFixture) error {
		u, err := (*Dialer)(nil).DialUDP("udp4", f.udp().LocalAddr().String())
		if err == nil {
			u.Close()
		}
		return err
	}, nil},
	{"SetTTL(0)", func(f misuseFixture) error { return f.udp().SetTTL(0) }, ErrInvalidArgument},
	{"SetTTL(256)", func(f misuseFixture) error { return f.udp().SetTTL(256) }, ErrInvalidArgument},
	{"SetMulticastTTL(-1)", func(f misuseFixture) error { return f.udp().SetMulticastTTL(-1) }, ErrInvalidArgument},
	{"SetMulticastTTL(256)", func(f misuseFixture) error { return f.udp().SetMulticastTTL(256) }, ErrInvalidArgument},
	{"JoinGroup with the zero Addr", func(f misuseFixture) error { return f.udp().JoinGroup(nil, netip.Addr{}) }, ErrInvalidAddress},
	{"JoinGroup with a unicast address", func(f misuseFixture) error { return f.udp().JoinGroup(nil, netip.MustParseAddr("127.0.0.1")) }, ErrInvalidAddress},
	{"JoinGroup with an IPv6 group on an IPv4 socket", func(f misuseFixture) error { return f.udp().JoinGroup(nil, netip.MustParseAddr("ff02::1")) }, ErrInvalidAddress},
	{"LeaveGroup with the zero Addr", func(f misuseFixture) error { return f.udp().LeaveGroup(nil, netip.Addr{}) }, ErrInvalidAddress},
	{"LeaveGroup with an IPv6 group on an IPv4 socket", func(f misuseFixture) error { return f.udp().LeaveGroup(nil, netip.MustParseAddr("ff02::1")) }, ErrInvalidAddress},
	{"JoinGroup on an interface with no IPv4 address, or its index", func(f misuseFixture) error {
		err := f.udp().JoinGroup(&net.Interface{Index: 1 << 30, Name: "none"}, netip.MustParseAddr("239.1.1.1"))
		if err == nil {
			return net.UnknownNetworkError("JoinGroup on a made-up interface succeeded")
		}
		return nil
	}, nil},
}

func (f misuseFixture) closedUDP() *UDPSocket {
	u := f.udp()
	if err := u.Close(); err != nil {
		f.t.Fatal(err)
	}
	return u
}

// dialedUDP is a UDP socket connected to one of ours.
func (f misuseFixture) dialedUDP() *UDPSocket {
	u, err := DialUDP("udp4", f.udp().LocalAddr().String())
	if err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(func() { u.Close() })
	return u
}
