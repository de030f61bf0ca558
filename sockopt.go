package poller

import (
	"errors"
	"fmt"
	"net"
	"syscall"
	"time"
)

// Socket-level options, shutdown and peek, shared by every socket type of
// this package (TCPStream, TCPListener and UDPSocket call these; so can
// further socket types). Each runs on the open handle (socket.do) and
// fails with net.ErrClosed on a closed socket, ErrNilSource on a nil one.

// ErrInvalidArgument: a bad argument that is not an address (a nil
// callback, a negative size or count). Errors for bad addresses, and for
// adopting a socket of the wrong type or family, match ErrInvalidAddress.
var ErrInvalidArgument = errors.New("poller: invalid argument")

var errNilCallback = fmt.Errorf("%w: nil callback", ErrInvalidArgument)

// setInt sets an integer option.
func (s *socket) setInt(level, name, v int) error {
	return s.do("setsockopt", func(fd uintptr) error { return sysSetsockoptInt(fd, level, name, v) })
}

// getInt reads an integer option.
func (s *socket) getInt(level, name int) (int, error) {
	var v int
	err := s.do("getsockopt", func(fd uintptr) (err error) {
		v, err = sysGetsockoptInt(fd, level, name)
		return err
	})
	return v, err
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func (s *socket) setKeepAlive(on bool) error {
	return s.setInt(syscall.SOL_SOCKET, syscall.SO_KEEPALIVE, boolInt(on))
}

// setKeepAliveConfig applies cfg as package net does: Enable sets
// SO_KEEPALIVE; Idle and Interval of zero mean 15 s, negative ones leave
// that setting alone, durations round up to seconds; Count is passed on
// (sysSetKeepAliveTimes: 0 means 9, negative leaves it alone).
func (s *socket) setKeepAliveConfig(cfg net.KeepAliveConfig) error {
	if err := s.acquire(); err != nil {
		return err
	}
	defer s.release()
	if err := sysSetsockoptInt(s.fd, syscall.SOL_SOCKET, syscall.SO_KEEPALIVE, boolInt(cfg.Enable)); err != nil {
		return sysError("setsockopt", err)
	}
	if err := sysSetKeepAliveTimes(s.fd, keepAliveSeconds(cfg.Idle), keepAliveSeconds(cfg.Interval), cfg.Count); err != nil {
		return sysError("setsockopt", err)
	}
	return nil
}

// keepAliveSeconds is d in whole seconds rounded up, 15 for 0, -1 for
// negative (leave alone).
func keepAliveSeconds(d time.Duration) int {
	switch {
	case d < 0:
		return -1
	case d == 0:
		return 15
	}
	return int((d + time.Second - 1) / time.Second)
}

// setLinger is net.TCPConn.SetLinger: sec < 0 closes in the background
// (the default), 0 discards unsent data and resets, sec > 0 lingers up to
// sec seconds. At most 65535 (Windows' limit, applied everywhere).
func (s *socket) setLinger(sec int) error {
	if sec > 0xFFFF {
		return fmt.Errorf("%w: linger %d s (at most 65535)", ErrInvalidArgument, sec)
	}
	return s.do("setsockopt", func(fd uintptr) error { return sysSetLinger(fd, sec) })
}

func (s *socket) setBuffer(name string, opt, n int) error {
	if n < 0 {
		return fmt.Errorf("%w: %s %d", ErrInvalidArgument, name, n)
	}
	return s.setInt(syscall.SOL_SOCKET, opt, n)
}

func (s *socket) setReadBuffer(n int) error {
	return s.setBuffer("read buffer", syscall.SO_RCVBUF, n)
}

func (s *socket) setWriteBuffer(n int) error {
	return s.setBuffer("write buffer", syscall.SO_SNDBUF, n)
}

func (s *socket) noDelay() (bool, error) {
	v, err := s.getInt(syscall.IPPROTO_TCP, syscall.TCP_NODELAY)
	return v != 0, err
}

// takeError returns and clears the socket's pending error (SO_ERROR), or
// the overlapped engine's connect failure (sysTakeError); nil if there is
// none.
func (s *socket) takeError() error {
	if err := s.acquire(); err != nil {
		return err
	}
	defer s.release()
	soErr, err := s.sysTakeError()
	if err != nil {
		return sysError("getsockopt", err)
	}
	if soErr != nil {
		return sysError("connect", soErr)
	}
	return nil
}

// closeRead shuts down the receiving side. Windows reports no event for
// it: afterCloseRead gives a registered socket a Readable, so that its
// owner reads the io.EOF as on Linux.
func (s *socket) closeRead() error {
	if err := s.do("shutdown", sysShutdownRead); err != nil {
		return err
	}
	s.afterCloseRead()
	return nil
}

// peek is a stream's Read without consuming (MSG_PEEK): the count, io.EOF
// after the peer's orderly close (or CloseRead), ErrWouldBlock (re-arming
// Readable on Windows) when nothing is there.
func (s *socket) peek(p []byte) (int, error) { return s.recvStream(p, true) }
