package poller

import (
	"errors"
	"io"
	"os"
	"syscall"
	"testing"
	"time"
)

// lowerIOLimit makes maxIOLen, the most bytes one Winsock (or C core) call
// is given, n for the test: a 4 GiB buffer cannot be allocated here.
func lowerIOLimit(t *testing.T, n int) {
	old := maxIOLen
	maxIOLen = n
	t.Cleanup(func() { maxIOLen = old })
}

// TestReadClampedToOneCall: a Read with a buffer longer than one recv may
// take reads at most that much and says so; the rest follows.
func TestReadClampedToOneCall(t *testing.T) {
	p := newPoll(t)
	s, peer := streamPair(t)
	if err := p.Registry().Register(s, 1, Readable); err != nil {
		t.Fatal(err)
	}
	lowerIOLimit(t, 4)
	if _, err := peer.Write([]byte("0123456789")); err != nil {
		t.Fatal(err)
	}
	events := NewEvents(4)
	var got []byte
	buf := make([]byte, 16)
	for deadline := time.Now().Add(eventTimeout); len(got) < 10; {
		if time.Now().After(deadline) {
			t.Fatalf("read %q within %v, want 10 bytes", got, eventTimeout)
		}
		n, err := s.Read(buf)
		if n > 4 {
			t.Fatalf("Read returned %d bytes with one call clamped to 4", n)
		}
		got = append(got, buf[:n]...)
		switch {
		case errors.Is(err, ErrWouldBlock):
			p.Wait(events, time.Until(deadline))
		case err != nil:
			t.Fatalf("Read: %v", err)
		}
	}
	if string(got) != "0123456789" {
		t.Fatalf("read %q", got)
	}
}

// TestWriteClampedToOneCall: one send is given at most maxIOLen bytes and
// its count is the truth; Write goes on with the rest (the overlapped
// engine goes on while its sends complete at once, and returns a short
// count with ErrWouldBlock once one stays in flight).
func TestWriteClampedToOneCall(t *testing.T) {
	p := newPoll(t)
	s, peer := streamPair(t)
	if err := p.Registry().Register(s, 1, Writable); err != nil {
		t.Fatal(err)
	}
	events := NewEvents(4)
	waitEvent(t, p, events, 1, writable) // connected
	lowerIOLimit(t, 4)
	msg := []byte("0123456789")
	if !s.sock.connectDeferred() && s.sock.ovlReg() == nil {
		// AFD: Write's own send calls.
		u, upeer := streamPair(t)
		if n, err := sysSend(u.sock.fd, msg); err != nil || n != 4 {
			t.Fatalf("one send of 10 bytes with the limit at 4: %d, %v", n, err)
		}
		buf := make([]byte, 16)
		if n, err := io.ReadAtLeast(upeer, buf, 4); err != nil || string(buf[:n]) != "0123" {
			t.Fatalf("peer read %q, %v", buf[:n], err)
		}
	}
	written := 0
	for deadline := time.Now().Add(eventTimeout); written < len(msg); {
		if time.Now().After(deadline) {
			t.Fatalf("wrote %d of %d bytes within %v", written, len(msg), eventTimeout)
		}
		before := p.sys.core.calls()
		n, err := s.Write(msg[written:])
		if calls := p.sys.core.calls() - before; s.sock.ovlReg() != nil && n > 4*int(calls) {
			// The overlapped engine's sends are core calls.
			t.Fatalf("overlapped engine: Write took %d bytes in %d core calls with one send clamped to 4", n, calls)
		}
		written += n
		switch {
		case errors.Is(err, ErrWouldBlock):
			p.Wait(events, time.Until(deadline))
		case err != nil:
			t.Fatalf("Write: %v", err)
		}
	}
	buf := make([]byte, 16)
	if n, err := io.ReadFull(peer, buf[:10]); err != nil || string(buf[:n]) != "0123456789" {
		t.Fatalf("peer read %q, %v", buf[:n], err)
	}
}

// TestWriteToOverOneCallLimit: a datagram longer than one send may take
// cannot go out whole, so WriteTo fails with EMSGSIZE and sends nothing
// (before, Windows sent what the truncated length said and reported
// success).
func TestWriteToOverOneCallLimit(t *testing.T) {
	p := newPoll(t)
	u, peer := listenUDP(t), listenUDP(t)
	defer u.Close()
	defer peer.Close()
	if err := p.Registry().Register(peer, 2, Readable); err != nil {
		t.Fatal(err)
	}
	if err := p.Registry().Register(u, 1, Writable); err != nil {
		t.Fatal(err)
	}
	lowerIOLimit(t, 4)
	n, err := u.WriteTo([]byte("toolong!!"), peer.LocalAddr())
	if !errors.Is(err, syscall.EMSGSIZE) || n != 0 {
		t.Fatalf("WriteTo of 9 bytes with the limit at 4: %d, %v; want 0 and EMSGSIZE", n, err)
	}
	events := NewEvents(4)
	for deadline := time.Now().Add(eventTimeout); ; {
		n, err = u.WriteTo([]byte("ok"), peer.LocalAddr())
		if !errors.Is(err, ErrWouldBlock) || time.Now().After(deadline) {
			break
		}
		p.Wait(events, time.Until(deadline))
	}
	if err != nil || n != 2 {
		t.Fatalf("WriteTo of 2 bytes: %d, %v", n, err)
	}
	buf := make([]byte, 16)
	for deadline := time.Now().Add(eventTimeout); ; {
		n, _, err = peer.ReadFrom(buf)
		if !errors.Is(err, ErrWouldBlock) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no datagram")
		}
		p.Wait(events, time.Until(deadline))
	}
	if err != nil || string(buf[:n]) != "ok" {
		t.Fatalf("first datagram %q, %v; want the 2-byte one only", buf[:n], err)
	}
}

// TestReadResetIsECONNRESET injects WSAECONNRESET as recv's result (under
// Wine a real reset often reads as the end of the stream, as the portable
// tests allow): Read must report it as an error matching
// syscall.ECONNRESET, from "read", never as io.EOF.
func TestReadResetIsECONNRESET(t *testing.T) {
	s, _ := streamPair(t)
	recvResult = func(n int32, e syscall.Errno) (int32, syscall.Errno) { return -1, wsaEConnReset }
	t.Cleanup(func() { recvResult = nil })
	_, err := s.Read(make([]byte, 8))
	recvResult = nil
	var se *os.SyscallError
	if !errors.Is(err, syscall.ECONNRESET) || err == io.EOF || !errors.As(err, &se) || se.Syscall != "read" {
		t.Fatalf("Read after a reset: %v (%T), want a read error matching syscall.ECONNRESET", err, err)
	}
	if !errors.Is(err, syscall.Errno(10054)) {
		t.Fatalf("Read after a reset: %v does not match WSAECONNRESET itself", err)
	}
}
