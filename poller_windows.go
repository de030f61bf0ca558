package poller

import (
	"sync"
	"syscall"
	"unsafe"
)

// The Windows backend: a completion port polled for socket readiness with
// AFD (as mio and wepoll do), or, for sockets AFD cannot poll, driven by
// overlapped operations (poller_ovl_windows.go). The port and its
// per-socket states live in a core behind the interface below: the C core
// (core_cgo_windows.go: iocp.c, iocp_afd.c and iocp_ovl.c) or the pure-Go core
// (core_go_windows.go, AFD only). This file keeps what both share:
// registration ids, the queue of re-arms that the next wait flushes in the
// same crossing, and deletes made during a blocked wait, which retire the
// state at once and free it in the next wait.

const sysKeyIsHandle = false

var _ backend = (*sysPoll)(nil)

// core is a completion port and its per-socket states; its methods mirror
// iocp.h, one call each. States are opaque handles owned by Go from add
// until remove (or ovlDelete). A core without the overlapped engine (the
// pure-Go core) answers ErrOverlappedUnsupported for it: to an add that asks
// for it, and to every ovl call.
type core interface {
	open() error
	// add registers socket with the engine that flags (addOverlapped and
	// the other add* bits) and the socket itself call for
	// (iocp_sock_add_ex); connectTo (a raw sockaddr, or nil) starts a
	// deferred connect. engine is the engine the state got
	// (engineAFD or engineOverlapped, with engineSkipBit).
	add(socket uintptr, id uint64, interest, flags uint32, connectTo unsafe.Pointer, connectLen int32) (state uintptr, engine uint32, err error)
	modify(state uintptr, id uint64, interest uint32) error
	rearm(state uintptr, bits uint32) error
	remove(state uintptr) error
	// retire stops an AFD state at once without freeing it
	// (iocp_sock_retire): no poll names its socket afterwards. The state
	// stays Go's until a remove (or a rearmDelete entry) frees it.
	retire(state uintptr) error
	// wait applies rearms, then fills out with at most len(out) records.
	wait(rearms []coreRearm, out []rawEvent, timeoutMs uint32) (int, error)
	wake(id uint64) error
	close() error
	// calls counts the crossings into the core (cgo calls or system calls).
	calls() uint64

	// The overlapped engine's calls (iocp_ovl_*), on a state add gave that
	// engine; Go memory passed in is the core's for the call's duration
	// only.
	ovlSend(state uintptr, p []byte, to unsafe.Pointer, toLen int32) (int, error)
	ovlRecvfrom(state uintptr, p []byte, from *syscall.RawSockaddrAny) (int, error)
	ovlAccept(state uintptr, remote *syscall.RawSockaddrAny) (uintptr, error)
	ovlConnectStatus(state uintptr, take bool) error
	// ovlDelete deletes a state at once (also while a wait is blocked) and
	// hands back what it held.
	ovlDelete(state uintptr, linger bool) (heldBack, error)
	// ovlHandover gives the SOCKET of a lingering state to the core.
	ovlHandover(state uintptr) error
}

// rawEvent is iocp.h's iocp_event.
type rawEvent struct {
	id       uint64
	bits     uint32
	reserved uint32
}

// coreRearm is iocp.h's iocp_rearm.
type coreRearm struct {
	state    uintptr
	bits     uint32
	reserved uint32
}

// rearmDelete in coreRearm.bits deletes the state (IOCP_REARM_DELETE);
// with rearmLinger the overlapped engine keeps it until rearmHandover hands
// it the socket (IOCP_REARM_LINGER, IOCP_REARM_HANDOVER: the lingering
// close, poller_ovl_windows.go).
const (
	rearmDelete   = 0x80000000
	rearmLinger   = 0x40000000
	rearmHandover = 0x20000000
)

const infinite = 0xFFFFFFFF

// maxOSBatch is the most records one core wait is given (its count is a C
// int, and a ULONG for the OS); what is ready beyond it stays queued for
// the next waits. Tests lower it.
var maxOSBatch = 1<<31 - 1

type sysEvents []rawEvent

func newSysEvents(n int) sysEvents { return make(sysEvents, n) }

// sysReg is the Go side of a core state; guarded by sysPoll.mu.
type sysReg struct {
	state  uintptr
	live   bool   // false once remove ran: the state is no longer Go's
	queued uint32 // directions queued for re-arm by the next wait
	engine uint8  // engineAFD or engineOverlapped; set before publication
}

// newCore makes the core of a new Poll; tests may switch it.
var newCore = defaultCore

type sysPoll struct {
	core core

	// mu guards inWait, the queues and every sysReg. While no wait runs,
	// re-arms are queued and flushed by the next wait in its one crossing;
	// while a wait is blocked, re-arms go to the core at once (so that wait
	// sees them) and deletes retire the state at once (so that no poll
	// names the socket once remove returns) and free it in the next wait's
	// batch, because the running wait may be applying a batch that names
	// the state.
	mu      sync.Mutex
	inWait  bool
	rearms  []*registration // each once: its sys.queued is non-zero
	deletes []deferred      // deletes and handovers made while a wait ran
	batch   []coreRearm     // what the next core wait applies

	// The overlapped engine (poller_ovl_windows.go): its calls on a state
	// run under mu, after checking the state is live and closed is false.
	forceOverlapped bool   // every socket gets the overlapped engine
	portID          uint64 // this Poll, in sockSys.boundPort
	closed          bool
	coreGone        bool             // core.close returned: closed sockets are Go's to close
	goClose         []uintptr        // handed-over sockets the core never got: closed after core.close
	rawBound        map[uintptr]bool // raw handles bound: skip-on-success

	// Overlapped-engine registrations, for the hand-back at close.
	ovlRegs map[*registration]struct{}
}

func (s *sysPoll) open() error {
	c, err := newCore()
	if err != nil {
		return err
	}
	if err := c.open(); err != nil {
		return err
	}
	s.core = c
	s.forceOverlapped = overlappedForced()
	s.portID = portIDs.Add(1)
	return nil
}

func (s *sysPoll) add(r *registration) error {
	st, engine, err := s.addState(r)
	if err != nil {
		return err
	}
	s.mu.Lock()
	r.sys = sysReg{state: st, live: true, engine: engine}
	s.mu.Unlock()
	return nil
}

func (s *sysPoll) modify(r *registration) error {
	if err := s.core.modify(r.sys.state, r.id, uint32(r.interest)); err != nil {
		return sysError("reregister", err)
	}
	return nil
}

// deferred is a delete (or a handover) made while a wait ran, for the next
// wait's batch; fd is the socket of a handover.
type deferred struct {
	state uintptr
	bits  uint32
	fd    uintptr
}

func (s *sysPoll) remove(r *registration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	r.sys.live = false
	if r.sys.engine == engineOverlapped {
		return s.removeOvlLocked(r) // at once, never deferred
	}
	bits := uint32(rearmDelete)
	linger := r.sys.engine == engineOverlapped && r.owner != nil && r.owner.closed()
	if linger {
		// The socket is being closed (its closer holds a reference, so its
		// final release, which hands the handle over, comes after this).
		bits |= rearmLinger
		r.owner.sys.linger.Store(&lingerTo{sp: s, state: r.sys.state})
	}
	if s.inWait {
		// Stopped now: the caller may close the socket (and the system
		// reuse its number) as soon as this returns.
		if err := s.core.retire(r.sys.state); err != nil {
			return sysError("deregister", err)
		}
		s.deletes = append(s.deletes, deferred{state: r.sys.state, bits: bits})
		return nil
	}
	var err error
	if linger {
		err = s.core.rearm(r.sys.state, bits)
	} else {
		err = s.core.remove(r.sys.state)
	}
	if err != nil {
		return sysError("deregister", err)
	}
	return nil
}

// handover gives fd, the socket of a state deleted with linger, to the
// core at the socket's final release (poller_ovl_windows.go's ownership
// rule),
// at once: overlapped-engine deletes are never deferred. Once the Poll is
// closed the core has freed (or is freeing) the state without closing fd:
// Go closes it, after core.close.
func (s *sysPoll) handover(state, fd uintptr) {
	s.mu.Lock()
	switch {
	case s.coreGone:
		s.mu.Unlock()
		sysCloseSocket(fd)
		return
	case s.closed:
		s.goClose = append(s.goClose, fd)
	default:
		// Overlapped-engine deletes are never deferred (removeOvlLocked),
		// so neither is their handover.
		s.core.ovlHandover(state)
	}
	s.mu.Unlock()
}

// rearm polls directions again after the caller hit WSAEWOULDBLOCK.
func (s *sysPoll) rearm(r *registration, bits uint32) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case !r.sys.live:
	case s.inWait:
		s.core.rearm(r.sys.state, bits)
	case r.sys.queued&bits != bits:
		if r.sys.queued == 0 {
			s.rearms = append(s.rearms, r)
		}
		r.sys.queued |= bits
	}
}

// rearmSource is Registry.Rearm's re-arm: the caller's own I/O on a raw
// socket hit WSAEWOULDBLOCK, which no socket.wouldBlock saw.
func (s *sysPoll) rearmSource(r *registration, interest Interest) {
	s.rearm(r, uint32(interest))
}

// takeBatchLocked moves the queues into the batch for the core: re-arms of
// live states, then deferred deletes.
func (s *sysPoll) takeBatchLocked() []coreRearm {
	b := s.batch[:0]
	for i, r := range s.rearms {
		if r.sys.live {
			b = append(b, coreRearm{state: r.sys.state, bits: r.sys.queued})
		}
		r.sys.queued = 0
		s.rearms[i] = nil
	}
	for _, d := range s.deletes {
		b = append(b, coreRearm{state: d.state, bits: d.bits})
	}
	s.rearms, s.deletes, s.batch = s.rearms[:0], s.deletes[:0], b
	return b
}

func (s *sysPoll) beginWait() {
	s.mu.Lock()
	s.inWait = true
	s.mu.Unlock()
}

func (s *sysPoll) endWait() {
	s.mu.Lock()
	s.inWait = false
	s.mu.Unlock()
}

// wait flushes the queue and dequeues one batch: one crossing.
func (s *sysPoll) wait(ev *Events, ms int) (int, error) {
	s.mu.Lock()
	batch := s.takeBatchLocked()
	s.mu.Unlock()
	timeout := uint32(infinite)
	if ms >= 0 {
		timeout = uint32(ms)
	}
	n, err := s.core.wait(batch, ev.sys[:min(len(ev.sys), maxOSBatch)], timeout)
	if err != nil {
		return 0, sysError("wait", err)
	}
	return n, nil
}

// wakeID is the id of the internal wake packet: registration ids never have
// their low 32 bits zero.
const wakeID = 1 << 32

// at decodes the i-th record of the last wait.
func (s *sysPoll) at(events *Events, i int) (key uint64, flags uint8, wake bool) {
	e := &events.sys[i]
	return e.id, uint8(e.bits), e.id == wakeID
}

func (s *sysPoll) wake() error {
	if err := s.core.wake(wakeID); err != nil {
		return sysError("wake", err)
	}
	return nil
}

func (s *sysPoll) drainWake() {}

func (s *sysPoll) close() error {
	s.mu.Lock()
	// Handovers the core never got: their sockets stay Go's.
	for _, d := range s.deletes {
		if d.bits&rearmHandover != 0 {
			s.goClose = append(s.goClose, d.fd)
		}
	}
	s.rearms, s.deletes, s.batch = nil, nil, nil
	s.handBackAllLocked()
	s.closed = true // ovl calls in flight hold mu: none runs from here on
	s.mu.Unlock()
	err := s.core.close()
	// The core no longer names any socket (its port close cancelled what
	// was in flight on them): close what was left to Go.
	s.mu.Lock()
	s.coreGone = true
	fds := s.goClose
	s.goClose = nil
	s.mu.Unlock()
	for _, fd := range fds {
		sysCloseSocket(fd)
	}
	if err != nil {
		return sysError("close", err)
	}
	return nil
}

// RawSocket returns a Source for a socket the caller owns, for example one
// of package net reached through SyscallConn: AFD polling never binds the
// socket to our port, so sockets already bound to another port (as package
// net's are) work too. The caller keeps it non-blocking (FIONBIO: package
// net's sockets are blocking) and deregisters it before closing it. A
// direction is reported once, until re-armed: after the caller's own recv,
// send or accept on it returns WSAEWOULDBLOCK, it calls [Registry.Rearm]
// for that direction, or no further event comes for it. The exception is a
// socket on the overlapped engine (poller_ovl_windows.go: forced, or where
// AFD cannot see the base socket): it is bound to the Poll's port for good,
// so one bound elsewhere (package net's) fails with ErrBoundElsewhere, and a
// listener fails with an error matching errors.ErrUnsupported (that engine
// learns a listener's readiness only from AcceptEx, which would take the
// connection from the caller).
//
// Closing a RawSocket before Deregister is a mistake, but not a lasting
// one: once a poll in flight on it (a direction of its interest not yet
// reported) sees the close, the registration is dropped, so the handle
// number, when the system hands it out again, can be registered anew.
func RawSocket(s syscall.Handle) Source { return rawSocket(s) }

type rawSocket syscall.Handle

func (r rawSocket) source() (uintptr, *socket, error) {
	if syscall.Handle(r) == syscall.InvalidHandle || r == 0 {
		return 0, nil, ErrNilSource
	}
	return uintptr(r), nil, nil
}
