package poller

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"syscall"
	"testing"
	"time"
)

// Tests of the socket control: SyscallConn, options read back with
// getsockopt, ListenConfig and Dialer, dual stack, adoption, CloseRead,
// Peek and Writev. Every one runs on Linux and under Wine (both cores, and
// the overlapped engine where the path exists).

// ownPair returns two connected streams of ours, a (dialed) and b
// (accepted), registered with p for Readable|Writable under tokens 1 and
// 2; a's connect has finished (its Writable seen: one loop sees both that
// and the listener's Readable, since on the overlapped engine each comes
// once).
func ownPair(t *testing.T, p *Poll) (a, b *TCPStream) {
	t.Helper()
	ln, err := ListenTCP("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if err := p.Registry().Register(ln, 9, Readable); err != nil {
		t.Fatal(err)
	}
	a, err = DialTCP("tcp4", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	if err := p.Registry().Register(a, 1, Readable|Writable); err != nil {
		t.Fatal(err)
	}
	events := NewEvents(16)
	connected := false
	deadline := time.Now().Add(eventTimeout)
	for (b == nil || !connected) && time.Now().Before(deadline) {
		if b == nil {
			s, _, err := ln.Accept()
			switch {
			case err == nil:
				b = s
				t.Cleanup(func() { b.Close() })
				if err := p.Registry().Register(b, 2, Readable|Writable); err != nil {
					t.Fatal(err)
				}
				continue
			case !errors.Is(err, ErrWouldBlock):
				t.Fatalf("Accept: %v", err)
			}
		}
		if err := p.Wait(events, time.Until(deadline)); err != nil {
			t.Fatal(err)
		}
		for ev := range events.All() {
			if ev.Token() == 1 && ev.IsWritable() {
				connected = true
			}
		}
	}
	if b == nil || !connected {
		t.Fatalf("no connected pair: accepted %v, connected %v", b != nil, connected)
	}
	return a, b
}

// acceptPolled accepts one connection from a registered listener.
func acceptPolled(t *testing.T, p *Poll, ln *TCPListener, token Token) *TCPStream {
	t.Helper()
	events := NewEvents(16)
	deadline := time.Now().Add(eventTimeout)
	for time.Now().Before(deadline) {
		s, _, err := ln.Accept()
		if err == nil {
			return s
		}
		if !errors.Is(err, ErrWouldBlock) {
			t.Fatalf("Accept: %v", err)
		}
		waitEvent(t, p, events, token, readable)
	}
	t.Fatal("no connection accepted")
	return nil
}

// readN reads n bytes from a registered stream of ours.
func readN(t *testing.T, p *Poll, s *TCPStream, token Token, n int) []byte {
	t.Helper()
	events := NewEvents(16)
	got := make([]byte, 0, n)
	buf := make([]byte, 64<<10)
	deadline := time.Now().Add(eventTimeout)
	for len(got) < n && time.Now().Before(deadline) {
		k, err := s.Read(buf[:min(len(buf), n-len(got))])
		got = append(got, buf[:k]...)
		switch {
		case err == nil:
		case errors.Is(err, ErrWouldBlock):
			waitEvent(t, p, events, token, readable)
		default:
			t.Fatalf("Read after %d bytes: %v", len(got), err)
		}
	}
	if len(got) < n {
		t.Fatalf("read %d bytes of %d", len(got), n)
	}
	return got
}

// getInt reads an integer option through SyscallConn.
func getInt(t *testing.T, c syscall.Conn, level, name int) int {
	t.Helper()
	raw, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var v int
	var gerr error
	if err := raw.Control(func(fd uintptr) { v, gerr = sysGetsockoptInt(fd, level, name) }); err != nil {
		t.Fatal(err)
	}
	if gerr != nil {
		t.Fatalf("getsockopt(%d, %d): %v", level, name, gerr)
	}
	return v
}

func TestSockOptionsReadBack(t *testing.T) {
	checkLeaks(t)
	p := newPoll(t)
	s, _ := ownPair(t, p)

	for _, on := range []bool{true, false} {
		if err := s.SetKeepAlive(on); err != nil {
			t.Fatal(err)
		}
		if got := getInt(t, s, syscall.SOL_SOCKET, syscall.SO_KEEPALIVE) != 0; got != on {
			t.Errorf("SetKeepAlive(%v): SO_KEEPALIVE %v", on, got)
		}
		if err := s.SetNoDelay(on); err != nil {
			t.Fatal(err)
		}
		if got, err := s.NoDelay(); err != nil || got != on {
			t.Errorf("SetNoDelay(%v): NoDelay %v, %v", on, got, err)
		}
		if got := getInt(t, s, syscall.IPPROTO_TCP, syscall.TCP_NODELAY) != 0; got != on {
			t.Errorf("SetNoDelay(%v): TCP_NODELAY %v", on, got)
		}
	}

	cfg := net.KeepAliveConfig{Enable: true, Idle: 31 * time.Second, Interval: 1500 * time.Millisecond, Count: 4}
	err := s.SetKeepAliveConfig(cfg)
	switch {
	case tcpKeepIdle == 0: // OpenBSD
		if !errors.Is(err, errors.ErrUnsupported) {
			t.Errorf("SetKeepAliveConfig: %v, want ErrUnsupported", err)
		}
	case errors.Is(err, errors.ErrUnsupported) && !perSocketKeepAlive(t, s):
		// Windows before 1709 and Wine 8: SIO_KEEPALIVE_VALS, which
		// cannot be read back, and the system's count.
		t.Logf("no per-socket keepalive options: %v", err)
		for _, cnt := range []int{0, -1} {
			cfg.Count = cnt
			if err := s.SetKeepAliveConfig(cfg); err != nil {
				t.Errorf("SetKeepAliveConfig with Count %d: %v", cnt, err)
			}
		}
		if getInt(t, s, syscall.SOL_SOCKET, syscall.SO_KEEPALIVE) == 0 {
			t.Error("SetKeepAliveConfig: SO_KEEPALIVE off")
		}
	case err != nil:
		t.Fatalf("SetKeepAliveConfig: %v", err)
	default:
		if getInt(t, s, syscall.SOL_SOCKET, syscall.SO_KEEPALIVE) == 0 {
			t.Error("SetKeepAliveConfig: SO_KEEPALIVE off")
		}
		for _, o := range []struct {
			name      string
			opt, want int
		}{{"idle", tcpKeepIdle, 31}, {"interval", tcpKeepIntvl, 2}, {"count", tcpKeepCnt, 4}} {
			if got := getInt(t, s, syscall.IPPROTO_TCP, o.opt); got != o.want {
				t.Errorf("SetKeepAliveConfig: %s %d, want %d", o.name, got, o.want)
			}
		}
		// Negative leaves a setting alone, zero is the default.
		if err := s.SetKeepAliveConfig(net.KeepAliveConfig{Enable: true, Idle: -1, Interval: 0, Count: -1}); err != nil {
			t.Fatal(err)
		}
		if got := getInt(t, s, syscall.IPPROTO_TCP, tcpKeepIdle); got != 31 {
			t.Errorf("Idle -1 changed idle to %d", got)
		}
		if got := getInt(t, s, syscall.IPPROTO_TCP, tcpKeepIntvl); got != 15 {
			t.Errorf("Interval 0: interval %d, want 15", got)
		}
	}

	for _, sec := range []int{7, 0, -1} {
		if err := s.SetLinger(sec); err != nil {
			t.Fatalf("SetLinger(%d): %v", sec, err)
		}
		on, got := getLinger(t, s)
		if wantOn := sec >= 0; on != wantOn || (on && got != sec) {
			t.Errorf("SetLinger(%d): linger on %v, %d s", sec, on, got)
		}
	}
	if err := s.SetLinger(70000); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("SetLinger(70000): %v, want ErrInvalidArgument", err)
	}

	u := listenUDP(t)
	defer u.Close()
	for _, c := range []struct {
		name string
		set  func(int) error
		opt  int
	}{
		{"stream read", s.SetReadBuffer, syscall.SO_RCVBUF},
		{"stream write", s.SetWriteBuffer, syscall.SO_SNDBUF},
		{"udp read", u.SetReadBuffer, syscall.SO_RCVBUF},
		{"udp write", u.SetWriteBuffer, syscall.SO_SNDBUF},
	} {
		var conn syscall.Conn = s
		if c.name[0] == 'u' {
			conn = u
		}
		const n = 96 << 10
		if err := c.set(n); err != nil {
			t.Fatalf("%s buffer: %v", c.name, err)
		}
		got := getInt(t, conn, syscall.SOL_SOCKET, c.opt)
		want := n
		if runtime.GOOS == "linux" {
			want = 2 * n // Linux doubles it for its bookkeeping
		}
		if got != want {
			t.Errorf("%s buffer %d: getsockopt says %d, want %d", c.name, n, got, want)
		}
		if err := c.set(-1); !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("%s buffer -1: %v, want ErrInvalidArgument", c.name, err)
		}
	}

	ln, err := ListenTCP("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	for name, f := range map[string]func() error{"stream": s.TakeError, "listener": ln.TakeError, "udp": u.TakeError} {
		if err := f(); err != nil {
			t.Errorf("TakeError of a healthy %s: %v", name, err)
		}
	}
	if got := getInt(t, ln, syscall.SOL_SOCKET, soAcceptConn); got == 0 {
		t.Error("the listener's SyscallConn: SO_ACCEPTCONN is 0")
	}
	if runtime.GOOS == "windows" {
		if got := getInt(t, ln, syscall.SOL_SOCKET, soExclusiveAddr()); got == 0 {
			t.Error("a Windows listener without SO_EXCLUSIVEADDRUSE")
		}
	} else if got := getInt(t, ln, syscall.SOL_SOCKET, syscall.SO_REUSEADDR); got == 0 {
		t.Error("a Unix listener without SO_REUSEADDR")
	}
}

func TestSyscallConnRawConn(t *testing.T) {
	checkLeaks(t)
	p := newPoll(t)
	a, b := ownPair(t, p)
	raw, err := a.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	// Read runs its function once, and not done is ErrWouldBlock.
	calls := 0
	if err := raw.Read(func(fd uintptr) bool { calls++; return false }); !errors.Is(err, ErrWouldBlock) || calls != 1 {
		t.Errorf("Read with a function not done: %v after %d calls, want ErrWouldBlock after 1", err, calls)
	}
	calls = 0
	if err := raw.Write(func(fd uintptr) bool { calls++; return true }); err != nil || calls != 1 {
		t.Errorf("Write with a function done: %v after %d calls", err, calls)
	}
	// After a not-done Read the Poll brings the next Readable (Windows re-arms).
	if _, err := b.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	events := NewEvents(8)
	waitEvent(t, p, events, 1, readable)
	var got [4]byte
	var n int
	if err := raw.Read(func(fd uintptr) bool {
		var e error
		n, e = sysRead(fd, got[:])
		return e == nil
	}); err != nil || n != 1 || got[0] != 'x' {
		t.Errorf("raw Read: %d bytes %q, %v", n, got[:n], err)
	}
	if err := raw.Control(nil); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("Control(nil): %v", err)
	}
	a.Close()
	if err := raw.Control(func(uintptr) { t.Error("Control ran after Close") }); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Control after Close: %v, want net.ErrClosed", err)
	}
	if _, err := a.SyscallConn(); !errors.Is(err, net.ErrClosed) {
		t.Errorf("SyscallConn after Close: %v", err)
	}
}

func TestListenConfigControlBacklog(t *testing.T) {
	checkLeaks(t)
	var gotNet, gotAddr string
	bound := true
	lc := ListenConfig{Backlog: 3, Control: func(network, address string, c syscall.RawConn) error {
		gotNet, gotAddr = network, address
		return c.Control(func(fd uintptr) {
			sa, err := sysGetsockname(fd)
			bound = err == nil && sockPort(sa) != 0
			sysSetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_RCVBUF, 40<<10)
		})
	}}
	ln, err := lc.ListenTCP("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if gotNet != "tcp4" || gotAddr != "127.0.0.1:0" || bound {
		t.Errorf("Control saw %q %q, bound %v; want tcp4 127.0.0.1:0 before bind", gotNet, gotAddr, bound)
	}
	if got := getInt(t, ln, syscall.SOL_SOCKET, syscall.SO_RCVBUF); got < 40<<10 {
		t.Errorf("Control's SO_RCVBUF: %d", got)
	}
	// The listener works with its backlog of 3.
	c, err := net.Dial("tcp4", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c.Close()

	u, err := lc.ListenUDP("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u.Close()
	if gotNet != "udp4" {
		t.Errorf("ListenUDP's Control saw %q", gotNet)
	}

	boom := errors.New("boom")
	lc.Control = func(string, string, syscall.RawConn) error { return boom }
	if _, err := lc.ListenTCP("tcp4", "127.0.0.1:0"); !errors.Is(err, boom) {
		t.Errorf("a failing Control: %v", err)
	}
	if _, err := (&ListenConfig{Backlog: -1}).ListenTCP("tcp4", "127.0.0.1:0"); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("Backlog -1: %v", err)
	}
}

func sockPort(sa syscall.Sockaddr) int {
	switch sa := sa.(type) {
	case *syscall.SockaddrInet4:
		return sa.Port
	case *syscall.SockaddrInet6:
		return sa.Port
	}
	return 0
}

// ReusePort: two listeners on one port share it; on Linux 200 connections
// spread over both and none is refused. Windows refuses the option.
func TestListenConfigReusePort(t *testing.T) {
	checkLeaks(t)
	lc := ListenConfig{ReusePort: true}
	ln1, err := lc.ListenTCP("tcp4", "127.0.0.1:0")
	if runtime.GOOS == "windows" {
		if !errors.Is(err, errors.ErrUnsupported) {
			t.Fatalf("ReusePort on Windows: %v, want ErrUnsupported", err)
		}
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	defer ln1.Close()
	ln2, err := lc.ListenTCP("tcp4", ln1.Addr().String())
	if err != nil {
		t.Fatalf("a second listener on %v: %v", ln1.Addr(), err)
	}
	defer ln2.Close()
	if got := getInt(t, ln2, syscall.SOL_SOCKET, soReusePort); got == 0 {
		t.Error("SO_REUSEPORT reads back 0")
	}
	if _, err := ListenTCP("tcp4", ln1.Addr().String()); err == nil {
		t.Error("a listener without ReusePort bound the shared port")
	}
	p := newPoll(t)
	for i, ln := range []*TCPListener{ln1, ln2} {
		if err := p.Registry().Register(ln, Token(i), Readable); err != nil {
			t.Fatal(err)
		}
	}
	const conns = 200
	dialed := make(chan error, 1)
	go func() {
		for i := 0; i < conns; i++ {
			c, err := net.Dial("tcp4", ln1.Addr().String())
			if err != nil {
				dialed <- fmt.Errorf("connection %d: %w", i, err)
				return
			}
			c.Close()
		}
		dialed <- nil
	}()
	var per [2]int
	events := NewEvents(16)
	deadline := time.Now().Add(eventTimeout)
	for per[0]+per[1] < conns && time.Now().Before(deadline) {
		if err := p.Wait(events, 100*time.Millisecond); err != nil {
			t.Fatal(err)
		}
		for i, ln := range []*TCPListener{ln1, ln2} {
			for {
				s, _, err := ln.Accept()
				if err != nil {
					break
				}
				s.Close()
				per[i]++
			}
		}
	}
	if err := <-dialed; err != nil {
		t.Fatal(err)
	}
	t.Logf("%d connections: %d and %d", conns, per[0], per[1])
	if per[0]+per[1] != conns {
		t.Fatalf("accepted %d of %d", per[0]+per[1], conns)
	}
	if (runtime.GOOS == "linux" || runtime.GOOS == "dragonfly" || runtime.GOOS == "freebsd") && (per[0] == 0 || per[1] == 0) {
		t.Errorf("connections not spread: %d and %d", per[0], per[1])
	}
}

func TestDialerLocalAddrControl(t *testing.T) {
	checkLeaks(t)
	p := newPoll(t)
	ln, err := ListenTCP("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if err := p.Registry().Register(ln, 9, Readable); err != nil {
		t.Fatal(err)
	}
	var gotNet, gotAddr string
	d := Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)}, Control: func(network, address string, c syscall.RawConn) error {
		gotNet, gotAddr = network, address
		return c.Control(func(fd uintptr) { sysSetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_KEEPALIVE, 1) })
	}}
	s, err := d.DialTCP("tcp4", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if gotNet != "tcp4" || gotAddr != ln.Addr().String() {
		t.Errorf("Control saw %q %q, want tcp4 %v", gotNet, gotAddr, ln.Addr())
	}
	if err := p.Registry().Register(s, 1, Writable); err != nil {
		t.Fatal(err)
	}
	b := acceptPolled(t, p, ln, 9)
	defer b.Close()
	if getInt(t, s, syscall.SOL_SOCKET, syscall.SO_KEEPALIVE) == 0 {
		t.Error("the Control's SO_KEEPALIVE is gone")
	}
	if la, ok := s.LocalAddr().(*net.TCPAddr); !ok || !la.IP.Equal(net.IPv4(127, 0, 0, 1)) || la.Port == 0 {
		t.Errorf("LocalAddr %v", s.LocalAddr())
	}
	if ra := b.RemoteAddr().String(); ra != s.LocalAddr().String() {
		t.Errorf("the peer sees %v, the stream is %v", ra, s.LocalAddr())
	}

	for _, la := range []net.Addr{&net.UDPAddr{}, (*net.TCPAddr)(nil)} {
		if _, err := (&Dialer{LocalAddr: la}).DialTCP("tcp4", ln.Addr().String()); !errors.Is(err, ErrInvalidAddress) {
			t.Errorf("LocalAddr %#v: %v, want ErrInvalidAddress", la, err)
		}
	}
	if _, err := (&Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)}}).DialTCP("tcp6", "[::1]:1"); !errors.Is(err, ErrInvalidAddress) {
		t.Errorf("an IPv4 LocalAddr for tcp6: %v, want ErrInvalidAddress", err)
	}
	boom := errors.New("boom")
	if _, err := (&Dialer{Control: func(string, string, syscall.RawConn) error { return boom }}).DialTCP("tcp4", ln.Addr().String()); !errors.Is(err, boom) {
		t.Errorf("a failing Control: %v", err)
	}
}

// Dual stack: "tcp" and "udp" with an empty host or "[::]" take IPv4 and
// IPv6 clients where the OS allows (dualStackSupported), as package net.
func TestDualStack(t *testing.T) {
	checkLeaks(t)
	dual := dualStackSupported()
	t.Logf("dual stack: %v", dual)
	for _, addr := range []string{":0", "[::]:0"} {
		ln, err := ListenTCP("tcp", addr)
		if err != nil {
			if addr == "[::]:0" && !dual {
				t.Logf("tcp %s: %v (no IPv6)", addr, err)
				continue
			}
			t.Fatalf("tcp %s: %v", addr, err)
		}
		port := ln.Addr().(*net.TCPAddr).Port
		v6 := ln.Addr().(*net.TCPAddr).IP.To4() == nil
		if v6 != dual {
			t.Errorf("tcp %s: bound %v, dual stack %v", addr, ln.Addr(), dual)
		}
		for _, c := range []struct{ net, host string }{{"tcp4", "127.0.0.1"}, {"tcp6", "::1"}} {
			want := c.net == "tcp4" || v6
			if !dual && addr == ":0" {
				want = c.net == "tcp4"
			}
			conn, err := net.Dial(c.net, net.JoinHostPort(c.host, fmt.Sprint(port)))
			if (err == nil) != want {
				t.Errorf("tcp %s: dialing %s: %v (want success: %v)", addr, c.host, err, want)
			}
			if err == nil {
				conn.Close()
			}
		}
		ln.Close()
	}
	u, err := ListenUDP("udp", ":0")
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	if v6 := u.LocalAddr().(*net.UDPAddr).IP.To4() == nil; v6 != dual {
		t.Errorf("udp :0 bound %v, dual stack %v", u.LocalAddr(), dual)
	}
	// An IPv4 peer of ours reaches it, and it answers.
	peer := listenUDP(t)
	defer peer.Close()
	port := u.LocalAddr().(*net.UDPAddr).Port
	p := newPoll(t)
	if err := p.Registry().Register(u, 1, Readable); err != nil {
		t.Fatal(err)
	}
	if err := p.Registry().Register(peer, 2, Readable); err != nil {
		t.Fatal(err)
	}
	if _, err := peer.WriteTo([]byte("ping"), &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port}); err != nil {
		t.Fatal(err)
	}
	from := readDatagram(t, p, u, 1)
	if _, err := u.WriteTo([]byte("pong"), from); err != nil {
		t.Fatalf("answering %v: %v", from, err)
	}
	readDatagram(t, p, peer, 2)
}

// readDatagram waits for one datagram on a registered UDP socket and
// returns its sender.
func readDatagram(t *testing.T, p *Poll, u *UDPSocket, token Token) net.Addr {
	t.Helper()
	buf := make([]byte, 64)
	events := NewEvents(8)
	for {
		n, from, err := u.ReadFrom(buf)
		switch {
		case err == nil && n > 0:
			return from
		case err != nil && !errors.Is(err, ErrWouldBlock):
			t.Fatal(err)
		}
		waitEvent(t, p, events, token, readable)
	}
}

// registerAdopted registers an adopted package-net socket. On a Poll
// forced onto Windows' overlapped engine it checks the documented
// ErrBoundElsewhere instead (the duplicate is bound to the runtime's port)
// and returns false.
func registerAdopted(t *testing.T, p *Poll, src Source, token Token, interest Interest) bool {
	t.Helper()
	err := p.Registry().Register(src, token, interest)
	if forcedOverlapped(p) {
		if !errors.Is(err, ErrBoundElsewhere) {
			t.Fatalf("Register on a forced overlapped engine: %v, want ErrBoundElsewhere", err)
		}
		return false
	}
	if err != nil {
		t.Fatal(err)
	}
	return true
}

// A net.TCPConn adopted mid-conversation carries on, no byte lost: what
// the peer sent before the adoption and nobody read yet comes out of the
// adopted stream, then the rest.
func TestTCPStreamFromMidConversation(t *testing.T) {
	checkLeaks(t)
	ln := netListener(t)
	client, err := net.Dial("tcp4", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	server, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	data := make([]byte, 200<<10)
	for i := range data {
		data[i] = byte(i * 7)
	}
	// The first part is read through package net, the second sits unread.
	if _, err := client.Write(data[:1000]); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(server, make([]byte, 400)); err != nil {
		t.Fatal(err)
	}
	s, err := TCPStreamFrom(server.(*net.TCPConn))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.RemoteAddr().String() != client.LocalAddr().String() {
		t.Errorf("RemoteAddr %v, want %v", s.RemoteAddr(), client.LocalAddr())
	}
	// The original stays the caller's: closing it leaves the adopted one.
	server.Close()
	p := newPoll(t)
	if !registerAdopted(t, p, s, 1, Readable|Writable) {
		return
	}
	sent := make(chan error, 1)
	go func() {
		_, err := client.Write(data[1000:])
		sent <- err
	}()
	got := readN(t, p, s, 1, len(data)-400)
	if !bytes.Equal(got, data[400:]) {
		t.Fatal("the adopted stream lost or reordered bytes")
	}
	if err := <-sent; err != nil {
		t.Fatal(err)
	}
	if _, err := s.Write([]byte("done")); err != nil {
		t.Fatal(err)
	}
	reply := make([]byte, 4)
	if _, err := io.ReadFull(client, reply); err != nil || string(reply) != "done" {
		t.Fatalf("the client read %q, %v", reply, err)
	}
}

func TestListenerAndUDPFrom(t *testing.T) {
	checkLeaks(t)
	p := newPoll(t)
	// A UDP socket of ours (package net's UDP fails under Wine 8, and any
	// syscall.Conn will do).
	orig := listenUDP(t)
	defer orig.Close()
	u, err := UDPSocketFrom(orig)
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	if u.LocalAddr().String() != orig.LocalAddr().String() {
		t.Errorf("LocalAddr %v, want %v", u.LocalAddr(), orig.LocalAddr())
	}
	orig.Close()
	peer := listenUDP(t)
	defer peer.Close()
	if err := p.Registry().Register(u, 1, Readable); err != nil {
		t.Fatal(err)
	}
	if _, err := peer.WriteTo([]byte("hi"), u.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	readDatagram(t, p, u, 1)

	nln := netListener(t)
	ln, err := TCPListenerFrom(nln.(*net.TCPListener))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if ln.Addr().String() != nln.Addr().String() {
		t.Errorf("Addr %v, want %v", ln.Addr(), nln.Addr())
	}
	if !registerAdopted(t, p, ln, 9, Readable) {
		return
	}
	c, err := net.Dial("tcp4", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	acceptPolled(t, p, ln, 9).Close()
}

func TestAdoptWrongType(t *testing.T) {
	checkLeaks(t)
	nln := netListener(t)
	stream, peer := streamPair(t)
	defer peer.Close()
	u := listenUDP(t)
	defer u.Close()
	ln, err := ListenTCP("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	cases := []struct {
		name string
		f    func() error
	}{
		{"TCPStreamFrom a net listener", func() error { _, err := TCPStreamFrom(nln.(*net.TCPListener)); return err }},
		{"TCPStreamFrom a listener of ours", func() error { _, err := TCPStreamFrom(ln); return err }},
		{"TCPStreamFrom a UDP socket", func() error { _, err := TCPStreamFrom(u); return err }},
		{"TCPListenerFrom a stream", func() error { _, err := TCPListenerFrom(stream); return err }},
		{"TCPListenerFrom a UDP socket", func() error { _, err := TCPListenerFrom(u); return err }},
		{"UDPSocketFrom a stream", func() error { _, err := UDPSocketFrom(stream); return err }},
		{"UDPSocketFrom a listener", func() error { _, err := UDPSocketFrom(ln); return err }},
	}
	cases = append(cases, wrongTypeCases(t)...)
	for _, c := range cases {
		if err := c.f(); !errors.Is(err, ErrInvalidAddress) {
			t.Errorf("%s: %v, want ErrInvalidAddress", c.name, err)
		}
	}
}

// CloseRead: the stream's Read and Peek say io.EOF, a Readable event comes;
// its writes still go out, and the peer sees no end of stream.
func TestCloseRead(t *testing.T) {
	checkLeaks(t)
	p := newPoll(t)
	a, b := ownPair(t, p)
	if err := a.CloseRead(); err != nil {
		t.Fatal(err)
	}
	events := NewEvents(8)
	ev := waitEvent(t, p, events, 1, readable)
	t.Logf("after CloseRead: %+v read-closed %v", ev, ev.IsReadClosed())
	buf := make([]byte, 8)
	if n, err := a.Read(buf); n != 0 || err != io.EOF {
		t.Errorf("Read after CloseRead: %d, %v; want io.EOF", n, err)
	}
	if n, err := a.Peek(buf); n != 0 || err != io.EOF {
		t.Errorf("Peek after CloseRead: %d, %v; want io.EOF", n, err)
	}
	// The other direction is untouched.
	if _, err := a.Write([]byte("still")); err != nil {
		t.Fatal(err)
	}
	if got := readN(t, p, b, 2, 5); string(got) != "still" {
		t.Errorf("the peer read %q", got)
	}
	// The peer sees no end of stream: nothing to read, not EOF.
	if _, err := b.Read(buf); !errors.Is(err, ErrWouldBlock) {
		t.Errorf("the peer's Read: %v, want ErrWouldBlock (no FIN)", err)
	}
	// Data the peer sends after CloseRead: its write succeeds (the OS
	// answers later, if at all). Linux still queues it for Read, then
	// io.EOF again; the BSDs discard it; Winsock may reset the connection.
	if _, err := b.Write([]byte("late")); err != nil {
		t.Fatalf("the peer's write after CloseRead: %v", err)
	}
	got := make([]byte, 0, 8)
	deadline := time.Now().Add(eventTimeout)
	for {
		n, err := a.Read(buf)
		got = append(got, buf[:n]...)
		if err == nil && time.Now().Before(deadline) {
			continue
		}
		t.Logf("after the peer's late data: read %q, then %v", got, err)
		switch {
		case runtime.GOOS == "linux" && (string(got) != "late" || err != io.EOF):
			t.Errorf("Linux: read %q then %v, want \"late\" then io.EOF", got, err)
		case runtime.GOOS != "linux" && (len(got) != 0 || (err != io.EOF && !errors.Is(err, syscall.ECONNRESET))):
			t.Errorf("read %q then %v, want nothing and io.EOF (or a reset)", got, err)
		}
		break
	}
	// Twice is fine on every OS.
	if err := a.CloseRead(); err != nil && runtime.GOOS != "windows" {
		t.Errorf("CloseRead twice: %v", err)
	}
	a.Close()
	if err := a.CloseRead(); !errors.Is(err, net.ErrClosed) {
		t.Errorf("CloseRead after Close: %v", err)
	}
}

func TestPeek(t *testing.T) {
	checkLeaks(t)
	p := newPoll(t)
	a, b := ownPair(t, p)
	buf := make([]byte, 16)
	if _, err := a.Peek(buf); !errors.Is(err, ErrWouldBlock) {
		t.Fatalf("Peek with nothing there: %v, want ErrWouldBlock", err)
	}
	events := NewEvents(8)
	// The would-block Peek re-armed Readable: data brings an event.
	if _, err := b.Write([]byte("abc")); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, p, events, 1, readable)
	for i := 0; i < 2; i++ {
		if n, err := a.Peek(buf); err != nil || string(buf[:n]) != "abc" {
			t.Fatalf("Peek %d: %q, %v", i, buf[:n], err)
		}
	}
	if n, err := a.Read(buf); err != nil || string(buf[:n]) != "abc" {
		t.Fatalf("Read after Peek: %q, %v", buf[:n], err)
	}
	if _, err := a.Peek(buf); !errors.Is(err, ErrWouldBlock) {
		t.Fatalf("Peek after Read: %v, want ErrWouldBlock", err)
	}
	if _, err := b.Write([]byte("d")); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, p, events, 1, readable)
	if n, err := a.Peek(buf); err != nil || string(buf[:n]) != "d" {
		t.Fatalf("Peek of the second write: %q, %v", buf[:n], err)
	}
	a.Read(buf)
	if err := b.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(eventTimeout)
	for {
		_, err := a.Peek(buf)
		if err == io.EOF {
			break
		}
		if !errors.Is(err, ErrWouldBlock) || time.Now().After(deadline) {
			t.Fatalf("Peek after the peer's CloseWrite: %v, want io.EOF", err)
		}
		waitEvent(t, p, events, 1, readable)
	}
}

// Writev: all bytes arrive in order; a full socket gives the count so far
// with ErrWouldBlock; resuming from that byte loses nothing.
func TestWritevCounts(t *testing.T) {
	checkLeaks(t)
	p := newPoll(t)
	a, b := ownPair(t, p)
	if n, err := a.Writev(nil); n != 0 || err != nil {
		t.Errorf("Writev(nil): %d, %v", n, err)
	}
	if n, err := a.Writev([][]byte{{}, nil, {}}); n != 0 || err != nil {
		t.Errorf("Writev of empty buffers: %d, %v", n, err)
	}
	// 150 buffers (more than one system call takes), of varied sizes with
	// empty ones between, 8 MB in all: more than the socket buffers hold.
	var bufs [][]byte
	var want []byte
	for i := 0; len(want) < 8<<20; i++ {
		n := (i * 7919) % (120 << 10)
		if i%5 == 0 {
			n = 0
		}
		buf := make([]byte, n)
		for j := range buf {
			buf[j] = byte(i + j)
		}
		bufs = append(bufs, buf)
		want = append(want, buf...)
	}
	done := make(chan []byte, 1)
	pb := newPoll(t)
	if err := p.Registry().Deregister(b); err != nil {
		t.Fatal(err)
	}
	if err := pb.Registry().Register(b, 2, Readable); err != nil {
		if !errors.Is(err, ErrBoundElsewhere) {
			t.Fatal(err)
		}
		pb = nil
	}
	rest := bufs
	var total int64
	wouldBlock := 0
	events := NewEvents(8)
	// With a reader of its own (pb), small socket buffers, and the reader
	// starts only once the socket is full: the writer meets would-block
	// however fast the reader runs (loopback buffers grow to megabytes,
	// more than 8 MB on Linux). With one Poll for both ends (the overlapped
	// engine binds b to p for good), the loop below drains b only between
	// would-blocks, which the default buffers leave room for; and there
	// every Writev with a send in flight is a would-block.
	if pb != nil {
		if err := a.SetWriteBuffer(64 << 10); err != nil {
			t.Fatal(err)
		}
		if err := b.SetReadBuffer(64 << 10); err != nil {
			t.Fatal(err)
		}
	}
	reading := false
	startReader := func() {
		if pb != nil && !reading {
			reading = true
			go func() { done <- readAllQuiet(pb, b, len(want)) }()
		}
	}
	if pb == nil {
		if err := p.Registry().Register(b, 2, Readable); err != nil {
			t.Fatal(err)
		}
	}
	var got []byte
	for len(rest) > 0 {
		n, err := a.Writev(rest)
		total += n
		rest = skipBytes(rest, n)
		switch {
		case err == nil:
			if len(rest) != 0 && totalLen(rest) != 0 {
				t.Fatalf("Writev returned nil with %d bytes left", totalLen(rest))
			}
			rest = nil
		case errors.Is(err, ErrWouldBlock):
			wouldBlock++
			startReader()
			if pb == nil {
				// One Poll for both ends: drain the peer in between.
				got = append(got, drainNow(b)...)
			}
			waitEvent(t, p, events, 1, writable)
		default:
			t.Fatalf("Writev after %d bytes: %v", total, err)
		}
	}
	if pb != nil {
		startReader()
		got = <-done
	} else {
		got = append(got, readN(t, p, b, 2, len(want)-len(got))...)
	}
	if total != int64(len(want)) || !bytes.Equal(got, want) {
		t.Fatalf("wrote %d of %d bytes, peer got %d (equal %v)", total, len(want), len(got), bytes.Equal(got, want))
	}
	if wouldBlock == 0 {
		t.Error("8 MB never filled the socket: no ErrWouldBlock seen")
	}
	t.Logf("%d buffers, %d bytes, %d would-blocks", len(bufs), total, wouldBlock)
}

func totalLen(bufs [][]byte) int {
	n := 0
	for _, b := range bufs {
		n += len(b)
	}
	return n
}

// skipBytes drops the first n bytes of bufs (the caller's part of Writev's
// contract: resume from the byte after the count).
func skipBytes(bufs [][]byte, n int64) [][]byte {
	for len(bufs) > 0 && n >= int64(len(bufs[0])) {
		n -= int64(len(bufs[0]))
		bufs = bufs[1:]
	}
	if len(bufs) > 0 && n > 0 {
		bufs = append([][]byte{bufs[0][n:]}, bufs[1:]...)
	}
	return bufs
}

// drainNow reads what a stream has now.
func drainNow(s *TCPStream) []byte {
	var out []byte
	buf := make([]byte, 256<<10)
	for {
		n, err := s.Read(buf)
		out = append(out, buf[:n]...)
		if err != nil || n == 0 {
			return out
		}
	}
}

// readAllQuiet is readAll for a goroutine: n bytes or what came in 20 s.
func readAllQuiet(p *Poll, s *TCPStream, n int) []byte {
	events := NewEvents(8)
	got := make([]byte, 0, n)
	buf := make([]byte, 256<<10)
	deadline := time.Now().Add(eventTimeout)
	for len(got) < n && time.Now().Before(deadline) {
		k, err := s.Read(buf)
		got = append(got, buf[:k]...)
		if errors.Is(err, ErrWouldBlock) {
			p.Wait(events, 100*time.Millisecond)
		} else if err != nil {
			return got
		}
	}
	return got
}

// Writev allocates nothing, up to 64 buffers and beyond.
func TestWritevAllocs(t *testing.T) {
	p := newPoll(t)
	a, b := ownPair(t, p)
	for _, nbufs := range []int{1, 2, 16, 64, 65, 130} {
		bufs := make([][]byte, nbufs)
		for i := range bufs {
			bufs[i] = []byte("0123456789abcdef")[:1+i%16]
		}
		size := totalLen(bufs)
		sink := make([]byte, size)
		var failed error
		allocs := testing.AllocsPerRun(50, func() {
			n, err := a.Writev(bufs)
			if err != nil || n != int64(size) {
				failed = fmt.Errorf("Writev: %d of %d, %v", n, size, err)
				return
			}
			// Take it out at the other end, so the socket never fills.
			for got := 0; got < size; {
				k, err := b.Read(sink[got:])
				if err != nil && !errors.Is(err, ErrWouldBlock) {
					failed = err
					return
				}
				got += k
			}
		})
		if failed != nil {
			t.Fatalf("%d buffers: %v", nbufs, failed)
		}
		if allocs != 0 {
			t.Errorf("Writev of %d buffers: %v allocations per call, want 0", nbufs, allocs)
		}
	}
}
