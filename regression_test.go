package poller

// Regression tests for bugs the reliability tests found, one per fix.

import (
	"errors"
	"testing"
)

// handle: its methods return ErrNilSource instead of dereferencing nil.
func TestZeroSocketsReturnErrNilSource(t *testing.T) {
	buf := make([]byte, 4)
	var s TCPStream
	var l TCPListener
	var u UDPSocket
	_, readErr := s.Read(buf)
	_, writeErr := s.Write(buf)
	_, _, acceptErr := l.Accept()
	_, _, readFromErr := u.ReadFrom(buf)
	_, writeToErr := u.WriteTo(buf, nil)
	for name, err := range map[string]error{
		"Read": readErr, "Write": writeErr, "CloseWrite": s.CloseWrite(), "TakeError": s.TakeError(),
		"SetNoDelay": s.SetNoDelay(true), "Close": s.Close(), "Accept": acceptErr,
		"listener Close": l.Close(), "ReadFrom": readFromErr, "WriteTo": writeToErr, "UDP Close": u.Close(),
	} {
		if !errors.Is(err, ErrNilSource) {
			t.Errorf("%s on a zero value = %v, want ErrNilSource", name, err)
		}
	}
	if s.LocalAddr() != nil || u.LocalAddr() != nil {
		t.Errorf("LocalAddr of a zero value: %v, %v", s.LocalAddr(), u.LocalAddr())
	}
}
