package poller

// Misuse: every public entry point with bad input gives a documented error
// that errors.Is recognises, never a panic or a hang, and leaks nothing
// (checkLeaks, leak_test.go). The same table runs on every OS.

import (
	"errors"
	"fmt"
	"math"
	"net"
	"reflect"
	"syscall"
	"testing"
	"time"
)

// misuseFixture makes what a misuse case needs, on demand, all closed at
// the end of the case.
type misuseFixture struct {
	t *testing.T
}

func (f misuseFixture) poll() *Poll { return newPoll(f.t) }

func (f misuseFixture) closedPoll() *Poll {
	p, err := New()
	if err != nil {
		f.t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		f.t.Fatal(err)
	}
	return p
}

func (f misuseFixture) stream() *TCPStream {
	s, _ := streamPair(f.t)
	return s
}

// connectedStream is a stream whose connect has completed: where the
// connect waits for Register (the overlapped engine), it is registered and
// reported writable first.
func (f misuseFixture) connectedStream() *TCPStream {
	s := f.stream()
	if s.sock.connectDeferred() {
		fx := newFixture(f.t)
		fx.wait(fx.register(s, Writable), writable)
	}
	return s
}

func (f misuseFixture) closedStream() *TCPStream {
	s := f.stream()
	if err := s.Close(); err != nil {
		f.t.Fatal(err)
	}
	return s
}

func (f misuseFixture) listener() *TCPListener {
	ln, err := ListenTCP("tcp4", "127.0.0.1:0")
	if err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(func() { ln.Close() })
	return ln
}

func (f misuseFixture) udp() *UDPSocket {
	u := listenUDP(f.t)
	f.t.Cleanup(func() { u.Close() })
	return u
}

// registered returns a poll and a stream registered with it.
func (f misuseFixture) registered() (*Poll, *TCPStream) {
	p, s := f.poll(), f.stream()
	if err := p.Registry().Register(s, 1, Readable); err != nil {
		f.t.Fatal(err)
	}
	return p, s
}

// waitWoken runs Wait with timeout while another goroutine wakes it, and
// checks that it returned the wake (and so did not give up early or spin).
func waitWoken(f misuseFixture, timeout time.Duration) error {
	p := f.poll()
	w, err := NewWaker(p.Registry(), 5)
	if err != nil {
		return err
	}
	events := NewEvents(4)
	done := make(chan error, 1)
	go func() { done <- p.Wait(events, timeout) }()
	waitBlocked(p)
	if err := w.Wake(); err != nil {
		return err
	}
	if err := <-done; err != nil {
		return err
	}
	if events.Len() != 1 || events.At(0).Token() != 5 {
		return fmt.Errorf("Wait(%v) returned %d events, want the wake", timeout, events.Len())
	}
	return nil
}

var readBuf = make([]byte, 16)

// nilAddr is nil for a nil net.Addr (also a typed nil), else an error.
func nilAddr(a net.Addr) error {
	if a == nil || reflect.ValueOf(a).IsNil() {
		return nil
	}
	return fmt.Errorf("got %v, want a nil address", a)
}

// writeToPort sends a datagram from a UDP socket of ours to 127.0.0.1:port.
func writeToPort(f misuseFixture, port int) error {
	_, err := f.udp().WriteTo(readBuf, &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port})
	return err
}

// The misuse table: every public entry point with bad input gives a
// documented error that errors.Is recognises, and never panics. The same
// table runs on every OS.
func TestMisuseTable(t *testing.T) {
	checkLeaks(t)
	type misuse struct {
		name string
		run  func(f misuseFixture) error
		want error // nil: the call must succeed (documented behaviour)
	}
	cases := []misuse{
		// nil and zero-valued arguments
		{"Register nil Source", func(f misuseFixture) error { return f.poll().Registry().Register(nil, 1, Readable) }, ErrNilSource},
		{"Register nil *TCPStream", func(f misuseFixture) error { return f.poll().Registry().Register((*TCPStream)(nil), 1, Readable) }, ErrNilSource},
		{"Register nil *TCPListener", func(f misuseFixture) error { return f.poll().Registry().Register((*TCPListener)(nil), 1, Readable) }, ErrNilSource},
		{"Register nil *UDPSocket", func(f misuseFixture) error { return f.poll().Registry().Register((*UDPSocket)(nil), 1, Readable) }, ErrNilSource},
		{"Register zero TCPStream", func(f misuseFixture) error { return f.poll().Registry().Register(&TCPStream{}, 1, Readable) }, ErrNilSource},
		{"Register raw source with an invalid handle", func(f misuseFixture) error { return f.poll().Registry().Register(invalidRawSource(), 1, Readable) }, ErrNilSource},
		{"Reregister nil Source", func(f misuseFixture) error { return f.poll().Registry().Reregister(nil, 1, Readable) }, ErrNilSource},
		{"Deregister nil Source", func(f misuseFixture) error { return f.poll().Registry().Deregister(nil) }, ErrNilSource},
		{"Read on a zero TCPStream", func(f misuseFixture) error { _, err := (&TCPStream{}).Read(readBuf); return err }, ErrNilSource},
		{"Write on a zero TCPStream", func(f misuseFixture) error { _, err := (&TCPStream{}).Write(readBuf); return err }, ErrNilSource},
		{"Close a zero TCPStream", func(f misuseFixture) error { return (&TCPStream{}).Close() }, ErrNilSource},
		{"Accept on a zero TCPListener", func(f misuseFixture) error { _, _, err := (&TCPListener{}).Accept(); return err }, ErrNilSource},
		{"ReadFrom on a zero UDPSocket", func(f misuseFixture) error { _, _, err := (&UDPSocket{}).ReadFrom(readBuf); return err }, ErrNilSource},
		{"Read on a nil *TCPStream", func(f misuseFixture) error { _, err := (*TCPStream)(nil).Read(readBuf); return err }, ErrNilSource},
		{"Wake a nil *Waker", func(f misuseFixture) error { return (*Waker)(nil).Wake() }, ErrNilSource},
		{"NewWaker with a nil Registry", func(f misuseFixture) error { _, err := NewWaker(nil, 1); return err }, net.ErrClosed},
		{"NewWaker on a zero Registry", func(f misuseFixture) error { _, err := NewWaker(new(Registry), 1); return err }, net.ErrClosed},
		{"Addr of a nil *TCPListener", func(f misuseFixture) error { return nilAddr((*TCPListener)(nil).Addr()) }, nil},
		{"RemoteAddr of a nil *TCPStream", func(f misuseFixture) error { return nilAddr((*TCPStream)(nil).RemoteAddr()) }, nil},
		{"LocalAddr of a nil *TCPStream", func(f misuseFixture) error { return nilAddr((*TCPStream)(nil).LocalAddr()) }, nil},
		{"LocalAddr of a nil *UDPSocket", func(f misuseFixture) error { return nilAddr((*UDPSocket)(nil).LocalAddr()) }, nil},
		{"Len, Cap and All of a nil *Events", func(f misuseFixture) error {
			var e *Events
			for range e.All() {
				return errors.New("a nil Events yielded an event")
			}
			if e.Len() != 0 || e.Cap() != 0 {
				return fmt.Errorf("nil Events: Len %d, Cap %d, want 0 and 0", e.Len(), e.Cap())
			}
			return nil
		}, nil},
		// Events
		{"Wait with nil Events", func(f misuseFixture) error { return f.poll().Wait(nil, 0) }, ErrInvalidEvents},
		{"Wait with zero-capacity Events", func(f misuseFixture) error { return f.poll().Wait(NewEvents(0), 0) }, ErrInvalidEvents},
		{"Wait with negative-capacity Events", func(f misuseFixture) error { return f.poll().Wait(NewEvents(-7), 0) }, ErrInvalidEvents},
		{"Wait with a zero Events value", func(f misuseFixture) error { return f.poll().Wait(&Events{}, 0) }, ErrInvalidEvents},
		{"NewEvents(math.MaxInt) is clamped to maxEventsCap", func(f misuseFixture) error {
			e := NewEvents(math.MaxInt)
			if e.Cap() != maxEventsCap {
				return fmt.Errorf("Cap %d, want %d", e.Cap(), maxEventsCap)
			}
			return f.poll().Wait(e, 0)
		}, nil},
		{"NewEvents(maxEventsCap+1) is clamped to maxEventsCap", func(f misuseFixture) error {
			if c := NewEvents(maxEventsCap + 1).Cap(); c != maxEventsCap {
				return fmt.Errorf("Cap %d, want %d", c, maxEventsCap)
			}
			return nil
		}, nil},
		// a closed Poll
		{"Wait on a closed Poll", func(f misuseFixture) error { return f.closedPoll().Wait(NewEvents(1), -1) }, net.ErrClosed},
		{"Wait with nil Events on a closed Poll", func(f misuseFixture) error { return f.closedPoll().Wait(nil, 0) }, net.ErrClosed},
		{"Close a closed Poll", func(f misuseFixture) error { return f.closedPoll().Close() }, net.ErrClosed},
		{"Register with a closed Poll", func(f misuseFixture) error { return f.closedPoll().Registry().Register(f.stream(), 1, Readable) }, net.ErrClosed},
		{"Reregister with a closed Poll", func(f misuseFixture) error { return f.closedPoll().Registry().Reregister(f.stream(), 1, Readable) }, net.ErrClosed},
		{"Register with Interest 0 on a closed Poll", func(f misuseFixture) error { return f.closedPoll().Registry().Register(f.stream(), 1, 0) }, net.ErrClosed},
		{"Register with an unknown Interest bit on a closed Poll", func(f misuseFixture) error {
			return f.closedPoll().Registry().Register(f.stream(), 1, 0x80)
		}, net.ErrClosed},
		{"Reregister with Interest 0 on a closed Poll", func(f misuseFixture) error {
			p, s := f.registered()
			p.Close()
			return p.Registry().Reregister(s, 1, 0)
		}, net.ErrClosed},
		{"Register a nil Source on a closed Poll", func(f misuseFixture) error { return f.closedPoll().Registry().Register(nil, 1, Readable) }, net.ErrClosed},
		{"Deregister a source of a Poll since closed", func(f misuseFixture) error {
			p, s := f.registered()
			p.Close()
			return p.Registry().Deregister(s)
		}, net.ErrClosed},
		{"NewWaker on a closed Poll", func(f misuseFixture) error { _, err := NewWaker(f.closedPoll().Registry(), 1); return err }, net.ErrClosed},
		{"Wake after its Poll closed", func(f misuseFixture) error {
			p := f.poll()
			w, err := NewWaker(p.Registry(), 1)
			if err != nil {
				return err
			}
			p.Close()
			return w.Wake()
		}, net.ErrClosed},
		// a Poll not made by New
		{"Wait on a zero Poll", func(f misuseFixture) error { return new(Poll).Wait(NewEvents(1), 0) }, net.ErrClosed},
		{"Close a zero Poll", func(f misuseFixture) error { return new(Poll).Close() }, net.ErrClosed},
		{"Register with a zero Poll", func(f misuseFixture) error { return new(Poll).Registry().Register(f.stream(), 1, Readable) }, net.ErrClosed},
		{"Deregister with a zero Registry", func(f misuseFixture) error { return new(Registry).Deregister(f.stream()) }, net.ErrClosed},
		{"Wait on a nil *Poll", func(f misuseFixture) error { return (*Poll)(nil).Wait(NewEvents(1), 0) }, net.ErrClosed},
		// a closed socket
		{"Register a closed stream", func(f misuseFixture) error { return f.poll().Registry().Register(f.closedStream(), 1, Readable) }, net.ErrClosed},
		{"Reregister a closed stream", func(f misuseFixture) error { return f.poll().Registry().Reregister(f.closedStream(), 1, Readable) }, net.ErrClosed},
		{"Deregister a closed stream", func(f misuseFixture) error {
			p, s := f.registered()
			s.Close()
			return p.Registry().Deregister(s)
		}, net.ErrClosed},
		{"Close a stream twice", func(f misuseFixture) error { return f.closedStream().Close() }, net.ErrClosed},
		{"Read a closed stream", func(f misuseFixture) error { _, err := f.closedStream().Read(readBuf); return err }, net.ErrClosed},
		{"Write a closed stream", func(f misuseFixture) error { _, err := f.closedStream().Write(readBuf); return err }, net.ErrClosed},
		{"CloseWrite a closed stream", func(f misuseFixture) error { return f.closedStream().CloseWrite() }, net.ErrClosed},
		{"TakeError of a closed stream", func(f misuseFixture) error { return f.closedStream().TakeError() }, net.ErrClosed},
		{"SetNoDelay on a closed stream", func(f misuseFixture) error { return f.closedStream().SetNoDelay(true) }, net.ErrClosed},
		{"Accept on a closed listener", func(f misuseFixture) error {
			ln := f.listener()
			ln.Close()
			_, _, err := ln.Accept()
			return err
		}, net.ErrClosed},
		{"Register a closed listener", func(f misuseFixture) error {
			ln := f.listener()
			ln.Close()
			return f.poll().Registry().Register(ln, 1, Readable)
		}, net.ErrClosed},
		{"ReadFrom a closed UDP socket", func(f misuseFixture) error {
			u := f.udp()
			u.Close()
			_, _, err := u.ReadFrom(readBuf)
			return err
		}, net.ErrClosed},
		{"WriteTo from a closed UDP socket", func(f misuseFixture) error {
			u := f.udp()
			u.Close()
			_, err := u.WriteTo(readBuf, &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 9})
			return err
		}, net.ErrClosed},
		// socket control: nil and zero receivers
		{"SyscallConn of a nil *TCPStream", func(f misuseFixture) error { _, err := (*TCPStream)(nil).SyscallConn(); return err }, ErrNilSource},
		{"SyscallConn of a zero TCPStream", func(f misuseFixture) error { _, err := (&TCPStream{}).SyscallConn(); return err }, ErrNilSource},
		{"SyscallConn of a nil *TCPListener", func(f misuseFixture) error { _, err := (*TCPListener)(nil).SyscallConn(); return err }, ErrNilSource},
		{"SyscallConn of a nil *UDPSocket", func(f misuseFixture) error { _, err := (*UDPSocket)(nil).SyscallConn(); return err }, ErrNilSource},
		{"TakeError of a nil *TCPListener", func(f misuseFixture) error { return (*TCPListener)(nil).TakeError() }, ErrNilSource},
		{"TakeError of a zero UDPSocket", func(f misuseFixture) error { return (&UDPSocket{}).TakeError() }, ErrNilSource},
		{"SetKeepAlive on a nil *TCPStream", func(f misuseFixture) error { return (*TCPStream)(nil).SetKeepAlive(true) }, ErrNilSource},
		{"SetKeepAliveConfig on a zero TCPStream", func(f misuseFixture) error { return (&TCPStream{}).SetKeepAliveConfig(net.KeepAliveConfig{}) }, ErrNilSource},
		{"SetLinger on a nil *TCPStream", func(f misuseFixture) error { return (*TCPStream)(nil).SetLinger(1) }, ErrNilSource},
		{"SetReadBuffer on a nil *TCPStream", func(f misuseFixture) error { return (*TCPStream)(nil).SetReadBuffer(1) }, ErrNilSource},
		{"SetWriteBuffer on a zero TCPStream", func(f misuseFixture) error { return (&TCPStream{}).SetWriteBuffer(1) }, ErrNilSource},
		{"SetReadBuffer on a nil *UDPSocket", func(f misuseFixture) error { return (*UDPSocket)(nil).SetReadBuffer(1) }, ErrNilSource},
		{"SetWriteBuffer on a zero UDPSocket", func(f misuseFixture) error { return (&UDPSocket{}).SetWriteBuffer(1) }, ErrNilSource},
		{"NoDelay of a nil *TCPStream", func(f misuseFixture) error { _, err := (*TCPStream)(nil).NoDelay(); return err }, ErrNilSource},
		{"CloseRead a nil *TCPStream", func(f misuseFixture) error { return (*TCPStream)(nil).CloseRead() }, ErrNilSource},
		{"Peek on a zero TCPStream", func(f misuseFixture) error { _, err := (&TCPStream{}).Peek(readBuf); return err }, ErrNilSource},
		{"Writev on a nil *TCPStream", func(f misuseFixture) error { _, err := (*TCPStream)(nil).Writev([][]byte{readBuf}); return err }, ErrNilSource},
		{"TCPStreamFrom nil", func(f misuseFixture) error { _, err := TCPStreamFrom(nil); return err }, ErrNilSource},
		{"TCPStreamFrom a nil *net.TCPConn", func(f misuseFixture) error { _, err := TCPStreamFrom((*net.TCPConn)(nil)); return err }, ErrNilSource},
		{"TCPListenerFrom a nil *net.TCPListener", func(f misuseFixture) error { _, err := TCPListenerFrom((*net.TCPListener)(nil)); return err }, ErrNilSource},
		{"UDPSocketFrom a nil *UDPSocket", func(f misuseFixture) error { _, err := UDPSocketFrom((*UDPSocket)(nil)); return err }, ErrNilSource},
		// socket control: closed sockets
		{"SyscallConn of a closed stream", func(f misuseFixture) error { _, err := f.closedStream().SyscallConn(); return err }, net.ErrClosed},
		{"RawConn Control after Close", func(f misuseFixture) error {
			s := f.stream()
			raw, err := s.SyscallConn()
			if err != nil {
				return err
			}
			s.Close()
			return raw.Control(func(uintptr) {})
		}, net.ErrClosed},
		{"RawConn Read after Close", func(f misuseFixture) error {
			u := f.udp()
			raw, err := u.SyscallConn()
			if err != nil {
				return err
			}
			u.Close()
			return raw.Read(func(uintptr) bool { return true })
		}, net.ErrClosed},
		{"TakeError of a closed listener", func(f misuseFixture) error { ln := f.listener(); ln.Close(); return ln.TakeError() }, net.ErrClosed},
		{"SyscallConn of a closed listener", func(f misuseFixture) error { ln := f.listener(); ln.Close(); _, err := ln.SyscallConn(); return err }, net.ErrClosed},
		{"TakeError of a closed UDP socket", func(f misuseFixture) error { u := f.udp(); u.Close(); return u.TakeError() }, net.ErrClosed},
		{"SetReadBuffer on a closed UDP socket", func(f misuseFixture) error { u := f.udp(); u.Close(); return u.SetReadBuffer(1 << 16) }, net.ErrClosed},
		{"SetKeepAlive on a closed stream", func(f misuseFixture) error { return f.closedStream().SetKeepAlive(true) }, net.ErrClosed},
		{"SetKeepAliveConfig on a closed stream", func(f misuseFixture) error {
			return f.closedStream().SetKeepAliveConfig(net.KeepAliveConfig{Enable: true})
		}, net.ErrClosed},
		{"SetLinger on a closed stream", func(f misuseFixture) error { return f.closedStream().SetLinger(0) }, net.ErrClosed},
		{"SetWriteBuffer on a closed stream", func(f misuseFixture) error { return f.closedStream().SetWriteBuffer(1 << 16) }, net.ErrClosed},
		{"NoDelay of a closed stream", func(f misuseFixture) error { _, err := f.closedStream().NoDelay(); return err }, net.ErrClosed},
		{"CloseRead a closed stream", func(f misuseFixture) error { return f.closedStream().CloseRead() }, net.ErrClosed},
		{"Peek a closed stream", func(f misuseFixture) error { _, err := f.closedStream().Peek(readBuf); return err }, net.ErrClosed},
		{"Writev a closed stream", func(f misuseFixture) error { _, err := f.closedStream().Writev([][]byte{readBuf}); return err }, net.ErrClosed},
		{"TCPStreamFrom a closed stream of ours", func(f misuseFixture) error { _, err := TCPStreamFrom(f.closedStream()); return err }, net.ErrClosed},
		{"TCPStreamFrom a closed net.TCPConn", func(f misuseFixture) error {
			ln := f.listener()
			c, err := net.Dial("tcp4", ln.Addr().String())
			if err != nil {
				return err
			}
			c.Close()
			_, err = TCPStreamFrom(c.(*net.TCPConn))
			return err
		}, net.ErrClosed},
		// socket control: bad arguments
		{"RawConn Control with a nil function", func(f misuseFixture) error {
			raw, err := f.stream().SyscallConn()
			if err != nil {
				return err
			}
			return raw.Control(nil)
		}, ErrInvalidArgument},
		{"RawConn Write with a nil function", func(f misuseFixture) error {
			raw, err := f.listener().SyscallConn()
			if err != nil {
				return err
			}
			return raw.Write(nil)
		}, ErrInvalidArgument},
		{"SetLinger(65536)", func(f misuseFixture) error { return f.stream().SetLinger(65536) }, ErrInvalidArgument},
		{"SetReadBuffer(-1)", func(f misuseFixture) error { return f.stream().SetReadBuffer(-1) }, ErrInvalidArgument},
		{"SetWriteBuffer(-1) on UDP", func(f misuseFixture) error { return f.udp().SetWriteBuffer(-1) }, ErrInvalidArgument},
		{"Writev of nil buffers writes nothing", func(f misuseFixture) error {
			if n, err := f.stream().Writev(nil); n != 0 || err != nil {
				return fmt.Errorf("Writev(nil) = %d, %v", n, err)
			}
			return nil
		}, nil},
		{"Peek into an empty buffer", func(f misuseFixture) error {
			// (ENOTCONN: the overlapped engine's stream, never registered, never connects.)
			_, err := f.stream().Peek(nil)
			if err != nil && !errors.Is(err, ErrWouldBlock) && !errors.Is(err, syscall.ENOTCONN) {
				return err
			}
			return nil
		}, nil},
		{"ListenConfig with a negative Backlog", func(f misuseFixture) error {
			_, err := (&ListenConfig{Backlog: -1}).ListenTCP("tcp4", "127.0.0.1:0")
			return err
		}, ErrInvalidArgument},
		{"ListenConfig.ListenTCP of udp", func(f misuseFixture) error { _, err := (&ListenConfig{}).ListenTCP("udp", "127.0.0.1:0"); return err }, ErrInvalidAddress},
		{"ListenConfig.ListenUDP of tcp", func(f misuseFixture) error { _, err := (&ListenConfig{}).ListenUDP("tcp", "127.0.0.1:0"); return err }, ErrInvalidAddress},
		{"ListenConfig.ListenTCP with a bad port", func(f misuseFixture) error {
			_, err := (&ListenConfig{}).ListenTCP("tcp4", "127.0.0.1:99999")
			return err
		}, ErrInvalidAddress},
		{"a nil *ListenConfig is the zero one", func(f misuseFixture) error {
			ln, err := (*ListenConfig)(nil).ListenTCP("tcp4", "127.0.0.1:0")
			if err == nil {
				ln.Close()
			}
			return err
		}, nil},
		{"Dialer.DialTCP of udp", func(f misuseFixture) error { _, err := (&Dialer{}).DialTCP("udp", "127.0.0.1:1"); return err }, ErrInvalidAddress},
		{"Dialer with a UDP LocalAddr", func(f misuseFixture) error {
			_, err := (&Dialer{LocalAddr: &net.UDPAddr{}}).DialTCP("tcp4", f.listener().Addr().String())
			return err
		}, ErrInvalidAddress},
		{"a nil *Dialer is the zero one", func(f misuseFixture) error {
			s, err := (*Dialer)(nil).DialTCP("tcp4", f.listener().Addr().String())
			if err == nil {
				s.Close()
			}
			return err
		}, nil},
		{"TCPListenerFrom a stream", func(f misuseFixture) error { _, err := TCPListenerFrom(f.stream()); return err }, ErrInvalidAddress},
		{"UDPSocketFrom a listener", func(f misuseFixture) error { _, err := UDPSocketFrom(f.listener()); return err }, ErrInvalidAddress},
		// registration state
		{"Register twice", func(f misuseFixture) error {
			p, s := f.registered()
			return p.Registry().Register(s, 1, Readable)
		}, ErrAlreadyRegistered},
		{"Register twice with another token and interest", func(f misuseFixture) error {
			p, s := f.registered()
			return p.Registry().Register(s, 2, Writable)
		}, ErrAlreadyRegistered},
		{"Reregister an unknown source", func(f misuseFixture) error { return f.poll().Registry().Reregister(f.stream(), 1, Readable) }, ErrNotRegistered},
		{"Deregister an unknown source", func(f misuseFixture) error { return f.poll().Registry().Deregister(f.stream()) }, ErrNotRegistered},
		{"Deregister twice", func(f misuseFixture) error {
			p, s := f.registered()
			if err := p.Registry().Deregister(s); err != nil {
				return err
			}
			return p.Registry().Deregister(s)
		}, ErrNotRegistered},
		{"Reregister after Deregister", func(f misuseFixture) error {
			p, s := f.registered()
			if err := p.Registry().Deregister(s); err != nil {
				return err
			}
			return p.Registry().Reregister(s, 1, Readable)
		}, ErrNotRegistered},
		{"Register a source registered with another Poll", func(f misuseFixture) error {
			_, s := f.registered()
			return f.poll().Registry().Register(s, 1, Readable)
		}, ErrRegisteredElsewhere},
		{"Reregister through another Poll", func(f misuseFixture) error {
			_, s := f.registered()
			return f.poll().Registry().Reregister(s, 1, Writable)
		}, ErrRegisteredElsewhere},
		{"Deregister through another Poll", func(f misuseFixture) error {
			_, s := f.registered()
			return f.poll().Registry().Deregister(s)
		}, ErrRegisteredElsewhere},
		// interest
		{"Register with Interest 0", func(f misuseFixture) error { return f.poll().Registry().Register(f.stream(), 1, 0) }, ErrInvalidInterest},
		{"Register with an unknown Interest bit", func(f misuseFixture) error { return f.poll().Registry().Register(f.stream(), 1, 4) }, ErrInvalidInterest},
		{"Register with Readable and an unknown bit", func(f misuseFixture) error {
			return f.poll().Registry().Register(f.stream(), 1, Readable|0x80)
		}, ErrInvalidInterest},
		{"Register with every Interest bit", func(f misuseFixture) error { return f.poll().Registry().Register(f.stream(), 1, 0xFF) }, ErrInvalidInterest},
		{"Reregister with Interest 0", func(f misuseFixture) error {
			p, s := f.registered()
			return p.Registry().Reregister(s, 1, 0)
		}, ErrInvalidInterest},
		{"Reregister with an unknown Interest bit", func(f misuseFixture) error {
			p, s := f.registered()
			return p.Registry().Reregister(s, 1, Writable|0x10)
		}, ErrInvalidInterest},
		// use after shutdown, concurrency
		{"Write after CloseWrite", func(f misuseFixture) error {
			s := f.connectedStream()
			if err := s.CloseWrite(); err != nil {
				return err
			}
			_, err := s.Write([]byte("late"))
			return err
		}, errWriteShutdown},
		{"A second concurrent Wait", func(f misuseFixture) error {
			p := f.poll()
			w, _ := NewWaker(p.Registry(), 1)
			done := make(chan error, 1)
			go func() { done <- p.Wait(NewEvents(1), -1) }()
			waitBlocked(p)
			err := p.Wait(NewEvents(1), 0)
			w.Wake()
			if e := <-done; e != nil {
				return e
			}
			return err
		}, ErrConcurrentWait},
		// addresses
		{"ListenTCP on a udp network", func(f misuseFixture) error { _, err := ListenTCP("udp", "127.0.0.1:0"); return err }, ErrInvalidAddress},
		{"DialTCP on a unix network", func(f misuseFixture) error { _, err := DialTCP("unix", "/tmp/x"); return err }, ErrInvalidAddress},
		{"ListenUDP on a tcp network", func(f misuseFixture) error { _, err := ListenUDP("tcp4", "127.0.0.1:0"); return err }, ErrInvalidAddress},
		{"ListenTCP tcp4 with an IPv6 address", func(f misuseFixture) error { _, err := ListenTCP("tcp4", "[::1]:0"); return err }, ErrInvalidAddress},
		{"WriteTo a TCP address", func(f misuseFixture) error { _, err := f.udp().WriteTo(readBuf, &net.TCPAddr{}); return err }, ErrInvalidAddress},
		{"WriteTo a nil address", func(f misuseFixture) error { _, err := f.udp().WriteTo(readBuf, nil); return err }, ErrInvalidAddress},
		{"WriteTo port 65536", func(f misuseFixture) error { return writeToPort(f, 65536) }, ErrInvalidAddress},
		{"WriteTo port 65536+9", func(f misuseFixture) error { return writeToPort(f, 65536+9) }, ErrInvalidAddress},
		{"WriteTo port -5", func(f misuseFixture) error { return writeToPort(f, -5) }, ErrInvalidAddress},
		{"WriteTo port MaxInt", func(f misuseFixture) error { return writeToPort(f, math.MaxInt) }, ErrInvalidAddress},
		{"WriteTo an IPv6 socket at port 65536", func(f misuseFixture) error {
			u, err := ListenUDP("udp6", "[::1]:0")
			if err != nil {
				return err
			}
			defer u.Close()
			_, err = u.WriteTo(readBuf, &net.UDPAddr{IP: net.IPv6loopback, Port: 65536})
			return err
		}, ErrInvalidAddress},
		{"ListenTCP on a port in use", func(f misuseFixture) error {
			_, err := ListenTCP("tcp4", f.listener().Addr().String())
			return err
		}, syscall.EADDRINUSE},
		// timeouts: documented behaviour, not errors
		{"Wait with timeout -1 waits for the wake", func(f misuseFixture) error { return waitWoken(f, -1) }, nil},
		{"Wait with timeout MinInt64 waits for the wake", func(f misuseFixture) error { return waitWoken(f, math.MinInt64) }, nil},
		{"Wait with timeout MaxInt64 waits for the wake", func(f misuseFixture) error { return waitWoken(f, math.MaxInt64) }, nil},
		{"Wait with timeout 1<<62 waits for the wake", func(f misuseFixture) error { return waitWoken(f, 1<<62) }, nil},
	}
	for _, c := range udpMisuseCases {
		cases = append(cases, misuse(c))
	}
	for _, c := range unixMisuseRows() {
		cases = append(cases, misuse(c))
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var err error
			func() {
				defer func() {
					if v := recover(); v != nil {
						t.Fatalf("panic: %v", v)
					}
				}()
				err = c.run(misuseFixture{t})
			}()
			if c.want == nil {
				if err != nil {
					t.Fatalf("got %v, want success", err)
				}
				return
			}
			if !errors.Is(err, c.want) {
				t.Fatalf("got %v, want an error matching %v", err, c.want)
			}
		})
	}
	t.Logf("%d misuse cases", len(cases))
}
