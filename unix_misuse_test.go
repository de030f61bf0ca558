package poller

import (
	"net"
	"strings"
	"syscall"
)

// misuseRow is a row of TestMisuseTable (its local type misuse).
type misuseRow = struct {
	name string
	run  func(f misuseFixture) error
	want error
}

// unixStream returns a connected Unix stream (its peer is closed at the end
// of the case); the case skips where the OS lacks Unix streams.
func (f misuseFixture) unixStream() *UnixStream {
	ln := listenUnix(f.t, "unix")
	s, err := DialUnix("unix", ln.Addr().String())
	if err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(func() { s.Close() })
	return s
}

func (f misuseFixture) closedUnixStream() *UnixStream {
	s := f.unixStream()
	if err := s.Close(); err != nil {
		f.t.Fatal(err)
	}
	return s
}

func (f misuseFixture) closedUnixListener() *UnixListener {
	ln := listenUnix(f.t, "unix")
	if err := ln.Close(); err != nil {
		f.t.Fatal(err)
	}
	return ln
}

func (f misuseFixture) unixgram() *UnixDatagram { return listenUnixgram(f.t, unixPath(f.t)) }

func (f misuseFixture) closedUnixgram() *UnixDatagram {
	u := f.unixgram()
	if err := u.Close(); err != nil {
		f.t.Fatal(err)
	}
	return u
}

// unixgramErr is want, or ErrUnixUnsupported where the OS has no Unix
// datagram sockets (ListenUnixgram says so before it looks at the path).
func unixgramErr(want error) error {
	if !unixgramSupported {
		return ErrUnixUnsupported
	}
	return want
}

var longUnixPath = "/tmp/" + strings.Repeat("x", 200)

// unixMisuseRows are TestMisuseTable's rows for the Unix-domain sockets.
func unixMisuseRows() []misuseRow {
	rows := []misuseRow{
		// nil and zero-valued receivers and arguments
		{"Register nil *UnixStream", func(f misuseFixture) error { return f.poll().Registry().Register((*UnixStream)(nil), 1, Readable) }, ErrNilSource},
		{"Register nil *UnixListener", func(f misuseFixture) error { return f.poll().Registry().Register((*UnixListener)(nil), 1, Readable) }, ErrNilSource},
		{"Register nil *UnixDatagram", func(f misuseFixture) error { return f.poll().Registry().Register((*UnixDatagram)(nil), 1, Readable) }, ErrNilSource},
		{"Register zero UnixStream", func(f misuseFixture) error { return f.poll().Registry().Register(&UnixStream{}, 1, Readable) }, ErrNilSource},
		{"Register zero UnixListener", func(f misuseFixture) error { return f.poll().Registry().Register(&UnixListener{}, 1, Readable) }, ErrNilSource},
		{"Register zero UnixDatagram", func(f misuseFixture) error { return f.poll().Registry().Register(&UnixDatagram{}, 1, Readable) }, ErrNilSource},
		{"Read on a nil *UnixStream", func(f misuseFixture) error { _, err := (*UnixStream)(nil).Read(readBuf); return err }, ErrNilSource},
		{"Write on a nil *UnixStream", func(f misuseFixture) error { _, err := (*UnixStream)(nil).Write(readBuf); return err }, ErrNilSource},
		{"CloseWrite a nil *UnixStream", func(f misuseFixture) error { return (*UnixStream)(nil).CloseWrite() }, ErrNilSource},
		{"Close a nil *UnixStream", func(f misuseFixture) error { return (*UnixStream)(nil).Close() }, ErrNilSource},
		{"Read on a zero UnixStream", func(f misuseFixture) error { _, err := (&UnixStream{}).Read(readBuf); return err }, ErrNilSource},
		{"Write on a zero UnixStream", func(f misuseFixture) error { _, err := (&UnixStream{}).Write(readBuf); return err }, ErrNilSource},
		{"CloseWrite a zero UnixStream", func(f misuseFixture) error { return (&UnixStream{}).CloseWrite() }, ErrNilSource},
		{"Close a zero UnixStream", func(f misuseFixture) error { return (&UnixStream{}).Close() }, ErrNilSource},
		{"Accept on a nil *UnixListener", func(f misuseFixture) error { _, _, err := (*UnixListener)(nil).Accept(); return err }, ErrNilSource},
		{"Accept on a zero UnixListener", func(f misuseFixture) error { _, _, err := (&UnixListener{}).Accept(); return err }, ErrNilSource},
		{"Close a nil *UnixListener", func(f misuseFixture) error { return (*UnixListener)(nil).Close() }, ErrNilSource},
		{"Close a zero UnixListener", func(f misuseFixture) error { return (&UnixListener{}).Close() }, ErrNilSource},
		{"SetUnlinkOnClose on nil and zero UnixListener and UnixDatagram", func(f misuseFixture) error {
			(*UnixListener)(nil).SetUnlinkOnClose(false)
			(&UnixListener{}).SetUnlinkOnClose(false)
			(*UnixDatagram)(nil).SetUnlinkOnClose(false)
			(&UnixDatagram{}).SetUnlinkOnClose(false)
			return nil
		}, nil},
		{"ReadFrom on a nil *UnixDatagram", func(f misuseFixture) error { _, _, err := (*UnixDatagram)(nil).ReadFrom(readBuf); return err }, ErrNilSource},
		{"ReadFromUnix on a zero UnixDatagram", func(f misuseFixture) error { _, _, err := (&UnixDatagram{}).ReadFromUnix(readBuf); return err }, ErrNilSource},
		{"WriteTo on a nil *UnixDatagram", func(f misuseFixture) error {
			_, err := (*UnixDatagram)(nil).WriteTo(readBuf, &net.UnixAddr{Name: "/x", Net: "unixgram"})
			return err
		}, ErrNilSource},
		{"WriteToUnix on a zero UnixDatagram", func(f misuseFixture) error {
			_, err := (&UnixDatagram{}).WriteToUnix(readBuf, &net.UnixAddr{Name: "/x", Net: "unixgram"})
			return err
		}, ErrNilSource},
		{"Close a nil *UnixDatagram", func(f misuseFixture) error { return (*UnixDatagram)(nil).Close() }, ErrNilSource},
		{"Close a zero UnixDatagram", func(f misuseFixture) error { return (&UnixDatagram{}).Close() }, ErrNilSource},
		{"Addr of nil and zero *UnixListener", func(f misuseFixture) error {
			if err := nilAddr((*UnixListener)(nil).Addr()); err != nil {
				return err
			}
			return nilAddr((&UnixListener{}).Addr())
		}, nil},
		{"RemoteAddr and LocalAddr of nil and zero *UnixStream", func(f misuseFixture) error {
			for _, a := range []net.Addr{(*UnixStream)(nil).RemoteAddr(), (*UnixStream)(nil).LocalAddr(), (&UnixStream{}).RemoteAddr(), (&UnixStream{}).LocalAddr()} {
				if err := nilAddr(a); err != nil {
					return err
				}
			}
			return nil
		}, nil},
		{"LocalAddr of nil and zero *UnixDatagram", func(f misuseFixture) error {
			if err := nilAddr((*UnixDatagram)(nil).LocalAddr()); err != nil {
				return err
			}
			return nilAddr((&UnixDatagram{}).LocalAddr())
		}, nil},
		// closed sockets
		{"Read a closed UnixStream", func(f misuseFixture) error { _, err := f.closedUnixStream().Read(readBuf); return err }, net.ErrClosed},
		{"Write a closed UnixStream", func(f misuseFixture) error { _, err := f.closedUnixStream().Write(readBuf); return err }, net.ErrClosed},
		{"CloseWrite a closed UnixStream", func(f misuseFixture) error { return f.closedUnixStream().CloseWrite() }, net.ErrClosed},
		{"Close a UnixStream twice", func(f misuseFixture) error { return f.closedUnixStream().Close() }, net.ErrClosed},
		{"LocalAddr of a closed UnixStream", func(f misuseFixture) error { return nilAddr(f.closedUnixStream().LocalAddr()) }, nil},
		{"Register a closed UnixStream", func(f misuseFixture) error { return f.poll().Registry().Register(f.closedUnixStream(), 1, Readable) }, net.ErrClosed},
		{"Accept on a closed UnixListener", func(f misuseFixture) error { _, _, err := f.closedUnixListener().Accept(); return err }, net.ErrClosed},
		{"Close a UnixListener twice", func(f misuseFixture) error { return f.closedUnixListener().Close() }, net.ErrClosed},
		{"Register a closed UnixListener", func(f misuseFixture) error { return f.poll().Registry().Register(f.closedUnixListener(), 1, Readable) }, net.ErrClosed},
		{"ReadFrom a closed UnixDatagram", func(f misuseFixture) error { _, _, err := f.closedUnixgram().ReadFrom(readBuf); return err }, net.ErrClosed},
		{"WriteTo from a closed UnixDatagram", func(f misuseFixture) error {
			_, err := f.closedUnixgram().WriteTo(readBuf, &net.UnixAddr{Name: "/x", Net: "unixgram"})
			return err
		}, net.ErrClosed},
		{"Close a UnixDatagram twice", func(f misuseFixture) error { return f.closedUnixgram().Close() }, net.ErrClosed},
		{"LocalAddr of a closed UnixDatagram", func(f misuseFixture) error { return nilAddr(f.closedUnixgram().LocalAddr()) }, nil},
		// registration state
		{"Register a UnixStream twice", func(f misuseFixture) error {
			p, s := f.poll(), f.unixStream()
			if err := p.Registry().Register(s, 1, Readable); err != nil {
				return err
			}
			return p.Registry().Register(s, 1, Readable)
		}, ErrAlreadyRegistered},
		{"Deregister an unregistered UnixDatagram", func(f misuseFixture) error { return f.poll().Registry().Deregister(f.unixgram()) }, ErrNotRegistered},
		// use after shutdown
		{"Write a UnixStream after CloseWrite", func(f misuseFixture) error {
			s := f.unixStream()
			if err := s.CloseWrite(); err != nil {
				return err
			}
			_, err := s.Write([]byte("late"))
			return err
		}, errWriteShutdown},
		// networks and paths
		{"ListenUnix on a tcp network", func(f misuseFixture) error { _, err := ListenUnix("tcp", unixPath(f.t)); return err }, ErrInvalidAddress},
		{"ListenUnix on unixgram", func(f misuseFixture) error { _, err := ListenUnix("unixgram", unixPath(f.t)); return err }, ErrInvalidAddress},
		{"ListenUnix on an empty network", func(f misuseFixture) error { _, err := ListenUnix("", unixPath(f.t)); return err }, ErrInvalidAddress},
		{"ListenUnix on an empty path", func(f misuseFixture) error { _, err := ListenUnix("unix", ""); return err }, ErrInvalidAddress},
		{"ListenUnix on a path too long", func(f misuseFixture) error { _, err := ListenUnix("unix", longUnixPath); return err }, ErrInvalidAddress},
		{"ListenUnix on a path with a NUL byte", func(f misuseFixture) error { _, err := ListenUnix("unix", "/tmp/a\x00b"); return err }, ErrInvalidAddress},
		{"ListenUnix on a path in use", func(f misuseFixture) error {
			_, err := ListenUnix("unix", listenUnix(f.t, "unix").Addr().String())
			return err
		}, syscall.EADDRINUSE},
		{"DialUnix on a udp network", func(f misuseFixture) error { _, err := DialUnix("udp", "/tmp/x"); return err }, ErrInvalidAddress},
		{"DialUnix on an empty path", func(f misuseFixture) error { _, err := DialUnix("unix", ""); return err }, ErrInvalidAddress},
		{"DialUnix on a path too long", func(f misuseFixture) error { _, err := DialUnix("unix", longUnixPath); return err }, ErrInvalidAddress},
		{"ListenUnixgram on a path too long", func(f misuseFixture) error { _, err := ListenUnixgram(longUnixPath); return err }, unixgramErr(ErrInvalidAddress)},
		{"ListenUnixgram on a path with a NUL byte", func(f misuseFixture) error { _, err := ListenUnixgram("/tmp/\x00"); return err }, unixgramErr(ErrInvalidAddress)},
		{"WriteTo a UDP address from a UnixDatagram", func(f misuseFixture) error { _, err := f.unixgram().WriteTo(readBuf, &net.UDPAddr{}); return err }, ErrInvalidAddress},
		{"WriteTo a nil address from a UnixDatagram", func(f misuseFixture) error { _, err := f.unixgram().WriteTo(readBuf, nil); return err }, ErrInvalidAddress},
		{"WriteTo a nil *net.UnixAddr", func(f misuseFixture) error { _, err := f.unixgram().WriteTo(readBuf, (*net.UnixAddr)(nil)); return err }, ErrInvalidAddress},
		{"WriteToUnix a nil address", func(f misuseFixture) error { _, err := f.unixgram().WriteToUnix(readBuf, nil); return err }, ErrInvalidAddress},
		{"WriteToUnix an empty name", func(f misuseFixture) error {
			_, err := f.unixgram().WriteToUnix(readBuf, &net.UnixAddr{Net: "unixgram"})
			return err
		}, ErrInvalidAddress},
		{"WriteToUnix a path too long", func(f misuseFixture) error {
			_, err := f.unixgram().WriteToUnix(readBuf, &net.UnixAddr{Name: longUnixPath, Net: "unixgram"})
			return err
		}, ErrInvalidAddress},
		// ListenConfig and Dialer
		{"ListenConfig.ListenUnix with Backlog -1", func(f misuseFixture) error {
			_, err := (&ListenConfig{Backlog: -1}).ListenUnix("unix", unixPath(f.t))
			return err
		}, ErrInvalidArgument},
		{"ListenConfig.ListenUnix with ReusePort", func(f misuseFixture) error {
			_, err := (&ListenConfig{ReusePort: true}).ListenUnix("unix", unixPath(f.t))
			return err
		}, ErrInvalidArgument},
		{"ListenConfig.ListenUnix on a tcp network", func(f misuseFixture) error { _, err := (*ListenConfig)(nil).ListenUnix("tcp", "/x"); return err }, ErrInvalidAddress},
		{"ListenConfig.ListenUnixgram with ReusePort", func(f misuseFixture) error {
			_, err := (&ListenConfig{ReusePort: true}).ListenUnixgram(unixPath(f.t))
			return err
		}, unixgramErr(ErrInvalidArgument)},
		{"Dialer.DialUnix with a TCP LocalAddr", func(f misuseFixture) error {
			_, err := (&Dialer{LocalAddr: &net.TCPAddr{}}).DialUnix("unix", "/x")
			return err
		}, ErrInvalidAddress},
		{"Dialer.DialUnix with a nil *net.UnixAddr LocalAddr", func(f misuseFixture) error {
			_, err := (&Dialer{LocalAddr: (*net.UnixAddr)(nil)}).DialUnix("unix", "/x")
			return err
		}, ErrInvalidAddress},
		{"nil Dialer's DialUnix on a udp network", func(f misuseFixture) error { _, err := (*Dialer)(nil).DialUnix("udp", "/x"); return err }, ErrInvalidAddress},
		// adoption
		{"UnixStreamFrom(nil)", func(f misuseFixture) error { _, err := UnixStreamFrom(nil); return err }, ErrNilSource},
		{"UnixListenerFrom(nil)", func(f misuseFixture) error { _, err := UnixListenerFrom(nil); return err }, ErrNilSource},
		{"UnixDatagramFrom(nil)", func(f misuseFixture) error { _, err := UnixDatagramFrom(nil); return err }, ErrNilSource},
		{"UnixStreamFrom a nil *net.UnixConn", func(f misuseFixture) error { _, err := UnixStreamFrom((*net.UnixConn)(nil)); return err }, ErrNilSource},
		{"UnixListenerFrom a nil *UnixListener", func(f misuseFixture) error { _, err := UnixListenerFrom((*UnixListener)(nil)); return err }, ErrNilSource},
		{"UnixStreamFrom a closed UnixStream", func(f misuseFixture) error { _, err := UnixStreamFrom(f.closedUnixStream()); return err }, net.ErrClosed},
		{"UnixListenerFrom a closed UnixListener", func(f misuseFixture) error { _, err := UnixListenerFrom(f.closedUnixListener()); return err }, net.ErrClosed},
		{"UnixDatagramFrom a closed UnixDatagram", func(f misuseFixture) error { _, err := UnixDatagramFrom(f.closedUnixgram()); return err }, net.ErrClosed},
		{"UnixStreamFrom a TCP stream", func(f misuseFixture) error { _, err := UnixStreamFrom(f.stream()); return err }, ErrInvalidAddress},
	}
	// The socket control methods: nil, zero and closed receivers.
	type control struct {
		name string
		call func(s *UnixStream, l *UnixListener, u *UnixDatagram) error
	}
	controls := []control{
		{"UnixStream.SyscallConn", func(s *UnixStream, _ *UnixListener, _ *UnixDatagram) error { _, err := s.SyscallConn(); return err }},
		{"UnixListener.SyscallConn", func(_ *UnixStream, l *UnixListener, _ *UnixDatagram) error { _, err := l.SyscallConn(); return err }},
		{"UnixDatagram.SyscallConn", func(_ *UnixStream, _ *UnixListener, u *UnixDatagram) error { _, err := u.SyscallConn(); return err }},
		{"UnixStream.TakeError", func(s *UnixStream, _ *UnixListener, _ *UnixDatagram) error { return s.TakeError() }},
		{"UnixListener.TakeError", func(_ *UnixStream, l *UnixListener, _ *UnixDatagram) error { return l.TakeError() }},
		{"UnixDatagram.TakeError", func(_ *UnixStream, _ *UnixListener, u *UnixDatagram) error { return u.TakeError() }},
		{"UnixStream.CloseRead", func(s *UnixStream, _ *UnixListener, _ *UnixDatagram) error { return s.CloseRead() }},
		{"UnixStream.Peek", func(s *UnixStream, _ *UnixListener, _ *UnixDatagram) error { _, err := s.Peek(readBuf); return err }},
		{"UnixStream.Writev", func(s *UnixStream, _ *UnixListener, _ *UnixDatagram) error {
			_, err := s.Writev([][]byte{readBuf})
			return err
		}},
		{"UnixStream.SetReadBuffer", func(s *UnixStream, _ *UnixListener, _ *UnixDatagram) error { return s.SetReadBuffer(4096) }},
		{"UnixStream.SetWriteBuffer", func(s *UnixStream, _ *UnixListener, _ *UnixDatagram) error { return s.SetWriteBuffer(4096) }},
		{"UnixDatagram.SetReadBuffer", func(_ *UnixStream, _ *UnixListener, u *UnixDatagram) error { return u.SetReadBuffer(4096) }},
		{"UnixDatagram.SetWriteBuffer", func(_ *UnixStream, _ *UnixListener, u *UnixDatagram) error { return u.SetWriteBuffer(4096) }},
	}
	for _, c := range controls {
		rows = append(rows,
			misuseRow{c.name + " on nil receivers", func(f misuseFixture) error { return c.call(nil, nil, nil) }, ErrNilSource},
			misuseRow{c.name + " on zero values", func(f misuseFixture) error { return c.call(&UnixStream{}, &UnixListener{}, &UnixDatagram{}) }, ErrNilSource},
			misuseRow{c.name + " on closed sockets", func(f misuseFixture) error {
				return c.call(f.closedUnixStream(), f.closedUnixListener(), f.closedUnixgram())
			}, net.ErrClosed})
	}
	rows = append(rows,
		misuseRow{"UnixStream.SetReadBuffer(-1)", func(f misuseFixture) error { return f.unixStream().SetReadBuffer(-1) }, ErrInvalidArgument},
		misuseRow{"UnixDatagram.SetWriteBuffer(-1)", func(f misuseFixture) error { return f.unixgram().SetWriteBuffer(-1) }, ErrInvalidArgument})
	return rows
}
