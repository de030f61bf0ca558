package poller

import (
	"errors"
	"fmt"
	"net"
	"os"
	"runtime"
	"sync"
	"syscall"
)

// Unix-domain sockets: UnixListener and UnixStream (networks "unix" and
// "unixpacket"), the twins of TCPListener and TCPStream, and UnixDatagram
// ("unixgram"), the twin of UDPSocket. What each OS has:
//
//   - Linux: all three, and abstract names (a path beginning with "@", as
//     in package net: no file is made, nothing is unlinked).
//   - macOS: "unix" and "unixgram"; "unixpacket" gives ErrUnixUnsupported.
//   - FreeBSD, NetBSD, OpenBSD, DragonFly: all three.
//   - Windows: "unix" streams where Winsock has AF_UNIX (Windows 10 1803
//     and later), polled by AFD like TCP; where it has not (older Windows,
//     and Wine 8, whose socket(AF_UNIX) fails with WSAEAFNOSUPPORT),
//     ListenUnix and DialUnix fail with ErrUnixUnsupported. "unixpacket"
//     and "unixgram" give ErrUnixUnsupported always. Untested on a real
//     Windows (none here); the overlapped engine, when forced
//     (POLLER_WINDOWS_ENGINE=overlapped), cannot accept on a Unix listener:
//     its AcceptEx makes TCP sockets. A dialed Unix stream connects at
//     DialUnix there too (no deferred connect).
//
// Names are paths, at most len(syscall.RawSockaddrUnix{}.Path)-1 bytes
// (107 on Linux and Windows, 103 on macOS and the BSDs), without NUL
// bytes. A listener, or a datagram socket, that bound a path unlinks it at
// Close, unless SetUnlinkOnClose(false) was called or the path names
// another file by then. Sockets adopted with UnixListenerFrom or
// UnixDatagramFrom never unlink.

// What the OS has (unixSocket, in unix_unix.go and unix_windows.go, makes
// the socket).
const (
	unixAbstractNames   = runtime.GOOS == "linux" || runtime.GOOS == "android"
	unixPacketSupported = runtime.GOOS != "darwin" && runtime.GOOS != "ios" && runtime.GOOS != "windows"
	unixgramSupported   = runtime.GOOS != "windows"
)

// ErrUnixUnsupported: the OS lacks this kind of Unix-domain socket (see
// the list above). It matches errors.ErrUnsupported; when the OS refused
// the socket, the error also matches the system's error (on Windows,
// syscall.EAFNOSUPPORT for WSAEAFNOSUPPORT).
var ErrUnixUnsupported = fmt.Errorf("poller: this kind of Unix-domain socket is not supported on %s: %w", runtime.GOOS, errors.ErrUnsupported)

// UnixListener is a non-blocking listening Unix-domain socket ("unix" or
// "unixpacket"). Register it for Readable and Accept until ErrWouldBlock.
type UnixListener struct {
	sock   *socket
	addr   *net.UnixAddr
	unlink *unlinker // nil when Close has no file to remove
}

// UnixStream is a non-blocking Unix-domain connection: a byte stream
// ("unix") or, on "unixpacket", a sequence of messages, each read whole by
// one Read (a message longer than the buffer is cut, the rest dropped,
// as with read(2)); Write sends p as one message.
type UnixStream struct {
	sock   *socket
	remote *net.UnixAddr
	net    string
}

// UnixDatagram is a non-blocking Unix-domain datagram socket ("unixgram").
type UnixDatagram struct {
	sock   *socket
	unlink *unlinker
}

func (l *UnixListener) source() (uintptr, *socket, error) {
	if l == nil {
		return 0, nil, ErrNilSource
	}
	return l.sock.source()
}

func (s *UnixStream) source() (uintptr, *socket, error) {
	if s == nil {
		return 0, nil, ErrNilSource
	}
	return s.sock.source()
}

func (u *UnixDatagram) source() (uintptr, *socket, error) {
	if u == nil {
		return 0, nil, ErrNilSource
	}
	return u.sock.source()
}

// unixType maps a stream network to its socket type.
func unixType(op, network string) (int, error) {
	switch network {
	case "unix":
		return syscall.SOCK_STREAM, nil
	case "unixpacket":
		if !unixPacketSupported {
			return 0, &net.OpError{Op: op, Net: network, Err: ErrUnixUnsupported}
		}
		return syscall.SOCK_SEQPACKET, nil
	}
	return 0, &net.OpError{Op: op, Net: network, Err: fmt.Errorf("%w: network %q is not unix or unixpacket", ErrInvalidAddress, network)}
}

// unixSockaddr checks a path and makes its OS address. An empty path is
// refused unless emptyOK.
func unixSockaddr(op, network, path string, emptyOK bool) (*syscall.SockaddrUnix, error) {
	bad := func(why string) error {
		return &net.OpError{Op: op, Net: network, Addr: &net.UnixAddr{Name: path, Net: network},
			Err: fmt.Errorf("%w: %s", ErrInvalidAddress, why)}
	}
	max := len(syscall.RawSockaddrUnix{}.Path) - 1 // room for the NUL
	if isAbstract(path) {
		max++ // no NUL: the length says where it ends
	}
	switch {
	case path == "" && !emptyOK:
		return nil, bad("empty path")
	case len(path) > max:
		return nil, bad(fmt.Sprintf("path of %d bytes, more than %d", len(path), max))
	}
	for i := 0; i < len(path); i++ {
		if path[i] == 0 {
			return nil, bad("NUL byte in the path")
		}
	}
	return &syscall.SockaddrUnix{Name: path}, nil
}

// isAbstract reports whether path names Linux's abstract namespace.
func isAbstract(path string) bool {
	return unixAbstractNames && len(path) > 0 && path[0] == '@'
}

// unixAddr converts an OS address; nil for anything but a Unix address.
// An unnamed socket's address is "@", as in package net.
func unixAddr(sa syscall.Sockaddr, network string) *net.UnixAddr {
	if u, ok := sa.(*syscall.SockaddrUnix); ok {
		return &net.UnixAddr{Name: u.Name, Net: network}
	}
	return nil
}

// unixBind creates a Unix socket of typ, runs lc.Control and binds it to
// path ("" leaves it unbound). It returns what Close must unlink (nil for
// none).
func (lc *ListenConfig) unixBind(network, path string, typ int) (*socket, *unlinker, error) {
	if lc == nil {
		lc = &ListenConfig{}
	}
	if lc.ReusePort {
		return nil, nil, &net.OpError{Op: "listen", Net: network, Err: fmt.Errorf("%w: ReusePort on a Unix-domain socket", ErrInvalidArgument)}
	}
	sa, err := unixSockaddr("listen", network, path, typ == syscall.SOCK_DGRAM)
	if err != nil {
		return nil, nil, err
	}
	fd, err := unixSocket(typ)
	if err != nil {
		return nil, nil, err
	}
	var bindTo syscall.Sockaddr // none for "": unbound
	if path != "" {
		bindTo = sa
	}
	sock := newSocket(fd)
	if err := sock.controlBind(lc.Control, "listen", network, network, path, bindTo); err != nil {
		return nil, nil, err
	}
	if path == "" {
		return sock, nil, nil
	}
	return sock, newUnlinker(path), nil
}

// unlinker removes the file a socket's bind made, once, at Close.
type unlinker struct {
	path string
	info os.FileInfo // the file bind made; nil if it could not be read
	mu   sync.Mutex
	off  bool // SetUnlinkOnClose(false)
	done bool
}

// newUnlinker records the file bind made at path; nil for an abstract name.
func newUnlinker(path string) *unlinker {
	if isAbstract(path) {
		return nil
	}
	info, _ := os.Lstat(path)
	return &unlinker{path: path, info: info}
}

func (u *unlinker) set(on bool) {
	if u == nil {
		return
	}
	u.mu.Lock()
	u.off = !on
	u.mu.Unlock()
}

// run removes the file, unless it was turned off or the path now names
// another file (the socket's was removed, and the path reused).
func (u *unlinker) run() {
	if u == nil {
		return
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.off || u.done {
		return
	}
	u.done = true
	if now, err := os.Lstat(u.path); err != nil || (u.info != nil && !os.SameFile(u.info, now)) {
		return
	}
	os.Remove(u.path)
}

// ListenUnix listens on path, of network "unix" (a stream) or
// "unixpacket" (messages; Linux and the BSDs): the zero ListenConfig's
// ListenUnix. The path must not exist (EADDRINUSE otherwise, as in package
// net); Close unlinks it.
func ListenUnix(network, path string) (*UnixListener, error) {
	return (&ListenConfig{}).ListenUnix(network, path)
}

// ListenUnix listens on path as the package-level ListenUnix does, with
// lc's Backlog and Control (called with network and path before the
// bind). ReusePort has no meaning here: ErrInvalidArgument.
func (lc *ListenConfig) ListenUnix(network, path string) (*UnixListener, error) {
	typ, err := unixType("listen", network)
	if err != nil {
		return nil, err
	}
	backlog := 0
	if lc != nil {
		backlog = lc.Backlog
	}
	if backlog < 0 {
		return nil, fmt.Errorf("%w: Backlog %d", ErrInvalidArgument, backlog)
	}
	sock, unlink, err := lc.unixBind(network, path, typ)
	if err != nil {
		return nil, err
	}
	if err := sysListenBacklog(sock.fd, backlog); err != nil {
		sysCloseSocket(sock.fd)
		unlink.run()
		return nil, sysError("listen", err)
	}
	return &UnixListener{sock: sock, addr: &net.UnixAddr{Name: path, Net: network}, unlink: unlink}, nil
}

// Addr returns the listener's address; nil for a nil listener.
func (l *UnixListener) Addr() net.Addr {
	if l == nil || l.addr == nil {
		return nil
	}
	return l.addr
}

// SetUnlinkOnClose sets whether Close removes the listener's file (by
// default it does, when ListenUnix made it).
func (l *UnixListener) SetUnlinkOnClose(unlink bool) {
	if l != nil {
		l.unlink.set(unlink)
	}
}

// Close closes the listener, deregistering it first, and unlinks the path
// ListenUnix bound.
func (l *UnixListener) Close() error {
	if l == nil {
		return ErrNilSource
	}
	err := l.sock.close()
	if err == nil {
		l.unlink.run()
	}
	return err
}

// Accept accepts one pending connection as a non-blocking stream, or
// returns ErrWouldBlock when none is pending. The peer's address is
// usually unnamed ("@").
func (l *UnixListener) Accept() (*UnixStream, net.Addr, error) {
	if l == nil {
		return nil, nil, ErrNilSource
	}
	fd, sa, err := l.sock.acceptConn()
	if err != nil {
		return nil, nil, err
	}
	network := "unix"
	if l.addr != nil {
		network = l.addr.Net
	}
	s := &UnixStream{sock: newSocket(fd), remote: unixAddr(sa, network), net: network}
	if s.remote == nil {
		s.remote = &net.UnixAddr{Name: "@", Net: network}
	}
	return s, s.remote, nil
}

// DialUnix connects to the listener at path, of network "unix" or
// "unixpacket", and returns at once: the zero Dialer's DialUnix. A Unix
// connect does not wait for the listener's accept: on Linux and the BSDs
// it succeeds or fails here (a missing path is ENOENT, a path nobody
// listens on ECONNREFUSED, a full accept queue EAGAIN). On Windows it may
// finish later, like DialTCP's: the stream becomes writable, and TakeError
// tells whether it failed.
func DialUnix(network, path string) (*UnixStream, error) {
	return (&Dialer{}).DialUnix(network, path)
}

// DialUnix connects as the package-level DialUnix does, with d's options:
// LocalAddr, if set, must be a *net.UnixAddr to bind first (Close of the
// stream does not unlink it); Control is called with network and path
// before the bind and connect.
func (d *Dialer) DialUnix(network, path string) (*UnixStream, error) {
	if d == nil {
		d = &Dialer{}
	}
	typ, err := unixType("dial", network)
	if err != nil {
		return nil, err
	}
	sa, err := unixSockaddr("dial", network, path, false)
	if err != nil {
		return nil, err
	}
	var local syscall.Sockaddr // none unless LocalAddr is set
	if d.LocalAddr != nil {
		la, ok := d.LocalAddr.(*net.UnixAddr)
		if !ok || la == nil {
			return nil, &net.OpError{Op: "dial", Net: network, Addr: d.LocalAddr,
				Err: fmt.Errorf("%w: LocalAddr %T is not a *net.UnixAddr", ErrInvalidAddress, d.LocalAddr)}
		}
		sa, err := unixSockaddr("dial", network, la.Name, false)
		if err != nil {
			return nil, err
		}
		local = sa
	}
	fd, err := unixSocket(typ)
	if err != nil {
		return nil, err
	}
	sock := newSocket(fd)
	if err := sock.controlBind(d.Control, "dial", network, network, path, local); err != nil {
		return nil, err
	}
	// A plain connect, never deferred to Register: Windows' overlapped
	// engine has no ConnectEx for AF_UNIX.
	if err := startConnect(fd, sa); err != nil {
		sysCloseSocket(fd)
		return nil, err
	}
	return &UnixStream{sock: sock, remote: &net.UnixAddr{Name: path, Net: network}, net: network}, nil
}

// Read reads what is available into p. It returns io.EOF after the peer's
// orderly close (on "unixpacket", also for a message of zero bytes, as in
// package net) and ErrWouldBlock when nothing is available now.
func (s *UnixStream) Read(p []byte) (int, error) {
	if s == nil {
		return 0, ErrNilSource
	}
	return s.sock.readStream(p)
}

// Write writes as much of p as the socket takes now. If it takes less than
// all of p, it returns the count with ErrWouldBlock: wait for Writable and
// write the rest. On "unixpacket", p is one message, sent whole or not at
// all (EMSGSIZE if it can never fit).
func (s *UnixStream) Write(p []byte) (int, error) {
	if s == nil {
		return 0, ErrNilSource
	}
	return s.sock.writeStream(p)
}

// CloseWrite shuts down the sending side; the peer reads io.EOF.
func (s *UnixStream) CloseWrite() error {
	if s == nil {
		return ErrNilSource
	}
	return s.sock.do("shutdown", sysShutdownWrite)
}

// Close closes the stream, deregistering it first.
func (s *UnixStream) Close() error {
	if s == nil {
		return ErrNilSource
	}
	return s.sock.close()
}

// LocalAddr returns the stream's local address ("@" when unnamed, as a
// dialed stream usually is); nil for a nil or closed stream.
func (s *UnixStream) LocalAddr() net.Addr {
	if s == nil {
		return nil
	}
	if a := unixAddr(s.sock.localAddr(), s.net); a != nil {
		return a
	}
	return nil
}

// RemoteAddr returns the peer's address: the path dialed, or for an
// accepted stream what the OS says (usually "@", unnamed); nil for a nil
// stream.
func (s *UnixStream) RemoteAddr() net.Addr {
	if s == nil || s.remote == nil {
		return nil
	}
	return s.remote
}

// ListenUnixgram makes a non-blocking Unix datagram socket bound to path,
// or unbound for "" (it can send; peers cannot answer it): the zero
// ListenConfig's ListenUnixgram. Close unlinks the path, unlike package
// net's ListenUnixgram, so that the next bind of the same path does not
// fail with EADDRINUSE. On Windows it returns ErrUnixUnsupported.
func ListenUnixgram(path string) (*UnixDatagram, error) {
	return (&ListenConfig{}).ListenUnixgram(path)
}

// ListenUnixgram binds as the package-level ListenUnixgram does, with lc's
// Control (called with "unixgram" and path before the bind); Backlog is
// ignored, ReusePort is ErrInvalidArgument.
func (lc *ListenConfig) ListenUnixgram(path string) (*UnixDatagram, error) {
	if !unixgramSupported {
		return nil, &net.OpError{Op: "listen", Net: "unixgram", Err: ErrUnixUnsupported}
	}
	sock, unlink, err := lc.unixBind("unixgram", path, syscall.SOCK_DGRAM)
	if err != nil {
		return nil, err
	}
	return &UnixDatagram{sock: sock, unlink: unlink}, nil
}

// SetUnlinkOnClose sets whether Close removes the socket's file (by
// default it does, when ListenUnixgram bound one).
func (u *UnixDatagram) SetUnlinkOnClose(unlink bool) {
	if u != nil {
		u.unlink.set(unlink)
	}
}

// Close closes the socket, deregistering it first, and unlinks the path
// ListenUnixgram bound.
func (u *UnixDatagram) Close() error {
	if u == nil {
		return ErrNilSource
	}
	err := u.sock.close()
	if err == nil {
		u.unlink.run()
	}
	return err
}

// ReadFromUnix reads one datagram into p (truncating what does not fit)
// and returns its sender, nil when the sender is unbound; ErrWouldBlock
// when none is queued.
func (u *UnixDatagram) ReadFromUnix(p []byte) (int, *net.UnixAddr, error) {
	if u == nil {
		return 0, nil, ErrNilSource
	}
	if err := u.sock.acquire(); err != nil {
		return 0, nil, err
	}
	defer u.sock.release()
	var sa syscall.Sockaddr
	n, err := u.sock.recvDatagram(func() (n int, err error) {
		n, sa, err = u.sock.recvfrom(p)
		return n, err
	})
	if err != nil {
		return 0, nil, err
	}
	from := unixAddr(sa, "unixgram")
	if from != nil && (from.Name == "" || from.Name == "@") {
		from = nil // unbound sender
	}
	return n, from, nil
}

// ReadFrom is ReadFromUnix with the sender as a net.Addr (a nil interface
// when the sender is unbound).
func (u *UnixDatagram) ReadFrom(p []byte) (int, net.Addr, error) {
	n, from, err := u.ReadFromUnix(p)
	if from == nil {
		return n, nil, err
	}
	return n, from, err
}

// WriteToUnix sends p as one datagram to the socket bound at addr.Name.
// A receiver whose queue is full gives ErrWouldBlock (ENOBUFS on macOS);
// on Linux no Writable event may follow it for an unconnected socket, so
// retry after a delay, or once the receiver has read.
func (u *UnixDatagram) WriteToUnix(p []byte, addr *net.UnixAddr) (int, error) {
	if u == nil {
		return 0, ErrNilSource
	}
	if addr == nil {
		return 0, &net.OpError{Op: "write", Net: "unixgram", Err: fmt.Errorf("%w: nil address", ErrInvalidAddress)}
	}
	to, err := unixSockaddr("write", "unixgram", addr.Name, false)
	if err != nil {
		return 0, err
	}
	if err := u.sock.acquire(); err != nil {
		return 0, err
	}
	defer u.sock.release()
	return u.sock.sendDatagram(len(p), func() error { return u.sock.sysSendto(p, to) })
}

// WriteTo is WriteToUnix for an address that must be a *net.UnixAddr.
func (u *UnixDatagram) WriteTo(p []byte, addr net.Addr) (int, error) {
	ua, ok := addr.(*net.UnixAddr)
	if !ok {
		return 0, &net.OpError{Op: "write", Net: "unixgram", Err: fmt.Errorf("%w: %T is not a *net.UnixAddr", ErrInvalidAddress, addr)}
	}
	return u.WriteToUnix(p, ua)
}

// LocalAddr returns the socket's bound address; nil for a nil or closed
// socket.
func (u *UnixDatagram) LocalAddr() net.Addr {
	if u == nil {
		return nil
	}
	if a := unixAddr(u.sock.localAddr(), "unixgram"); a != nil {
		return a
	}
	return nil
}
