package poller

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"
)

// Unix-domain sockets. Every test runs on every OS; on one that lacks the
// kind of socket a test needs (Windows without AF_UNIX, such as Wine 8;
// "unixpacket" on macOS and Windows; "unixgram" on Windows), the test
// skips, quoting the error that says so. TestUnixSupport checks those
// errors themselves, everywhere.

// unixPath returns a short path in a fresh directory (a Unix socket's path
// has at most about 100 bytes), removed at the end of the test.
func unixPath(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "pu")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return filepath.Join(dir, "s")
}

// unixLacks reports whether err says the OS lacks network, on an OS where
// that can be so; on any other, such an error fails the test.
func unixLacks(t testing.TB, network string, err error) bool {
	t.Helper()
	if !errors.Is(err, ErrUnixUnsupported) {
		return false
	}
	mayLack := runtime.GOOS == "windows" ||
		network == "unixpacket" && !unixPacketSupported ||
		network == "unixgram" && !unixgramSupported
	if !mayLack {
		t.Fatalf("%s on %s: %v", network, runtime.GOOS, err)
	}
	return true
}

// listenUnix listens on a fresh path, or skips where the OS lacks network.
func listenUnix(t testing.TB, network string) *UnixListener {
	t.Helper()
	return listenUnixAt(t, network, unixPath(t))
}

// listenUnixAt listens on path, or skips where the OS lacks network.
func listenUnixAt(t testing.TB, network, path string) *UnixListener {
	t.Helper()
	ln, err := ListenUnix(network, path)
	if unixLacks(t, network, err) {
		t.Skipf("the OS lacks %s sockets: ListenUnix: %v", network, err)
	}
	if err != nil {
		t.Fatalf("ListenUnix(%q, %q): %v", network, path, err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

// abstractName returns a name in Linux's abstract namespace, unique to
// this test and process.
func abstractName(t testing.TB) string {
	if !unixAbstractNames {
		t.Skipf("abstract socket names are Linux's; %s has none", runtime.GOOS)
	}
	return fmt.Sprintf("@poller-test-%d-%s", os.Getpid(), t.Name())
}

// listenUnixgram binds a datagram socket to a fresh path, or skips where
// the OS lacks them.
func listenUnixgram(t testing.TB, path string) *UnixDatagram {
	t.Helper()
	u, err := ListenUnixgram(path)
	if unixLacks(t, "unixgram", err) {
		t.Skipf("the OS lacks unixgram sockets: ListenUnixgram: %v", err)
	}
	if err != nil {
		t.Fatalf("ListenUnixgram(%q): %v", path, err)
	}
	t.Cleanup(func() { u.Close() })
	return u
}

// unixPair registers ln (token 1) and returns a dialed stream (registered
// for Readable|Writable, token 2) and the stream accepted for it
// (Readable, token 3). The client's first Writable may come with the
// listener's event, which waitEvent drops: the tests write without waiting
// for it (writeAll waits only when a Write would block).
func unixPair(t testing.TB, p *Poll, events *Events, ln *UnixListener) (client, server *UnixStream) {
	t.Helper()
	if err := p.Registry().Register(ln, 1, Readable); err != nil {
		t.Fatal(err)
	}
	client, err := DialUnix(ln.Addr().Network(), ln.Addr().String())
	if err != nil {
		t.Fatalf("DialUnix: %v", err)
	}
	t.Cleanup(func() { client.Close() })
	if err := p.Registry().Register(client, 2, Readable|Writable); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, p, events, 1, readable)
	server, addr, err := ln.Accept()
	if err != nil {
		t.Fatalf("Accept: %v", err)
	}
	t.Cleanup(func() { server.Close() })
	if addr == nil || addr != server.RemoteAddr() || addr.Network() != ln.Addr().Network() {
		t.Fatalf("Accept's address %v, RemoteAddr %v", addr, server.RemoteAddr())
	}
	if _, _, err := ln.Accept(); !errors.Is(err, ErrWouldBlock) {
		t.Fatalf("second Accept = %v, want ErrWouldBlock", err)
	}
	if err := p.Registry().Register(server, 3, Readable); err != nil {
		t.Fatal(err)
	}
	return client, server
}

// testUnixEcho sends a patterned 1 MiB through a Unix stream and back,
// with events only, and checks the addresses.
func testUnixEcho(t *testing.T, ln *UnixListener) {
	f := newFixture(t)
	p, events := f.p, f.events
	client, server := unixPair(t, p, events, ln)
	path := ln.Addr().String()
	if got := client.RemoteAddr(); got.String() != path || got.Network() != "unix" {
		t.Fatalf("client RemoteAddr %v (%s), want %s", got, got.Network(), path)
	}
	if got := server.LocalAddr(); got == nil || got.String() != path {
		t.Fatalf("server LocalAddr %v, want %s", got, path)
	}
	if client.LocalAddr() == nil {
		t.Fatal("client LocalAddr nil")
	}
	const n = 1 << 20
	msg := make([]byte, n)
	for i := range msg {
		msg[i] = byte(i * 7)
	}
	// One goroutine plays both ends: the client writes, the server echoes
	// what it reads, the client reads it back; each waits for its events.
	if err := p.Registry().Reregister(server, 3, Readable|Writable); err != nil {
		t.Fatal(err)
	}
	var echoed, got []byte
	buf := make([]byte, 32<<10)
	for len(got) < n {
		if len(msg) > 0 {
			w, err := client.Write(msg)
			msg = msg[w:]
			if err != nil && !errors.Is(err, ErrWouldBlock) {
				t.Fatalf("client Write: %v", err)
			}
		}
		for { // server: read, queue, write back
			r, err := server.Read(buf)
			echoed = append(echoed, buf[:r]...)
			if errors.Is(err, ErrWouldBlock) {
				break
			}
			if err != nil {
				t.Fatalf("server Read: %v", err)
			}
		}
		if len(echoed) > 0 {
			w, err := server.Write(echoed)
			echoed = echoed[w:]
			if err != nil && !errors.Is(err, ErrWouldBlock) {
				t.Fatalf("server Write: %v", err)
			}
		}
		for {
			r, err := client.Read(buf)
			got = append(got, buf[:r]...)
			if errors.Is(err, ErrWouldBlock) {
				break
			}
			if err != nil {
				t.Fatalf("client Read: %v", err)
			}
		}
		if len(got) < n {
			if err := p.Wait(events, eventTimeout); err != nil {
				t.Fatal(err)
			}
			if events.Len() == 0 {
				t.Fatalf("no event in %v with %d of %d bytes back", eventTimeout, len(got), n)
			}
		}
	}
	for i := range got {
		if got[i] != byte(i*7) {
			t.Fatalf("byte %d is %d, want %d", i, got[i], byte(i*7))
		}
	}
}

func TestUnixStreamEcho(t *testing.T) {
	checkLeaks(t)
	testUnixEcho(t, listenUnix(t, "unix"))
}

func TestUnixStreamEchoAbstract(t *testing.T) {
	ln := listenUnixAt(t, "unix", abstractName(t))
	if _, err := os.Lstat(ln.Addr().String()); err == nil {
		t.Fatalf("an abstract name made the file %s", ln.Addr())
	}
	testUnixEcho(t, ln)
}

// CloseWrite and Close of one end are Readable with ReadClosed and io.EOF
// at the other; the half-closed side still reads; Write after CloseWrite
// fails as on TCP.
func TestUnixStreamCloseWriteAndEOF(t *testing.T) {
	checkLeaks(t)
	f := newFixture(t)
	p, events := f.p, f.events
	client, server := unixPair(t, p, events, listenUnix(t, "unix"))
	f.writeAll(client, 2, []byte("request"))
	if err := client.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, p, events, 3, func(e Event) bool { return e.IsReadable() && e.IsReadClosed() })
	if got, err := f.readToEOF(server, 3); err != nil || string(got) != "request" {
		t.Fatalf("server read %q, %v; want request then EOF", got, err)
	}
	if _, err := client.Write([]byte("late")); !isWriteShutdown(err) {
		t.Fatalf("Write after CloseWrite = %v, want %v", err, errWriteShutdown)
	}
	f.writeAll(server, 3, []byte("reply"))
	if got := f.read(client, 2, 5); string(got) != "reply" {
		t.Fatalf("client read %q after its CloseWrite, want reply", got)
	}
	if err := server.Close(); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, p, events, 2, func(e Event) bool { return e.IsReadClosed() })
	if rest, err := f.readToEOF(client, 2); err != nil || len(rest) != 0 {
		t.Fatalf("after the server's Close: %q, %v; want io.EOF", rest, err)
	}
}

// "unixpacket" keeps message boundaries: each Read returns one message,
// and a short buffer cuts it (the rest is dropped).
func TestUnixPacketBoundaries(t *testing.T) {
	checkLeaks(t)
	f := newFixture(t)
	p, events := f.p, f.events
	client, server := unixPair(t, p, events, listenUnix(t, "unixpacket"))
	if got := client.RemoteAddr().Network(); got != "unixpacket" {
		t.Fatalf("network %q", got)
	}
	msgs := []string{"one", "two two", "three three three", "four"}
	for _, m := range msgs {
		f.writeAll(client, 2, []byte(m))
	}
	buf := make([]byte, 64)
	for i, m := range msgs {
		if i == len(msgs)-1 {
			buf = buf[:2] // the last message is cut to the buffer
			m = m[:2]
		}
		for {
			n, err := server.Read(buf)
			if errors.Is(err, ErrWouldBlock) {
				waitEvent(t, p, events, 3, readable)
				continue
			}
			if err != nil || string(buf[:n]) != m {
				t.Fatalf("Read %d = %q, %v; want %q", i, buf[:n], err, m)
			}
			break
		}
	}
	if n, err := server.Read(buf); !errors.Is(err, ErrWouldBlock) {
		t.Fatalf("Read after the messages = %d, %v; want ErrWouldBlock (the cut rest is dropped)", n, err)
	}
	client.Close()
	if rest, err := f.readToEOF(server, 3); err != nil || len(rest) != 0 {
		t.Fatalf("after the client's Close: %q, %v; want io.EOF", rest, err)
	}
}

func TestUnixgramReadFromWriteTo(t *testing.T) {
	checkLeaks(t)
	testUnixgram(t, unixPath(t), unixPath(t))
}

func TestUnixgramAbstract(t *testing.T) {
	testUnixgram(t, abstractName(t)+"-a", abstractName(t)+"-b")
}

func testUnixgram(t *testing.T, pathA, pathB string) {
	a := listenUnixgram(t, pathA)
	b := listenUnixgram(t, pathB)
	f := newFixture(t)
	p, events := f.p, f.events
	if err := p.Registry().Register(b, 2, Readable); err != nil {
		t.Fatal(err)
	}
	if got := a.LocalAddr(); got == nil || got.String() != pathA || got.Network() != "unixgram" {
		t.Fatalf("LocalAddr %v, want unixgram %s", got, pathA)
	}
	bAddr := b.LocalAddr()
	for _, m := range []string{"alpha", "beta", ""} {
		if n, err := a.WriteTo([]byte(m), bAddr); n != len(m) || err != nil {
			t.Fatalf("WriteTo(%q) = %d, %v", m, n, err)
		}
	}
	buf := make([]byte, 64)
	for _, m := range []string{"alpha", "beta", ""} {
		var n int
		var from net.Addr
		var err error
		for {
			n, from, err = b.ReadFrom(buf)
			if !errors.Is(err, ErrWouldBlock) {
				break
			}
			waitEvent(t, p, events, 2, readable)
		}
		if err != nil || string(buf[:n]) != m || from == nil || from.String() != pathA {
			t.Fatalf("ReadFrom = %q from %v, %v; want %q from %s", buf[:n], from, err, m, pathA)
		}
	}
	// The answer, with the *net.UnixAddr methods; a datagram longer than
	// the buffer is cut.
	if _, err := b.WriteToUnix([]byte("reply-long"), &net.UnixAddr{Name: pathA, Net: "unixgram"}); err != nil {
		t.Fatal(err)
	}
	if err := p.Registry().Register(a, 1, Readable); err != nil {
		t.Fatal(err)
	}
	var n int
	var from *net.UnixAddr
	var err error
	for {
		n, from, err = a.ReadFromUnix(buf[:5])
		if !errors.Is(err, ErrWouldBlock) {
			break
		}
		waitEvent(t, p, events, 1, readable)
	}
	if err != nil || string(buf[:n]) != "reply" || from == nil || from.Name != pathB {
		t.Fatalf("ReadFromUnix = %q from %v, %v", buf[:n], from, err)
	}
	if _, _, err := a.ReadFromUnix(buf); !errors.Is(err, ErrWouldBlock) {
		t.Fatalf("ReadFromUnix after the cut datagram = %v, want ErrWouldBlock", err)
	}
	// An unbound sender has no address.
	c := listenUnixgram(t, "")
	if _, err := c.WriteTo([]byte("anon"), bAddr); err != nil {
		t.Fatal(err)
	}
	for {
		n, fromAny, err := b.ReadFrom(buf)
		if errors.Is(err, ErrWouldBlock) {
			waitEvent(t, p, events, 2, readable)
			continue
		}
		if err != nil || string(buf[:n]) != "anon" || fromAny != nil {
			t.Fatalf("ReadFrom of an unbound sender = %q from %#v, %v; want anon from nil", buf[:n], fromAny, err)
		}
		break
	}
	// Nobody at the path.
	if _, err := a.WriteTo([]byte("x"), &net.UnixAddr{Name: unixPath(t), Net: "unixgram"}); !errors.Is(err, syscall.ENOENT) {
		t.Fatalf("WriteTo a missing path = %v, want ENOENT", err)
	}
}

// A listener unlinks the path it bound at Close, but not a path that names
// another file by then, nor one SetUnlinkOnClose(false) keeps; a failed
// ListenUnix leaves an existing file alone.
func TestUnixUnlinkOnClose(t *testing.T) {
	checkLeaks(t)
	exists := func(path string) bool { _, err := os.Lstat(path); return err == nil }

	ln := listenUnix(t, "unix")
	path := ln.Addr().String()
	if !exists(path) {
		t.Fatalf("ListenUnix made no file at %s", path)
	}
	if _, err := ListenUnix("unix", path); !errors.Is(err, syscall.EADDRINUSE) {
		t.Fatalf("ListenUnix on a path in use = %v, want EADDRINUSE", err)
	}
	if !exists(path) {
		t.Fatal("the failed ListenUnix removed the other listener's file")
	}
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	if exists(path) {
		t.Fatal("Close left the file")
	}
	if err := ln.Close(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("second Close = %v", err)
	}

	ln2, err := ListenUnix("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	ln2.SetUnlinkOnClose(false)
	ln2.Close()
	if !exists(path) {
		t.Fatal("SetUnlinkOnClose(false): Close removed the file")
	}
	os.Remove(path)

	// The path replaced by another file: Close leaves that one.
	ln3, err := ListenUnix("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	os.Remove(path)
	if err := os.WriteFile(path, []byte("someone else's"), 0o600); err != nil {
		t.Fatal(err)
	}
	ln3.Close()
	if b, err := os.ReadFile(path); err != nil || string(b) != "someone else's" {
		t.Fatalf("Close removed or changed a file it did not make: %q, %v", b, err)
	}
	os.Remove(path)

	// Datagram sockets do the same.
	u := listenUnixgram(t, path)
	if !exists(path) {
		t.Fatal("ListenUnixgram made no file")
	}
	u.Close()
	if exists(path) {
		t.Fatal("UnixDatagram.Close left the file")
	}
}

// The registry treats Unix sockets as it does TCP ones: one registration
// at a time, Close deregisters.
func TestUnixRegistryRules(t *testing.T) {
	checkLeaks(t)
	ln := listenUnix(t, "unix")
	p, q := newPoll(t), newPoll(t)
	if err := p.Registry().Register(ln, 1, Readable); err != nil {
		t.Fatal(err)
	}
	if err := p.Registry().Register(ln, 1, Readable); !errors.Is(err, ErrAlreadyRegistered) {
		t.Fatalf("Register twice = %v", err)
	}
	if err := q.Registry().Register(ln, 1, Readable); !errors.Is(err, ErrRegisteredElsewhere) {
		t.Fatalf("Register with another Poll = %v", err)
	}
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	if err := p.Registry().Deregister(ln); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Deregister after Close = %v", err)
	}
	if err := q.Registry().Register(ln, 1, Readable); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Register after Close = %v", err)
	}
}

// Failed dials: ENOENT for a missing path, ECONNREFUSED for a socket file
// nobody listens on (Linux and the BSDs report both at DialUnix).
func TestUnixDialErrors(t *testing.T) {
	checkLeaks(t)
	path := unixPath(t)
	_, err := DialUnix("unix", path)
	if unixLacks(t, "unix", err) {
		t.Skipf("the OS lacks unix sockets: DialUnix: %v", err)
	}
	if runtime.GOOS == "windows" {
		// A connect to nothing fails at once or later (TakeError).
		if err == nil {
			t.Skip("DialUnix to a missing path: this Windows reports it later")
		}
		return
	}
	if !errors.Is(err, syscall.ENOENT) {
		t.Fatalf("DialUnix to a missing path = %v, want ENOENT", err)
	}
	// A socket file left by a listener since closed.
	ln, err := ListenUnix("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	ln.SetUnlinkOnClose(false)
	ln.Close()
	if _, err := DialUnix("unix", path); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("DialUnix to a closed listener's file = %v, want ECONNREFUSED", err)
	}
}

// What each OS supports, and the errors where it does not: run everywhere,
// Windows (Wine 8) included.
func TestUnixSupport(t *testing.T) {
	checkLeaks(t)
	path := unixPath(t)
	check := func(what string, err error, supported bool) {
		t.Helper()
		switch {
		case supported && err != nil && !(runtime.GOOS == "windows" && errors.Is(err, ErrUnixUnsupported)):
			t.Errorf("%s on %s: %v", what, runtime.GOOS, err)
		case !supported && !errors.Is(err, ErrUnixUnsupported):
			t.Errorf("%s on %s = %v, want ErrUnixUnsupported", what, runtime.GOOS, err)
		case err != nil && !errors.Is(err, errors.ErrUnsupported) && errors.Is(err, ErrUnixUnsupported):
			t.Errorf("%s: %v does not match errors.ErrUnsupported", what, err)
		}
		t.Logf("%s: %v", what, err)
	}
	ln, err := ListenUnix("unix", path+"s")
	check("ListenUnix(unix)", err, true)
	if err == nil {
		ln.Close()
	} else if runtime.GOOS == "windows" {
		// Winsock without AF_UNIX: the error says so twice.
		if !errors.Is(err, syscall.EAFNOSUPPORT) {
			t.Errorf("ListenUnix(unix) = %v, want it to match EAFNOSUPPORT too", err)
		}
		if _, err := DialUnix("unix", path+"s"); !errors.Is(err, ErrUnixUnsupported) {
			t.Errorf("DialUnix(unix) = %v, want ErrUnixUnsupported", err)
		}
	}
	ln, err = ListenUnix("unixpacket", path+"p")
	check("ListenUnix(unixpacket)", err, unixPacketSupported)
	if err == nil {
		ln.Close()
	}
	if _, err := DialUnix("unixpacket", path+"p"); !unixPacketSupported && !errors.Is(err, ErrUnixUnsupported) {
		t.Errorf("DialUnix(unixpacket) = %v, want ErrUnixUnsupported", err)
	}
	u, err := ListenUnixgram(path + "g")
	check("ListenUnixgram", err, unixgramSupported)
	if err == nil {
		u.Close()
	}
}

// Many clients at once: one Readable, then Accept until ErrWouldBlock
// takes them all, each with its own working stream.
func TestUnixAcceptMany(t *testing.T) {
	checkLeaks(t)
	ln := listenUnix(t, "unix")
	f := newFixture(t)
	p, events := f.p, f.events
	if err := p.Registry().Register(ln, 1, Readable); err != nil {
		t.Fatal(err)
	}
	const clients = 64
	for i := range clients {
		c, err := DialUnix("unix", ln.Addr().String())
		if err != nil {
			t.Fatalf("DialUnix %d: %v", i, err)
		}
		t.Cleanup(func() { c.Close() })
		f.writeAll(c, 0, []byte{byte(i)})
	}
	seen := make(map[byte]bool)
	for len(seen) < clients {
		waitEvent(t, p, events, 1, readable)
		for {
			s, _, err := ln.Accept()
			if errors.Is(err, ErrWouldBlock) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			b := make([]byte, 1)
			n, err := s.Read(b)
			s.Close()
			if n != 1 || err != nil || seen[b[0]] {
				t.Fatalf("accepted stream read %d %v, %v (seen %v)", n, b, err, seen[b[0]])
			}
			seen[b[0]] = true
		}
	}
}
