//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package poller

import (
	"net"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"unsafe"
)

func soExclusiveAddr() int { return 0 }

// getLinger reads SO_LINGER through SyscallConn.
func getLinger(t *testing.T, c syscall.Conn) (bool, int) {
	t.Helper()
	raw, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var l syscall.Linger
	var e syscall.Errno
	raw.Control(func(fd uintptr) {
		n := uint32(unsafe.Sizeof(l))
		_, _, e = syscall.Syscall6(syscall.SYS_GETSOCKOPT, fd, syscall.SOL_SOCKET, syscall.SO_LINGER,
			uintptr(unsafe.Pointer(&l)), uintptr(unsafe.Pointer(&n)), 0)
	})
	if e != 0 {
		t.Fatalf("getsockopt SO_LINGER: %v", e)
	}
	return l.Onoff != 0, int(l.Linger)
}

// wrongTypeCases: Unix-only sockets and files of the wrong kind.
func wrongTypeCases(t *testing.T) []struct {
	name string
	f    func() error
} {
	dir := t.TempDir()
	uln, err := net.Listen("unix", filepath.Join(dir, "s"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { uln.Close() })
	uc, err := net.Dial("unix", uln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { uc.Close() })
	f, err := os.Create(filepath.Join(dir, "f"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	nu, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nu.Close() })
	return []struct {
		name string
		f    func() error
	}{
		{"TCPStreamFrom a Unix-domain stream", func() error { _, err := TCPStreamFrom(uc.(*net.UnixConn)); return err }},
		{"TCPListenerFrom a Unix-domain listener", func() error { _, err := TCPListenerFrom(uln.(*net.UnixListener)); return err }},
		{"TCPStreamFrom a regular file", func() error { _, err := TCPStreamFrom(f); return err }},
		{"TCPStreamFrom a net.UDPConn", func() error { _, err := TCPStreamFrom(nu.(*net.UDPConn)); return err }},
	}
}

func perSocketKeepAlive(t *testing.T, s *TCPStream) bool { return tcpKeepIdle != 0 }
func forcedOverlapped(p *Poll) bool                      { return false }
