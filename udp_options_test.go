package poller

import (
	"errors"
	"net"
	"net/netip"
	"syscall"
	"testing"
)

// Each option reads back through getsockopt as set, on IPv4 and IPv6
// sockets, and a value out of range fails with ErrInvalidArgument.
func TestUDPOptions(t *testing.T) {
	for _, tc := range []struct {
		network, address string
		level            int
		ttl, mttl, mloop int
	}{
		{"udp4", "127.0.0.1:0", syscall.IPPROTO_IP, syscall.IP_TTL, syscall.IP_MULTICAST_TTL, syscall.IP_MULTICAST_LOOP},
		{"udp6", "[::1]:0", syscall.IPPROTO_IPV6, syscall.IPV6_UNICAST_HOPS, syscall.IPV6_MULTICAST_HOPS, syscall.IPV6_MULTICAST_LOOP},
	} {
		t.Run(tc.network, func(t *testing.T) {
			u, err := ListenUDP(tc.network, tc.address)
			if err != nil {
				if tc.network == "udp6" {
					t.Skipf("no IPv6 loopback here: %v", err)
				}
				t.Fatal(err)
			}
			defer u.Close()
			check := func(what string, set error, level, opt, want int) {
				t.Helper()
				if set != nil {
					t.Fatalf("%s: %v", what, set)
				}
				got, err := u.getOpt(level, opt)
				if err != nil {
					t.Fatalf("%s: getsockopt: %v", what, err)
				}
				if got != want {
					t.Fatalf("%s: getsockopt says %d, want %d", what, got, want)
				}
			}
			check("SetBroadcast(true)", u.SetBroadcast(true), syscall.SOL_SOCKET, syscall.SO_BROADCAST, 1)
			check("SetBroadcast(false)", u.SetBroadcast(false), syscall.SOL_SOCKET, syscall.SO_BROADCAST, 0)
			check("SetTTL(17)", u.SetTTL(17), tc.level, tc.ttl, 17)
			check("SetTTL(255)", u.SetTTL(255), tc.level, tc.ttl, 255)
			check("SetMulticastTTL(3)", u.SetMulticastTTL(3), tc.level, tc.mttl, 3)
			check("SetMulticastTTL(0)", u.SetMulticastTTL(0), tc.level, tc.mttl, 0)
			check("SetMulticastLoopback(false)", u.SetMulticastLoopback(false), tc.level, tc.mloop, 0)
			check("SetMulticastLoopback(true)", u.SetMulticastLoopback(true), tc.level, tc.mloop, 1)
			for _, err := range []error{u.SetTTL(0), u.SetTTL(256), u.SetTTL(-1), u.SetMulticastTTL(-1), u.SetMulticastTTL(256)} {
				if !errors.Is(err, ErrInvalidArgument) {
					t.Fatalf("out of range: %v, want ErrInvalidArgument", err)
				}
			}
			// The value set before the failed calls stays.
			check("after the failed calls", nil, tc.level, tc.ttl, 255)
		})
	}
}

// On a dual-stack socket ("udp", [::]) the options set both the IPv6 and
// the IPv4 values.
func TestUDPOptionsDualStack(t *testing.T) {
	u, err := ListenUDP("udp", ":0")
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	if !u.dualStack() {
		t.Skipf("ListenUDP(\"udp\", \":0\") is not dual stack here (family %d)", u.family)
	}
	if err := u.SetTTL(33); err != nil {
		t.Fatal(err)
	}
	if err := u.SetMulticastTTL(4); err != nil {
		t.Fatal(err)
	}
	if err := u.SetMulticastLoopback(false); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ level, opt, want int }{
		{syscall.IPPROTO_IPV6, syscall.IPV6_UNICAST_HOPS, 33}, {syscall.IPPROTO_IP, syscall.IP_TTL, 33},
		{syscall.IPPROTO_IPV6, syscall.IPV6_MULTICAST_HOPS, 4}, {syscall.IPPROTO_IP, syscall.IP_MULTICAST_TTL, 4},
		{syscall.IPPROTO_IPV6, syscall.IPV6_MULTICAST_LOOP, 0}, {syscall.IPPROTO_IP, syscall.IP_MULTICAST_LOOP, 0},
	} {
		if got, err := u.getOpt(c.level, c.opt); err != nil || got != c.want {
			t.Errorf("level %d option %d: %d, %v; want %d", c.level, c.opt, got, err, c.want)
		}
	}
}

// multicastExchange joins group on ifi with a socket bound to the
// wildcard address, and checks that a datagram sent to the group by
// another socket arrives; after LeaveGroup one does not (it would come
// before the unicast datagram sent after it, on the same path).
func multicastExchange(t *testing.T, network string, ifi *net.Interface, group netip.Addr, from string) {
	r := newUDPRig(t)
	wildcard := "0.0.0.0:0"
	if network == "udp6" {
		wildcard = "[::]:0"
	}
	recv := r.listen(network, wildcard)
	port := addrPortOfSocket(t, recv).Port()
	send := r.listen(network, from)
	if err := send.SetMulticastTTL(1); err != nil {
		t.Fatal(err)
	}
	if err := send.SetMulticastLoopback(true); err != nil {
		t.Fatal(err)
	}
	if err := recv.JoinGroup(ifi, group); err != nil {
		t.Fatalf("JoinGroup(%v): %v", group, err)
	}
	dst := netip.AddrPortFrom(group, port)
	buf := make([]byte, 64)
	readOne := func(want string) {
		t.Helper()
		r.retry(func() error {
			n, _, err := recv.ReadFromAddrPort(buf)
			if err == nil && string(buf[:n]) != want {
				t.Fatalf("got %q, want %q", buf[:n], want)
			}
			return err
		})
	}
	r.retry(func() error { _, err := send.WriteToAddrPort([]byte("to the group"), dst); return err })
	readOne("to the group")
	if err := recv.LeaveGroup(ifi, group); err != nil {
		t.Fatalf("LeaveGroup(%v): %v", group, err)
	}
	r.retry(func() error { _, err := send.WriteToAddrPort([]byte("after leaving"), dst); return err })
	uni := addrPortOfSocket(t, send).Addr()
	r.retry(func() error {
		_, err := send.WriteToAddrPort([]byte("unicast"), netip.AddrPortFrom(uni, port))
		return err
	})
	readOne("unicast")
}

// JoinGroup and LeaveGroup refuse what is not a multicast group of the
// socket's family.
func TestUDPJoinGroupBadGroup(t *testing.T) {
	u := listenUDP(t)
	defer u.Close()
	for _, g := range []netip.Addr{{}, netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("ff02::1")} {
		if err := u.JoinGroup(nil, g); !errors.Is(err, ErrInvalidAddress) {
			t.Fatalf("JoinGroup(%v): %v, want ErrInvalidAddress", g, err)
		}
		if err := u.LeaveGroup(nil, g); !errors.Is(err, ErrInvalidAddress) {
			t.Fatalf("LeaveGroup(%v): %v, want ErrInvalidAddress", g, err)
		}
	}
}
