package poller

import (
	"os"
	"syscall"
	"testing"
	"unsafe"
)

func soExclusiveAddr() int { return soExclusiveAddrUse }

// getLinger reads SO_LINGER (two u_shorts) through SyscallConn.
func getLinger(t *testing.T, c syscall.Conn) (bool, int) {
	t.Helper()
	raw, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var l [2]uint16
	var gerr error
	raw.Control(func(fd uintptr) {
		n := int32(unsafe.Sizeof(l))
		gerr = syscall.Getsockopt(syscall.Handle(fd), syscall.SOL_SOCKET, syscall.SO_LINGER, (*byte)(unsafe.Pointer(&l[0])), &n)
	})
	if gerr != nil {
		t.Fatalf("getsockopt SO_LINGER: %v", gerr)
	}
	return l[0] != 0, int(l[1])
}

// wrongTypeCases: a pipe is no socket.
func wrongTypeCases(t *testing.T) []struct {
	name string
	f    func() error
} {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close(); w.Close() })
	return []struct {
		name string
		f    func() error
	}{
		{"TCPStreamFrom a pipe", func() error { _, err := TCPStreamFrom(r); return err }},
	}
}

const soReusePort = 0 // none: ReusePort fails first

// perSocketKeepAlive reports whether TCP_KEEPCNT exists (Windows 10 1709;
// not Wine 8).
func perSocketKeepAlive(t *testing.T, s *TCPStream) bool {
	raw, err := s.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var e error
	raw.Control(func(fd uintptr) { _, e = syscall.GetsockoptInt(syscall.Handle(fd), syscall.IPPROTO_TCP, tcpKeepCnt) })
	return e != wsaENoProtoOpt
}

// forcedOverlapped reports whether p puts every socket on the overlapped engine.
func forcedOverlapped(p *Poll) bool { return p.sys.forceOverlapped }
