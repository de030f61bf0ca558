package poller

import (
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// netnsEnv marks the copy of the test binary that runs in a network
// namespace of its own.
const netnsEnv = "POLLER_TEST_IN_NETNS"

// TestUDPMulticast runs multicastExchange over IPv4 and IPv6 on the
// loopback interface of a network namespace the test makes: it runs its
// own binary again (this test only) in a new namespace (CLONE_NEWNET,
// which needs root), and there sets lo up, multicast on, with a route for
// the IPv4 multicast range. Linux does not loop IPv6 multicast through lo,
// so IPv6 goes over a veth pair made in the namespace (v0, with fd00::1;
// its peer v1 has IPv6 off, so v0 is the one route). The host's own
// interfaces and routes are never touched.
func TestUDPMulticast(t *testing.T) {
	if os.Getenv(netnsEnv) == "" {
		if os.Geteuid() != 0 {
			t.Skip("skipped: making a network namespace (CLONE_NEWNET) needs root")
		}
		if _, err := exec.LookPath("ip"); err != nil {
			t.Skip("skipped: no ip(8) (iproute2) to set up the namespace's loopback")
		}
		cmd := exec.Command(os.Args[0], "-test.run=^TestUDPMulticast$", "-test.count=1", "-test.v")
		cmd.Env = append(os.Environ(), netnsEnv+"=1")
		cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNET}
		out, err := cmd.CombinedOutput()
		t.Logf("in a new network namespace:\n%s", out)
		if err != nil {
			if strings.Contains(err.Error(), "operation not permitted") {
				t.Skipf("skipped: CLONE_NEWNET refused: %v", err)
			}
			t.Fatalf("the namespaced run failed: %v", err)
		}
		if !strings.Contains(string(out), "--- PASS: TestUDPMulticast") || strings.Contains(string(out), "SKIP") {
			t.Fatal("the namespaced run did not pass")
		}
		return
	}
	for _, args := range [][]string{
		{"link", "set", "lo", "up"},
		{"link", "set", "lo", "multicast", "on"},
		{"route", "add", "224.0.0.0/4", "dev", "lo"},
		{"link", "add", "v0", "type", "veth", "peer", "name", "v1"},
	} {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %v: %v: %s", args, err, out)
		}
	}
	if err := os.WriteFile("/proc/sys/net/ipv6/conf/v1/disable_ipv6", []byte("1"), 0); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"link", "set", "v1", "up"},
		{"link", "set", "v0", "up"},
		{"-6", "addr", "add", "fd00::1/64", "dev", "v0", "nodad"},
	} {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %v: %v: %s", args, err, out)
		}
	}
	lo, err := net.InterfaceByName("lo")
	if err != nil {
		t.Fatal(err)
	}
	t.Run("udp4", func(t *testing.T) {
		multicastExchange(t, "udp4", lo, netip.MustParseAddr("239.1.2.3"), "127.0.0.1:0")
	})
	t.Run("udp4 default interface", func(t *testing.T) {
		multicastExchange(t, "udp4", nil, netip.MustParseAddr("239.1.2.4"), "127.0.0.1:0")
	})
	// The veth's carrier comes up asynchronously (the kernel's link
	// watch): wait for it, and for v0's IPv6 multicast route, polling.
	for start := time.Now(); ; time.Sleep(10 * time.Millisecond) {
		state, _ := exec.Command("ip", "-o", "link", "show", "v0").Output()
		routes, _ := exec.Command("ip", "-6", "route", "show", "table", "all", "ff00::/8", "dev", "v0").Output()
		if strings.Contains(string(state), "state UP") && len(routes) > 0 {
			break
		}
		if time.Since(start) > 10*time.Second {
			t.Fatalf("v0 not up after 10 s: operstate %q, routes %q", state, routes)
		}
	}
	v0, err := net.InterfaceByName("v0")
	if err != nil {
		t.Fatal(err)
	}
	t.Run("udp6", func(t *testing.T) {
		multicastExchange(t, "udp6", v0, netip.MustParseAddr("ff15::1:2:3"), "[fd00::1]:0")
	})
}
