//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package poller

import (
	"syscall"
	"testing"
)

// fdFlags returns fcntl's F_GETFD and F_GETFL of fd.
func fdFlags(t *testing.T, fd uintptr) (fdFlags, flFlags uintptr) {
	t.Helper()
	fdFlags, _, e := syscall.Syscall(syscall.SYS_FCNTL, fd, syscall.F_GETFD, 0)
	if e != 0 {
		t.Fatal(e)
	}
	flFlags, _, e = syscall.Syscall(syscall.SYS_FCNTL, fd, syscall.F_GETFL, 0)
	if e != 0 {
		t.Fatal(e)
	}
	return fdFlags, flFlags
}

// Every Unix-domain socket made here is non-blocking and close-on-exec:
// listeners, dialed and accepted streams, datagram sockets.
func TestUnixNonblockCloexec(t *testing.T) {
	checkLeaks(t)
	ln := listenUnix(t, "unix")
	c, err := DialUnix("unix", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// A Unix connect is queued once DialUnix returned: Accept finds it.
	s, _, err := ln.Accept()
	if err != nil {
		t.Fatalf("Accept: %v", err)
	}
	defer s.Close()
	u := listenUnixgram(t, unixPath(t))
	for name, fd := range map[string]uintptr{"listener": ln.sock.fd, "dialed": c.sock.fd, "accepted": s.sock.fd, "datagram": u.sock.fd} {
		fdf, flf := fdFlags(t, fd)
		if fdf&syscall.FD_CLOEXEC == 0 {
			t.Errorf("%s: FD_CLOEXEC not set", name)
		}
		if flf&syscall.O_NONBLOCK == 0 {
			t.Errorf("%s: O_NONBLOCK not set", name)
		}
	}
}
