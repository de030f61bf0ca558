package poller

// The Go side of the overlapped engine (iocp_ovl.c): the C core's second
// engine, for sockets AFD cannot poll (a non-IFS layered service provider
// hides the base socket). It is chosen per socket by the C core when the
// base-handle query fails, or forced for every socket of a Poll by
// POLLER_WINDOWS_ENGINE=overlapped (read by New) or, in tests, by
// forceOverlapped.
//
// How it differs from AFD, for the socket layer:
//   - A registered socket is bound to the Poll's completion port for good:
//     registering it with another Poll afterwards fails with
//     ErrBoundElsewhere (also after Deregister, also after that Poll's
//     Close). A package-net socket (bound to the runtime's port) cannot be
//     registered through RawSocket.
//   - Writes of a registered stream or UDP socket go through the engine's
//     C-owned send buffer (iocp_ovl_send): while a send is in flight, Write
//     returns ErrWouldBlock and the send's completion is the Writable event.
//     What Write accepted is sent: Deregister lets a send in flight finish,
//     and so does Close, with a lingering close (below).
//   - Accept and ReadFrom of a registered listener or UDP socket take what
//     the engine's AcceptEx or WSARecvFrom received.
//   - DialTCP of a stream that will use this engine only binds the socket;
//     its connect (ConnectEx) starts at Register. A stream never registered
//     never connects. Until the connect completes Write and Read return
//     ErrWouldBlock; TakeError reports its failure.
//
// The C state of a registration must stay alive across these calls: they
// run under sysPoll.mu, which remove (deferred or not) and close also take,
// and they check that the registration is live and the Poll open.
//
// Deletes are applied at once, never deferred to the next wait (the C core
// keeps a deleted state's memory until the running or next wait has applied
// its batch), and hand back what the state held: a connection its AcceptEx
// accepted or a datagram its WSARecvFrom received goes into sockSys.held,
// which Accept and ReadFrom serve first; a new Register of a socket holding
// something gets a Readable at once. Poll.Close does the same for every
// registration before the port closes. The connect's state comes back too:
// a deferred connect still in flight at the delete goes on, and the next
// Register takes its result over (C's take_prior); a failed one is
// restarted (connectTo stays until a delete reports the connect done).
//
// Lingering close. closesocket aborts a WSASend in flight, so Close of a
// registered socket on this engine (or of one Deregistered with a send in
// flight) must not close the handle while the engine's send may be in
// flight. Ownership of the handle, one owner at a time:
//   - Go owns it until its final release (socket.release after Close set
//     the closed bit: no Go operation uses it any more). Close's remove
//     deletes the C state with linger (C keeps the state and lets the send
//     finish, but never closes the handle) and records sockSys.linger; a
//     Deregister whose delete reports IOCP_HELD_LINGER does the same.
//   - At the final release Go, instead of closing the handle, hands it over
//     (sysPoll.handover, under sysPoll.mu, at once): from then on C owns it
//     and closes it once no send is in flight (at once when none is), or at
//     iocp_port_close.
//   - A new Register of the socket makes the lingering state the new
//     state's prior in C (the new one's close waits for its send); Go
//     forgets it, and only the newest state is handed over.
//   - If the Poll closed first, the core freed the state without closing
//     the handle, which stays Go's: sysPoll.handover (or sysPoll.close, for
//     handovers still queued) closes it after core.close returned.

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"unsafe"
)

// engineCore is the part of a core that has the overlapped engine: the C
// core (core_cgo_ovl_windows.go). A core without it (the pure-Go core) is
// AFD-only: forcing the overlapped engine there fails with
// ErrOverlappedUnsupported.
type engineCore interface {
	// addEngine is add with an engine choice; connectTo (a raw sockaddr,
	// or nil) starts a deferred connect.
	addEngine(socket uintptr, id uint64, interest uint32, flags uint32, connectTo unsafe.Pointer, connectLen int32) (state uintptr, engine uint32, err error)
	send(state uintptr, p []byte, to unsafe.Pointer, toLen int32) (int, error)
	recvfrom(state uintptr, p []byte, from *syscall.RawSockaddrAny) (int, error)
	accept(state uintptr, remote *syscall.RawSockaddrAny) (uintptr, error)
	connectStatus(state uintptr, take bool) error
	// deleteState deletes a state at once (also while a wait is blocked)
	// and hands back what it held (iocp_ovl_delete).
	deleteState(state uintptr, linger bool) (heldBack, error)
	// handover gives the SOCKET of a lingering state to C (iocp_ovl_handover).
	handover(state uintptr)
}

// heldBack is iocp.h's iocp_held in Go: an accepted connection (hasFD) or
// a received datagram (hasData) that a deleted state held, now Go's, and
// the state's connect and linger flags.
type heldBack struct {
	fd         uintptr
	hasFD      bool
	data       []byte
	hasData    bool
	sa         syscall.Sockaddr
	flags      uint32
	connectErr syscall.Errno
}

// iocp_held.flags.
const (
	heldLinger          = 0x1
	heldConnected       = 0x2
	heldConnectCanceled = 0x4
	heldConnectFailed   = 0x8
)

// errRawListener: a RawSocket listener cannot use the overlapped engine,
// whose only readiness signal for a listener, AcceptEx, takes the
// connection away from the caller's own accept.
var errRawListener = fmt.Errorf("poller: register: a raw listener on the overlapped engine: %w", errors.ErrUnsupported)

// ErrOverlappedUnsupported: the overlapped engine was asked for, and the
// Poll's core has none (the pure-Go core of builds without cgo).
var ErrOverlappedUnsupported = errors.New("poller: the overlapped engine needs the C core (a cgo build)")

// Engines (iocp.h's IOCP_ENGINE_*) and add flags (IOCP_ADD_*).
const (
	engineAFD        = 0
	engineOverlapped = 1
	engineSkipBit    = 0x100 // the socket has skip-on-success set

	addOverlapped = 0x1
	addBound      = 0x2
	addBoundSkip  = 0x4
	addRaw        = 0x8 // a RawSocket: the engine takes none of its data

	errBoundElsewhereCode = syscall.Errno(0x20000001) // IOCP_E_BOUND_ELSEWHERE
	errRawListenerCode    = syscall.Errno(0x20000002) // IOCP_E_RAW_LISTENER
	wsaENotConn           = syscall.Errno(10057)
)

// forceOverlapped makes every Poll created while it is set use the
// overlapped engine (tests). POLLER_WINDOWS_ENGINE=overlapped does the
// same for a whole process.
var forceOverlapped atomic.Bool

// overlappedForced reports whether New should force the overlapped engine.
func overlappedForced() bool {
	return forceOverlapped.Load() || os.Getenv("POLLER_WINDOWS_ENGINE") == "overlapped"
}

// engineFor is the C core's choice of engine for a socket
// (iocp_engine_for; nil without cgo): AFD, or the overlapped engine when the
// socket's base-handle query fails.
var engineFor func(fd uintptr) int

// portIDs numbers Polls, for sockSys.boundPort.
var portIDs atomic.Uint64

// sockSys is the overlapped engine's per-socket data.
type sockSys struct {
	connectTo atomic.Pointer[syscall.Sockaddr] // deferred connect, until Register starts it
	boundPort atomic.Uint64                    // sysPoll.portID this socket is bound to; 0 none
	boundSkip atomic.Bool                      // skip-on-success was set when bound
	linger    atomic.Pointer[lingerTo]         // set by a remove with a send in flight (and every Close's): hand the handle over

	// What the engine handed back at Deregister or Poll.Close: accepted
	// connections or received datagrams, older than anything still in the
	// kernel, so Accept and ReadFrom take them first.
	heldMu sync.Mutex
	held   []heldItem
}

// heldItem is one accepted connection (fd) or one datagram (data) kept for
// the next Accept or ReadFrom.
type heldItem struct {
	fd   uintptr
	data []byte
	sa   syscall.Sockaddr
}

// takeBack keeps what a deleted state held and learns its connect state:
// a connect known done is not restarted at the next Register; one in
// flight (taken over by the next Register) or failed keeps connectTo, so a
// re-Register never reports a connect that did not happen.
func (ss *sockSys) takeBack(h heldBack) {
	if h.flags&heldConnected != 0 {
		ss.connectTo.Store(nil)
	}
	if !h.hasFD && !h.hasData {
		return
	}
	ss.heldMu.Lock()
	ss.held = append(ss.held, heldItem{fd: h.fd, data: h.data, sa: h.sa})
	ss.heldMu.Unlock()
}

// popHeld takes the oldest item kept by takeBack.
func (ss *sockSys) popHeld() (heldItem, bool) {
	ss.heldMu.Lock()
	defer ss.heldMu.Unlock()
	if len(ss.held) == 0 {
		return heldItem{}, false
	}
	it := ss.held[0]
	ss.held[0] = heldItem{}
	ss.held = ss.held[1:]
	return it, true
}

func (ss *sockSys) hasHeld() bool {
	ss.heldMu.Lock()
	defer ss.heldMu.Unlock()
	return len(ss.held) > 0
}

// closeHeld closes the connections nobody accepted (the listener's close).
func (ss *sockSys) closeHeld() {
	ss.heldMu.Lock()
	items := ss.held
	ss.held = nil
	ss.heldMu.Unlock()
	for _, it := range items {
		if it.data == nil {
			sysCloseSocket(it.fd)
		}
	}
}

// lingerTo is the C state that takes the socket's handle at its final
// release.
type lingerTo struct {
	sp    *sysPoll
	state uintptr
}

// closeHandle closes the socket's handle at its final release, or hands it
// to the overlapped engine's lingering state.
func (s *socket) closeHandle() {
	s.sys.closeHeld()
	if l := s.sys.linger.Load(); l != nil {
		l.sp.handover(l.state, s.fd)
		return
	}
	sysCloseSocket(s.fd)
}

// deferConnect binds a new stream instead of connecting it when it is for
// the overlapped engine: ConnectEx needs the socket bound to the port,
// which only Register does.
func (s *socket) deferConnect(family int, sa syscall.Sockaddr) (bool, error) {
	if engineFor == nil {
		return false, nil // no overlapped engine in this build
	}
	if !overlappedForced() && engineFor(s.fd) != engineOverlapped {
		return false, nil
	}
	if _, err := sysGetsockname(s.fd); err != nil { // not bound yet by a Dialer's LocalAddr
		var any syscall.Sockaddr = &syscall.SockaddrInet4{}
		if family == syscall.AF_INET6 {
			any = &syscall.SockaddrInet6{}
		}
		if err := sysBind(s.fd, any); err != nil {
			return false, err
		}
	}
	s.sys.connectTo.Store(&sa)
	return true, nil
}

// connectDeferred reports whether the stream's connect waits for Register.
func (s *socket) connectDeferred() bool { return s.sys.connectTo.Load() != nil }

// overlappedBound reports whether the socket is bound to a Poll for good.
func (s *socket) overlappedBound() bool { return s.sys.boundPort.Load() != 0 }

// engineReg returns the socket's registration when it is on the overlapped
// engine; nil-safe (the zero TCPStream has no socket).
func (s *socket) engineReg() *registration {
	if s == nil {
		return nil
	}
	if reg := s.reg.Load(); reg != nil && reg.sys.engine == engineOverlapped {
		return reg
	}
	return nil
}

func (s *socket) engineWrite(p []byte, to syscall.Sockaddr) (int, error, bool) {
	reg := s.engineReg()
	if reg == nil {
		return 0, nil, false
	}
	var ptr unsafe.Pointer
	var l int32
	if to != nil {
		var err error
		if ptr, l, err = rawSockaddr(to); err != nil {
			return 0, err, true
		}
	}
	var n int
	var err error
	if !engineDo(reg, func(ec engineCore, state uintptr) {
		n, err = ec.send(state, p, ptr, l)
	}) {
		return 0, nil, false
	}
	switch {
	case err == nil && n == len(p):
		return n, nil, true
	case err == nil || err == wsaEWouldBlock:
		return n, ErrWouldBlock, true // the engine re-armed Writable
	case to != nil:
		return n, sysError("sendto", err), true
	}
	return n, sysError("write", err), true
}

func (s *socket) engineAccept() (uintptr, syscall.Sockaddr, error, bool) {
	if it, ok := s.sys.popHeld(); ok {
		return it.fd, it.sa, nil, true // accepted before a Deregister
	}
	var fd uintptr
	var rsa syscall.RawSockaddrAny
	var err error
	if !engineDo(s.engineReg(), func(ec engineCore, state uintptr) {
		fd, err = ec.accept(state, &rsa)
	}) {
		return 0, nil, nil, false
	}
	if err != nil {
		return 0, nil, err, true
	}
	sa, err := rsa.Sockaddr()
	if err != nil {
		sa = nil
	}
	return fd, sa, nil, true
}

func (s *socket) engineRecvfrom(p []byte) (int, syscall.Sockaddr, error, bool) {
	if it, ok := s.sys.popHeld(); ok {
		return copy(p, it.data), it.sa, nil, true // received before a Deregister
	}
	var n int
	var rsa syscall.RawSockaddrAny
	var err error
	if !engineDo(s.engineReg(), func(ec engineCore, state uintptr) {
		n, err = ec.recvfrom(state, p, &rsa)
	}) {
		return 0, nil, nil, false
	}
	if err != nil {
		return 0, nil, err, true
	}
	sa, _ := rsa.Sockaddr()
	return n, sa, nil, true
}

// engineTakeError reports a deferred connect's failure (nil while it is in
// flight); done is false when SO_ERROR has the answer.
func (s *socket) engineTakeError() (error, bool) {
	if err := s.connectStatus(true); err == wsaEWouldBlock {
		return nil, true
	} else if err != nil {
		return sysError("connect", err), true
	}
	return nil, false
}

// engineReadError turns WSAENOTCONN on a stream whose deferred connect is
// in flight into ErrWouldBlock (its completion brings the next event), and
// on one whose connect failed into that failure.
func (s *socket) engineReadError(err error) error {
	if err != wsaENotConn {
		return err
	}
	switch st := s.connectStatus(false); st {
	case nil:
		return err
	case wsaEWouldBlock:
		return ErrWouldBlock
	default:
		return st
	}
}

func (s *socket) connectStatus(take bool) error {
	var err error
	engineDo(s.engineReg(), func(ec engineCore, state uintptr) {
		err = ec.connectStatus(state, take)
	})
	return err
}

// engineDo runs f with reg's C state under sysPoll.mu, if reg (an
// overlapped-engine registration, or nil) is live and its Poll open; it
// reports whether f ran.
func engineDo(reg *registration, f func(ec engineCore, state uintptr)) bool {
	if reg == nil {
		return false
	}
	sp := &reg.registry.p.sys
	sp.mu.Lock()
	defer sp.mu.Unlock()
	if !sp.engineLiveLocked(reg) {
		return false
	}
	f(sp.ec, reg.sys.state)
	return true
}

// engineLiveLocked reports whether reg's C state may be used now.
func (s *sysPoll) engineLiveLocked(reg *registration) bool {
	return reg.sys.live && !s.closed && s.ec != nil
}

// addEngine registers r with the engine its socket gets: the overlapped
// engine when forced, when the socket's connect was deferred, or when the
// C core finds no base socket; AFD otherwise. A socket holding what an
// earlier registration handed back (takeBack) is readable now: it gets a
// Readable event at once (a wake packet carrying the registration's id).
func (s *sysPoll) addEngine(r *registration) (uintptr, uint8, error) {
	st, engine, err := s.addEngineTo(r)
	if err == nil && r.owner != nil && r.owner.sys.hasHeld() {
		s.core.wake(r.id)
	}
	return st, engine, err
}

func (s *sysPoll) addEngineTo(r *registration) (uintptr, uint8, error) {
	o := r.owner
	var to *syscall.Sockaddr
	if o != nil {
		to = o.sys.connectTo.Load()
	}
	force := s.forceOverlapped || to != nil
	if s.ec == nil {
		if force {
			return 0, 0, ErrOverlappedUnsupported
		}
		st, err := s.core.add(r.handle, r.id, uint32(r.interest))
		if err != nil {
			return 0, 0, sysError("register", err)
		}
		return st, engineAFD, nil
	}
	var flags uint32
	if force {
		flags |= addOverlapped
	}
	// Bound by this Poll before: binding again fails, and that is fine.
	if o != nil {
		switch port := o.sys.boundPort.Load(); {
		case port == s.portID:
			flags |= addBound
			if o.sys.boundSkip.Load() {
				flags |= addBoundSkip
			}
		case port != 0:
			return 0, 0, ErrBoundElsewhere
		}
	} else {
		flags |= addRaw
		// A RawSocket: the Poll remembers the handles it bound. (A handle
		// number reused by a socket bound to another port would be taken
		// for ours: RawSocket's caller deregisters before closing.)
		s.mu.Lock()
		skip, ok := s.rawBound[r.handle]
		s.mu.Unlock()
		if ok {
			flags |= addBound
			if skip {
				flags |= addBoundSkip
			}
		}
	}
	var ptr unsafe.Pointer
	var l int32
	if to != nil {
		var err error
		if ptr, l, err = rawSockaddr(*to); err != nil {
			return 0, 0, err
		}
	}
	st, engine, err := s.ec.addEngine(r.handle, r.id, uint32(r.interest), flags, ptr, l)
	if err == errBoundElsewhereCode {
		return 0, 0, ErrBoundElsewhere
	}
	if err == errRawListenerCode {
		return 0, 0, errRawListener
	}
	if err != nil {
		return 0, 0, sysError("register", err)
	}
	if engine&0xff != engineOverlapped {
		return st, engineAFD, nil
	}
	skip := engine&engineSkipBit != 0
	s.mu.Lock()
	if s.ovlRegs == nil {
		s.ovlRegs = make(map[*registration]struct{})
	}
	s.ovlRegs[r] = struct{}{}
	s.mu.Unlock()
	if o != nil {
		o.sys.boundSkip.Store(skip)
		o.sys.boundPort.Store(s.portID)
		// A state of this socket still lingering for a send (a Deregister
		// with a send in flight) is the new state's prior now: C keeps the
		// SOCKET's close waiting for it, and only the new state is handed
		// over. The connect address stays until a delete reports the
		// connect done (takeBack).
		o.sys.linger.Store(nil)
	} else {
		s.mu.Lock()
		if s.rawBound == nil {
			s.rawBound = make(map[uintptr]bool)
		}
		s.rawBound[r.handle] = skip
		s.mu.Unlock()
	}
	return st, engineOverlapped, nil
}

// removeOverlappedLocked deletes an overlapped-engine state at once, also
// while a wait is blocked (C keeps its memory until that wait's batch is
// applied), and keeps what it held for the socket's next Accept or
// ReadFrom. A send in flight (or a Close) leaves the state lingering: the
// socket's final release hands the handle over instead of closing it.
func (s *sysPoll) removeOverlappedLocked(r *registration) error {
	delete(s.ovlRegs, r)
	o := r.owner
	h, err := s.ec.deleteState(r.sys.state, o != nil && o.closed())
	if err != nil {
		return sysError("deregister", err)
	}
	if o == nil {
		// A RawSocket's caller accepts and reads on its own handle: what
		// the engine held has nobody to go to.
		if h.hasFD {
			sysCloseSocket(h.fd)
		}
		return nil
	}
	o.sys.takeBack(h)
	if h.flags&heldLinger != 0 {
		o.sys.linger.Store(&lingerTo{sp: s, state: r.sys.state})
	} else {
		o.sys.linger.Store(nil)
	}
	return nil
}

// handBackAllLocked deletes every live overlapped-engine state before the
// port closes, so that Poll.Close, like Deregister, loses no accepted
// connection and no received datagram.
func (s *sysPoll) handBackAllLocked() {
	for r := range s.ovlRegs {
		if r.sys.live {
			r.sys.live = false
			s.removeOverlappedLocked(r)
		}
	}
	s.ovlRegs = nil
}
