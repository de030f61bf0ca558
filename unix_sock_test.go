package poller

import (
	"errors"
	"io"
	"net"
	"os"
	"runtime"
	"syscall"
	"testing"
)

// The socket control methods on Unix streams: SyscallConn, TakeError,
// Writev, Peek, CloseRead and the buffer sizes, as on TCP.
func TestUnixStreamSocketControl(t *testing.T) {
	checkLeaks(t)
	f := newFixture(t)
	p, events := f.p, f.events
	client, server := unixPair(t, p, events, listenUnix(t, "unix"))
	raw, err := client.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var fd uintptr
	if err := raw.Control(func(h uintptr) { fd = h }); err != nil || fd != client.sock.fd {
		t.Fatalf("Control: handle %d, %v; want %d", fd, err, client.sock.fd)
	}
	if err := client.TakeError(); err != nil {
		t.Fatalf("TakeError of a healthy stream: %v", err)
	}
	if n, err := client.Writev([][]byte{[]byte("ab"), nil, []byte("cd"), []byte("e")}); n != 5 || err != nil {
		t.Fatalf("Writev = %d, %v", n, err)
	}
	waitEvent(t, p, events, 3, readable)
	buf := make([]byte, 16)
	if n, err := server.Peek(buf); err != nil || string(buf[:n]) != "abcde" {
		t.Fatalf("Peek = %q, %v", buf[:n], err)
	}
	if got := f.read(server, 3, 5); string(got) != "abcde" {
		t.Fatalf("read %q after Peek, want abcde", got)
	}
	if err := server.SetReadBuffer(1 << 16); err != nil {
		t.Fatal(err)
	}
	if err := server.SetWriteBuffer(-1); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("SetWriteBuffer(-1) = %v, want ErrInvalidArgument", err)
	}
	if err := server.CloseRead(); err != nil {
		t.Fatal(err)
	}
	if n, err := server.Read(buf); n != 0 || err != io.EOF {
		t.Fatalf("Read after CloseRead = %d, %v; want io.EOF", n, err)
	}
	f.writeAll(server, 3, []byte("still"))
	if got := f.read(client, 2, 5); string(got) != "still" {
		t.Fatalf("the client read %q after the server's CloseRead", got)
	}
}

// On "unixpacket" one Writev is one message.
func TestUnixPacketWritev(t *testing.T) {
	checkLeaks(t)
	f := newFixture(t)
	p, events := f.p, f.events
	client, server := unixPair(t, p, events, listenUnix(t, "unixpacket"))
	for _, m := range [][][]byte{{[]byte("he"), []byte("ad"), []byte("er")}, {[]byte("body")}} {
		if _, err := client.Writev(m); err != nil {
			t.Fatal(err)
		}
	}
	buf := make([]byte, 64)
	for _, want := range []string{"header", "body"} {
		for {
			n, err := server.Read(buf)
			if errors.Is(err, ErrWouldBlock) {
				waitEvent(t, p, events, 3, readable)
				continue
			}
			if err != nil || string(buf[:n]) != want {
				t.Fatalf("Read = %q, %v; want the message %q", buf[:n], err, want)
			}
			break
		}
	}
}

// Adoption of package net's Unix sockets: the duplicate works on a Poll,
// the original stays usable, and an adopted listener or datagram socket
// never unlinks the path.
func TestUnixFrom(t *testing.T) {
	checkLeaks(t)
	path := unixPath(t)
	nl, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil && runtime.GOOS == "windows" {
		t.Skipf("the OS lacks unix sockets: net.ListenUnix: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer nl.Close()
	ln, err := UnixListenerFrom(nl)
	if err != nil {
		t.Fatal(err)
	}
	if ln.Addr().String() != path || ln.Addr().Network() != "unix" {
		t.Fatalf("adopted listener's Addr %v", ln.Addr())
	}
	f := newFixture(t)
	p, events := f.p, f.events
	if err := p.Registry().Register(ln, 1, Readable); err != nil {
		t.Fatal(err)
	}
	nc, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	waitEvent(t, p, events, 1, readable)
	srv, _, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	ln.Close()
	if _, err := os.Lstat(path); err != nil {
		t.Fatalf("Close of an adopted listener removed the path: %v", err)
	}
	// The client's side adopted too; the original closes, the duplicate
	// keeps the connection.
	cs, err := UnixStreamFrom(nc.(*net.UnixConn))
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	nc.Close()
	if cs.RemoteAddr() == nil || cs.RemoteAddr().String() != path {
		t.Fatalf("adopted stream's RemoteAddr %v, want %s", cs.RemoteAddr(), path)
	}
	if err := p.Registry().Register(cs, 2, Readable); err != nil {
		t.Fatal(err)
	}
	f.writeAll(srv, 0, []byte("to the adopted"))
	if got := f.read(cs, 2, 14); string(got) != "to the adopted" {
		t.Fatalf("adopted stream read %q", got)
	}

	gpath := unixPath(t)
	ng, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: gpath, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer ng.Close()
	g, err := UnixDatagramFrom(ng)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := g.WriteTo([]byte("self"), g.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	if n, from, err := ng.ReadFrom(make([]byte, 8)); n != 4 || err != nil || from.String() != gpath {
		t.Fatalf("the original read %d from %v, %v", n, from, err)
	}
	g.Close()
	if _, err := os.Lstat(gpath); err != nil {
		t.Fatalf("Close of an adopted datagram socket removed the path: %v", err)
	}

	// Wrong kinds.
	tl := netListener(t)
	tcp, peer := streamPair(t)
	defer peer.Close()
	ours := listenUnix(t, "unix")
	for name, f := range map[string]func() error{
		"UnixStreamFrom a TCP stream":       func() error { _, err := UnixStreamFrom(tcp); return err },
		"UnixStreamFrom a Unix listener":    func() error { _, err := UnixStreamFrom(ours); return err },
		"UnixListenerFrom a TCP listener":   func() error { _, err := UnixListenerFrom(tl.(*net.TCPListener)); return err },
		"UnixListenerFrom a Unix stream":    func() error { _, err := UnixListenerFrom(srv); return err },
		"UnixListenerFrom a datagram":       func() error { _, err := UnixListenerFrom(ng); return err },
		"UnixDatagramFrom a Unix stream":    func() error { _, err := UnixDatagramFrom(srv); return err },
		"TCPStreamFrom a Unix stream":       func() error { _, err := TCPStreamFrom(srv); return err },
		"TCPListenerFrom a Unix listener":   func() error { _, err := TCPListenerFrom(ours); return err },
		"UDPSocketFrom a Unix datagram":     func() error { _, err := UDPSocketFrom(ng); return err },
		"UnixDatagramFrom a TCP listener's": func() error { _, err := UnixDatagramFrom(tl.(*net.TCPListener)); return err },
	} {
		if err := f(); !errors.Is(err, ErrInvalidAddress) {
			t.Errorf("%s: %v, want ErrInvalidAddress", name, err)
		}
	}
}

// ListenConfig and Dialer options on Unix sockets: Control sees the
// network and path, Backlog and ReusePort are checked, LocalAddr binds the
// dialing side.
func TestUnixListenConfigDialer(t *testing.T) {
	checkLeaks(t)
	path := unixPath(t)
	var gotNet, gotPath string
	lc := &ListenConfig{Backlog: 8, Control: func(network, address string, c syscall.RawConn) error {
		gotNet, gotPath = network, address
		return nil
	}}
	ln, err := lc.ListenUnix("unix", path)
	if unixLacks(t, "unix", err) {
		t.Skipf("the OS lacks unix sockets: ListenUnix: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if gotNet != "unix" || gotPath != path {
		t.Fatalf("Control got %q %q, want unix %s", gotNet, gotPath, path)
	}
	if _, err := (&ListenConfig{Backlog: -1}).ListenUnix("unix", unixPath(t)); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("Backlog -1: %v, want ErrInvalidArgument", err)
	}
	if _, err := (&ListenConfig{ReusePort: true}).ListenUnix("unix", unixPath(t)); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("ReusePort: %v, want ErrInvalidArgument", err)
	}
	refused := errors.New("refused by Control")
	if _, err := (&ListenConfig{Control: func(string, string, syscall.RawConn) error { return refused }}).ListenUnix("unix", unixPath(t)); !errors.Is(err, refused) {
		t.Errorf("Control's error: %v", err)
	}
	local := unixPath(t)
	c, err := (&Dialer{LocalAddr: &net.UnixAddr{Name: local, Net: "unix"}}).DialUnix("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	defer os.Remove(local)
	s, remote, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if remote.String() != local || c.LocalAddr().String() != local {
		t.Errorf("with LocalAddr %s: the accepted stream's peer is %v, the dialed one's LocalAddr %v", local, remote, c.LocalAddr())
	}
	if _, err := (&Dialer{LocalAddr: &net.TCPAddr{}}).DialUnix("unix", path); !errors.Is(err, ErrInvalidAddress) {
		t.Errorf("Dialer with a TCP LocalAddr: %v, want ErrInvalidAddress", err)
	}
	if _, err := (&Dialer{Control: func(string, string, syscall.RawConn) error { return refused }}).DialUnix("unix", path); !errors.Is(err, refused) {
		t.Errorf("Dialer Control's error: %v", err)
	}
	if u, err := (*ListenConfig)(nil).ListenUnixgram(""); err == nil {
		u.Close()
	} else if !unixLacks(t, "unixgram", err) {
		t.Errorf("a nil ListenConfig's ListenUnixgram: %v", err)
	}
}
