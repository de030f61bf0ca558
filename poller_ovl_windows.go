package poller

// The overlapped engine's registrations (the C core's iocp_ovl.c; the
// socket side is socket_ovl_windows.go): the second engine, next to AFD,
// for sockets AFD cannot poll (a non-IFS layered service provider hides the
// base socket). It is chosen per socket by the C core when the
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
//     ErrWouldBlock (a Write sends once the kernel has completed it, also
//     before a Wait collected its completion); TakeError reports its
//     failure.
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
//     the closed bit: no Go operation uses it any more; socket.sysClose). Close's remove
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
	"sync/atomic"
	"syscall"
	"unsafe"
)

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

// portIDs numbers Polls, for sockSys.boundPort.
var portIDs atomic.Uint64

// lingerTo is the C state that takes the socket's handle at its final
// release.
type lingerTo struct {
	sp    *sysPoll
	state uintptr
}

// ovlDo runs f with reg's C state under sysPoll.mu, if reg (an
// overlapped-engine registration, or nil) is live and its Poll open; it
// reports whether f ran.
func ovlDo(reg *registration, f func(c core, state uintptr)) bool {
	if reg == nil {
		return false
	}
	sp := &reg.registry.p.sys
	sp.mu.Lock()
	defer sp.mu.Unlock()
	if !sp.ovlLiveLocked(reg) {
		return false
	}
	f(sp.core, reg.sys.state)
	return true
}

// ovlLiveLocked reports whether reg's C state may be used now.
func (s *sysPoll) ovlLiveLocked(reg *registration) bool {
	return reg.sys.live && !s.closed
}

// addState registers r with the engine its socket gets: the overlapped
// engine when forced, when the socket's connect was deferred, or when the
// C core finds no base socket; AFD otherwise. A socket holding what an
// earlier registration handed back (takeBack) is readable now: it gets a
// Readable event at once (a wake packet carrying the registration's id).
func (s *sysPoll) addState(r *registration) (uintptr, uint8, error) {
	st, engine, err := s.addStateTo(r)
	if err == nil && r.owner != nil && r.owner.sys.hasHeld() {
		s.core.wake(r.id)
	}
	return st, engine, err
}

func (s *sysPoll) addStateTo(r *registration) (uintptr, uint8, error) {
	o := r.owner
	var to *syscall.Sockaddr
	if o != nil {
		to = o.sys.connectTo.Load()
	}
	flags, err := s.addFlags(r)
	if err != nil {
		return 0, 0, err
	}
	if s.forceOverlapped || to != nil {
		flags |= addOverlapped
	}
	var ptr unsafe.Pointer
	var l int32
	if to != nil {
		if ptr, l, err = rawSockaddr(*to); err != nil {
			return 0, 0, err
		}
	}
	st, engine, err := s.core.add(r.handle, r.id, uint32(r.interest), flags, ptr, l)
	switch err {
	case nil:
	case ErrOverlappedUnsupported:
		return 0, 0, err
	case errBoundElsewhereCode:
		return 0, 0, ErrBoundElsewhere
	case errRawListenerCode:
		return 0, 0, errRawListener
	default:
		return 0, 0, sysError("register", err)
	}
	if engine&0xff != engineOverlapped {
		return st, engineAFD, nil
	}
	s.keepOvl(r, engine&engineSkipBit != 0)
	return st, engineOverlapped, nil
}

// addFlags tells the core whether this Poll bound r's socket to its port
// before: binding again fails, and that is fine.
func (s *sysPoll) addFlags(r *registration) (uint32, error) {
	var flags uint32
	if o := r.owner; o != nil {
		switch port := o.sys.boundPort.Load(); {
		case port == s.portID:
			flags |= addBound
			if o.sys.boundSkip.Load() {
				flags |= addBoundSkip
			}
		case port != 0:
			return 0, ErrBoundElsewhere
		}
		return flags, nil
	}
	flags |= addRaw
	// A RawSocket: the Poll remembers the handles it bound. (A handle
	// number reused by a socket bound to another port would be taken for
	// ours: RawSocket's caller deregisters before closing.)
	s.mu.Lock()
	skip, ok := s.rawBound[r.handle]
	s.mu.Unlock()
	if ok {
		flags |= addBound
		if skip {
			flags |= addBoundSkip
		}
	}
	return flags, nil
}

// keepOvl records r's new overlapped-engine state: for the hand-back at
// close, and its socket as bound to this Poll's port (skip: with
// skip-on-success set).
func (s *sysPoll) keepOvl(r *registration, skip bool) {
	s.mu.Lock()
	if s.ovlRegs == nil {
		s.ovlRegs = make(map[*registration]struct{})
	}
	s.ovlRegs[r] = struct{}{}
	s.mu.Unlock()
	if o := r.owner; o != nil {
		o.sys.boundSkip.Store(skip)
		o.sys.boundPort.Store(s.portID)
		// A state of this socket still lingering for a send (a Deregister
		// with a send in flight) is the new state's prior now: C keeps the
		// SOCKET's close waiting for it, and only the new state is handed
		// over. The connect address stays until a delete reports the
		// connect done (takeBack).
		o.sys.linger.Store(nil)
		return
	}
	s.mu.Lock()
	if s.rawBound == nil {
		s.rawBound = make(map[uintptr]bool)
	}
	s.rawBound[r.handle] = skip
	s.mu.Unlock()
}

// removeOvlLocked deletes an overlapped-engine state at once, also
// while a wait is blocked (C keeps its memory until that wait's batch is
// applied), and keeps what it held for the socket's next Accept or
// ReadFrom. A send in flight (or a Close) leaves the state lingering: the
// socket's final release hands the handle over instead of closing it.
func (s *sysPoll) removeOvlLocked(r *registration) error {
	delete(s.ovlRegs, r)
	o := r.owner
	h, err := s.core.ovlDelete(r.sys.state, o != nil && o.closed())
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
			s.removeOvlLocked(r)
		}
	}
	s.ovlRegs = nil
}
