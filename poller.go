// Package poller is an edge-triggered readiness event queue: one API over
// epoll on Linux, kqueue on macOS and the BSDs, and an I/O completion port
// with AFD polling on Windows.
//
// A [Poll] waits for events on the sources registered with its [Registry]:
// the sockets of this package ([TCPListener], [TCPStream], [UDPSocket]) and,
// on Unix, any descriptor the caller owns ([RawFD]). Each event carries the
// [Token] the source was registered with.
//
// # The contract
//
//   - Edge-triggered: an event says that a source became ready. To be sure of
//     the next event for a direction, read (or write, or accept) until the
//     operation returns an error matching [ErrWouldBlock]. Spurious events are
//     allowed; IsReadClosed, IsWriteClosed and IsError are hints, and the
//     operation that follows tells the truth.
//   - Registry methods are safe for concurrent use, also while another
//     goroutine is blocked in [Poll.Wait]; a registration made during a
//     blocked Wait is seen by that Wait.
//   - One goroutine waits at a time: a second concurrent Wait returns
//     [ErrConcurrentWait] at once.
//   - [Poll.Close] may be called from any goroutine: a Wait blocked elsewhere
//     returns promptly with an error matching [net.ErrClosed]. Events that
//     were dequeued together with the close are still delivered in that
//     Events, next to the error.
//   - [Waker.Wake] may be called from any goroutine: the blocked Wait returns
//     with an event carrying the Waker's token. Many Wakes before a Wait give
//     at least one event.
//   - A timeout of 0 returns at once; a positive timeout is rounded up to the
//     next millisecond and Wait never returns early without an event; a
//     negative timeout waits until an event, a Wake or a Close. Interrupted
//     system calls are retried with the time left.
//   - A batch never exceeds [Events.Cap]; all ready sources are eventually
//     reported across batches.
//   - Raw sources ([RawFD], [RawSocket]) are read and written by the
//     caller's own calls, which this package does not see: after such a call
//     returns would-block (EAGAIN, WSAEWOULDBLOCK), call [Registry.Rearm]
//     with its directions, or the next edge may never come (on Windows it
//     does not). Portable code calls it on every OS; where the kernel
//     re-arms by itself (epoll, kqueue) it costs no system call.
//   - Once Deregister has returned, the source yields no event. Closing one of
//     this package's sockets deregisters it. A [RawFD] must be deregistered
//     before its descriptor is closed.
//   - Sockets are non-blocking and close-on-exec (on Windows not inherited);
//     writing to a socket whose peer has closed returns an error and never
//     raises SIGPIPE.
//
// Errors are typed: use [errors.Is] with the sentinels of this package,
// [net.ErrClosed] for anything closed, and the OS's error numbers (for
// example syscall.ECONNREFUSED) for failures reported by the system.
package poller

import (
	"errors"
	"fmt"
	"iter"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Token identifies a registration in the events it produces. Its value is
// the caller's choice.
type Token uint64

// Interest is a set of readiness directions to wait for.
type Interest uint8

const (
	// Readable asks for events when a source can be read, accepted from,
	// or its peer closed or reset the connection.
	Readable Interest = 1 << iota
	// Writable asks for events when a source can be written to, or a
	// non-blocking connect finished (successfully or not).
	Writable
)

const allInterests = Readable | Writable

// String returns the directions separated by "|", e.g. "Readable|Writable".
func (i Interest) String() string {
	var parts []string
	if i&Readable != 0 {
		parts = append(parts, "Readable")
	}
	if i&Writable != 0 {
		parts = append(parts, "Writable")
	}
	if rest := i &^ allInterests; rest != 0 {
		parts = append(parts, fmt.Sprintf("Interest(%#x)", uint8(rest)))
	}
	if len(parts) == 0 {
		return "Interest(0)"
	}
	return strings.Join(parts, "|")
}

// Readiness flags of an Event. The values are shared with the Windows C core.
const (
	flagReadable    = 0x01
	flagWritable    = 0x02
	flagReadClosed  = 0x04
	flagWriteClosed = 0x08
	flagError       = 0x10
	// flagClosed comes alone, from the Windows cores only: the OS saw the
	// handle closed while registered (a RawSocket closed before its
	// Deregister). Never an event: the registry drops the registration.
	flagClosed = 0x40
)

// Event is one readiness notification: a small value without pointers.
type Event struct {
	token Token
	flags uint8
}

// Token returns the token of the registration (or Waker) the event is for.
func (e Event) Token() Token { return e.token }

// IsReadable reports whether the source can be read (or accepted from).
func (e Event) IsReadable() bool { return e.flags&flagReadable != 0 }

// IsWritable reports whether the source can be written to, or that its
// connect has finished.
func (e Event) IsWritable() bool { return e.flags&flagWritable != 0 }

// IsReadClosed reports that the peer closed or shut down its write side, so
// reads will reach the end of the stream. A hint.
func (e Event) IsReadClosed() bool { return e.flags&flagReadClosed != 0 }

// IsWriteClosed reports that the connection can no longer be written. A hint.
func (e Event) IsWriteClosed() bool { return e.flags&flagWriteClosed != 0 }

// IsError reports that the source has a pending error; [TCPStream.TakeError]
// returns it. A hint.
func (e Event) IsError() bool { return e.flags&flagError != 0 }

// String describes the event, e.g. "token=3 Readable|ReadClosed".
func (e Event) String() string {
	names := []string{"Readable", "Writable", "ReadClosed", "WriteClosed", "Error"}
	var parts []string
	for i, name := range names {
		if e.flags&(1<<i) != 0 {
			parts = append(parts, name)
		}
	}
	return fmt.Sprintf("token=%d %s", e.token, strings.Join(parts, "|"))
}

// Events is a reusable batch of events filled by [Poll.Wait]. It is not safe
// for concurrent use.
type Events struct {
	list []Event
	n    int
	sys  sysEvents // the OS's own event buffer, sized like list
}

// maxEventsCap is the most events one Events holds: NewEvents lowers a
// larger capacity to it.
const maxEventsCap = 1 << 20

// NewEvents returns an Events that holds at most capacity events per Wait.
// A capacity below 1 gives an Events that Wait rejects with ErrInvalidEvents.
// A capacity above 1<<20 (1,048,576) is lowered to it: Cap reports the
// capacity kept, and the contract still reports every ready source across
// batches.
func NewEvents(capacity int) *Events {
	capacity = max(0, min(capacity, maxEventsCap))
	return &Events{list: make([]Event, capacity), sys: newSysEvents(capacity)}
}

// Len returns the number of events of the last Wait; 0 for a nil Events.
func (e *Events) Len() int {
	if e == nil {
		return 0
	}
	return e.n
}

// Cap returns the most events one Wait can return; 0 for a nil Events.
func (e *Events) Cap() int {
	if e == nil {
		return 0
	}
	return len(e.list)
}

// At returns the i-th event of the last Wait; it panics unless 0 <= i < Len().
func (e *Events) At(i int) Event { return e.list[:e.n][i] }

// All iterates over the events of the last Wait; none for a nil Events.
func (e *Events) All() iter.Seq[Event] {
	return func(yield func(Event) bool) {
		if e == nil {
			return
		}
		for _, ev := range e.list[:e.n] {
			if !yield(ev) {
				return
			}
		}
	}
}

func (e *Events) push(ev Event) bool {
	if e.n == len(e.list) {
		return false
	}
	e.list[e.n] = ev
	e.n++
	return true
}

var (
	// ErrWouldBlock is returned by Read, Write, Accept, ReadFrom and WriteTo
	// when nothing can be done now: wait for the next event.
	ErrWouldBlock = errors.New("poller: operation would block")
	// ErrAlreadyRegistered: the source is already registered with this Poll.
	ErrAlreadyRegistered = errors.New("poller: source already registered")
	// ErrNotRegistered: the source is not registered with this Poll.
	ErrNotRegistered = errors.New("poller: source not registered")
	// ErrRegisteredElsewhere: the socket is registered with another Poll.
	ErrRegisteredElsewhere = errors.New("poller: source registered with another poll")
	// ErrBoundElsewhere: the socket is bound for good to another Poll (or,
	// for a RawSocket, to another completion port), so it cannot be
	// registered here. Only Windows' overlapped engine binds sockets: once
	// registered with a Poll, they stay bound to it, even after Deregister
	// or the Poll's Close.
	ErrBoundElsewhere = errors.New("poller: socket bound to another poll's completion port")
	// ErrOverlappedUnsupported: Register was asked for Windows' overlapped
	// engine (POLLER_WINDOWS_ENGINE=overlapped, or a stream whose connect
	// waits for that engine) on a Poll whose core has none: the pure-Go
	// core of builds without cgo, which polls with AFD only. Other OSes
	// never return it.
	ErrOverlappedUnsupported = errors.New("poller: the overlapped engine needs the C core (a cgo build)")
	// ErrConcurrentWait: another goroutine is already in Wait on this Poll.
	ErrConcurrentWait = errors.New("poller: concurrent Wait on one poll")
	// ErrInvalidEvents: Wait was given a nil Events or one of capacity 0.
	ErrInvalidEvents = errors.New("poller: nil or zero-capacity Events")
	// ErrInvalidInterest: the interest is empty or has unknown bits.
	ErrInvalidInterest = errors.New("poller: invalid interest")
	// ErrNilSource: a nil Source, or a nil socket, was passed.
	ErrNilSource = errors.New("poller: nil source")
	// ErrInvalidAddress: an address of the wrong network or type.
	ErrInvalidAddress = errors.New("poller: invalid address")
)

// errClosed is returned for anything used after Close; it matches
// net.ErrClosed.
var errClosed = net.ErrClosed

// backend is the contract between the portable code (this file) and each
// OS's sysPoll: poller_epoll.go (epoll), poller_kqueue.go (kqueue) and
// poller_windows.go (a completion port; its cores are behind the Windows
// core interface). Each backend file checks it at compile time. A backend
// also declares sysEvents (its raw records, newSysEvents(n) sized like
// Events.list), sysReg (its part of a registration, the zero value before
// add) and sysKeyIsHandle (what at's key is).
//
// Who calls what, under which lock: the Registry calls add, modify, remove,
// rearmSource and at with Registry.mu held; the one waiting goroutine calls
// beginWait, wait and endWait with no lock held; New calls open and
// Poll.Close calls close, once each, with no lock held.
//
// Lock order, outermost first: Registry.mu, then sysPoll.mu (Windows only),
// then the core's lock (goCore.mu, iocp.c's port->lock) or, for what the
// overlapped engine hands back, sockSys.heldMu, a leaf. Any of them may be
// skipped; none is taken in the other direction, no backend method calls
// back into the Registry, and no lock is held across the OS wait. Poll.mu is
// held only by Close around its compare-and-swap and by Waker.Wake around
// wake: it is never held together with Registry.mu or sysPoll.mu, and wake
// takes no lock of its own (the cores post a packet without their lock).
// The socket reference that Registry.locked takes (socket.acquire) is held
// outside Registry.mu; socket.close takes Registry.mu holding no lock.
//
// Why the kqueue backend is keyed by handle (sysKeyIsHandle) where epoll and
// Windows carry the registration id: kevent's udata cannot carry the 64-bit
// id portably. It is a *byte on darwin, freebsd, openbsd and dragonfly (a
// number stored in it, which the kernel copies back into Go memory, is a bad
// pointer to the garbage collector) and 32 bits on the 32-bit BSDs. The
// kernel keys a knote by (ident, filter) anyway: EV_ADD and EV_DELETE name
// the descriptor, one descriptor has at most one registration in byHandle,
// and EV_DELETE drops what the kqueue still held for it. What keying by
// handle gives up is the generation check: a record dequeued before a
// Deregister and a new Register of the same descriptor is reported with the
// new token, a spurious event, which the contract allows.
type backend interface {
	// open creates the OS's queue and its wake mechanism. On error
	// nothing stays open.
	open() error
	// add starts reporting r.handle's readiness for r.interest, keyed by
	// r.id (or r.handle). r has its slot and id, not yet its byHandle
	// entry; r.sys is zero. A readiness already there is reported. On
	// error the OS holds nothing of r (the Registry frees its slot).
	add(r *registration) error
	// modify applies r's new token and interest (already in r; restored
	// by the Registry on error). The source is polled afresh, as after
	// add.
	modify(r *registration) error
	// remove is called once per successful add. Once it returns, no
	// wait reports r again and the OS names the handle no more, so the
	// caller may close it and the number be reused, also while a wait is
	// blocked. On error r is dropped all the same.
	remove(r *registration) error
	// rearmSource is Registry.Rearm: the caller's own I/O on a raw
	// source hit would-block in the directions of interest. It cannot
	// fail; epoll and kqueue need nothing.
	rearmSource(r *registration, interest Interest)
	// beginWait and endWait frame the Wait of the one waiting goroutine.
	beginWait()
	endWait()
	// wait fills events.sys with at most min(len(events.sys), maxOSBatch)
	// records, blocking at most ms milliseconds (-1: no limit, 0: not at
	// all). It may return 0 records early (EINTR): the caller retries
	// with the time left. A registration made while it blocks is seen.
	wait(events *Events, ms int) (int, error)
	// at decodes the i-th record of the last wait: the key
	// (lookupKeyLocked's), the flags (flag*, or flagClosed alone), or a
	// wake record. Pure: it makes no system call.
	at(events *Events, i int) (key uint64, flags uint8, wake bool)
	// wake makes the blocked wait, or else the next one, return a wake
	// record. Safe from any goroutine, also during wait; wakes before
	// that record may coalesce.
	wake() error
	// drainWake re-arms the wake mechanism after a batch with a wake
	// record (translate, Registry.mu held), before the pending Wakers
	// are delivered: a wake after it gives a new record.
	drainWake()
	// close frees what open made. Called once, after the last wait has
	// returned and every registration was removed.
	close() error
}

// registration is the Go side of one registered source. Its id is what the
// OS (or the Windows C core) hands back with each event; the token and
// interest it maps to may change with Reregister.
type registration struct {
	sys      sysReg // backend data (the C state on Windows); first, as it is empty on Unix and would pad the end
	id       uint64
	token    Token
	interest Interest
	handle   uintptr // the fd or SOCKET
	owner    *socket // nil for raw sources
	registry *Registry
}

// Poll is an event queue. Create it with New; one goroutine at a time waits
// on it with Wait, any goroutine registers sources through its Registry.
// A Poll not made by New (the zero Poll, a nil *Poll) is closed: its
// methods and its Registry's return net.ErrClosed.
type Poll struct {
	registry Registry
	sys      sysPoll

	// state holds pollWaiting and pollClosed. One compare-and-swap sets
	// each, so a Wait and a Close agree on which came first without a lock
	// round trip per Wait.
	state atomic.Uint32
	// mu is held by Close as it sets pollClosed and by Wake around the OS
	// wake: a Wake either ends before Close frees the OS resources or
	// finds the Poll closed.
	mu         sync.Mutex
	waitExited chan struct{} // closed by a Wait that returns after Close
}

// New returns a new Poll, or the OS's error if it cannot create one.
func New() (*Poll, error) {
	p := &Poll{waitExited: make(chan struct{})}
	p.registry.p = p
	p.registry.byHandle = make(map[uintptr]*registration)
	if err := p.sys.open(); err != nil {
		return nil, err
	}
	return p, nil
}

// Registry returns the Poll's registry. It stays valid (and returns
// net.ErrClosed) after Close.
func (p *Poll) Registry() *Registry {
	if p == nil {
		return nil
	}
	return &p.registry
}

// opened reports whether p was made by New.
func (p *Poll) opened() bool { return p != nil && p.registry.p == p }

// Wait fills events with the events that are ready, waiting at most timeout
// for the first one (a negative timeout waits without limit). It returns nil
// with events.Len() == 0 when the timeout expired. See the package doc for
// the contract.
func (p *Poll) Wait(events *Events, timeout time.Duration) error {
	if events == nil || len(events.list) == 0 {
		if !p.opened() || p.isClosed() {
			return errClosed // a closed Poll outranks a bad argument
		}
		return ErrInvalidEvents
	}
	events.n = 0
	if err := p.beginWait(); err != nil {
		return err
	}
	err := p.waitLoop(events, timeout)
	if p.endWait() {
		return errClosed
	}
	return err
}

// Bits of Poll.state.
const (
	pollWaiting uint32 = 1 << iota // a Wait runs
	pollClosed                     // Close was called
)

func (p *Poll) beginWait() error {
	if !p.opened() {
		return errClosed
	}
	for {
		st := p.state.Load()
		if st&pollClosed != 0 {
			return errClosed
		}
		if st&pollWaiting != 0 {
			return ErrConcurrentWait
		}
		if p.state.CompareAndSwap(st, st|pollWaiting) {
			break
		}
	}
	p.sys.beginWait()
	return nil
}

// endWait reports whether the Poll was closed while waiting; if so it lets
// the closing goroutine proceed to free the OS resources. A Close that
// sets pollClosed before the waiting bit clears waits for waitExited; one
// after it finds no Wait to wait for.
func (p *Poll) endWait() (closed bool) {
	p.sys.endWait()
	st := p.state.Add(^(pollWaiting - 1)) // clear pollWaiting, which is set
	if st&pollClosed != 0 {
		close(p.waitExited)
		return true
	}
	return false
}

func (p *Poll) waitLoop(events *Events, timeout time.Duration) error {
	var deadline time.Time
	if timeout > 0 {
		deadline = time.Now().Add(timeout)
	}
	ms := timeoutMillis(timeout)
	for {
		n, err := p.sys.wait(events, ms)
		if err != nil {
			return err
		}
		if afterOSWait != nil {
			afterOSWait(n)
		}
		p.registry.translate(events, n)
		if events.n > 0 || timeout == 0 || p.isClosed() {
			return nil
		}
		if timeout > 0 {
			left := time.Until(deadline)
			if left <= 0 {
				return nil
			}
			ms = timeoutMillis(left)
		}
	}
}

func (p *Poll) isClosed() bool { return p.state.Load()&pollClosed != 0 }

// afterOSWait, when a test sets it, runs between an OS wait that returned
// n records and their translation into events.
var afterOSWait func(n int)

// maxWaitMillis bounds one OS wait; longer timeouts loop.
const maxWaitMillis = 1 << 30

// timeoutMillis converts a timeout to milliseconds for the OS: -1 without
// limit, otherwise rounded up to the next millisecond.
func timeoutMillis(d time.Duration) int {
	if d < 0 {
		return -1
	}
	ms := d / time.Millisecond // rounded up without overflowing near MaxInt64
	if d%time.Millisecond != 0 {
		ms++
	}
	if ms > maxWaitMillis {
		return maxWaitMillis
	}
	return int(ms)
}

// Close closes the Poll: a Wait blocked in another goroutine returns with
// net.ErrClosed, every registration is dropped (the sockets stay open), and
// the OS resources are released before Close returns. Closing twice returns
// net.ErrClosed.
func (p *Poll) Close() error {
	if !p.opened() {
		return errClosed
	}
	p.mu.Lock()
	var st uint32
	for {
		st = p.state.Load()
		if st&pollClosed != 0 {
			p.mu.Unlock()
			return errClosed
		}
		if p.state.CompareAndSwap(st, st|pollClosed) {
			break
		}
	}
	p.mu.Unlock()
	waiting := st&pollWaiting != 0

	// The registry refuses new registrations at once, but keeps its tables
	// until the blocked Wait has returned: that Wait still translates the
	// records dequeued together with the wake.
	p.registry.refuse()
	if waiting {
		p.sys.wake()
		<-p.waitExited
	}
	p.registry.close()
	if afterRegistryClose != nil {
		afterRegistryClose()
	}
	return p.sys.close()
}

// afterRegistryClose, when a test sets it, runs in Close between the
// registry's close and the OS's.
var afterRegistryClose func()

// Registry registers sources with its Poll. Its methods are safe for
// concurrent use, also while another goroutine is blocked in Wait. A
// Registry not obtained from a Poll made by New (a nil or zero Registry)
// is closed.
type Registry struct {
	p        *Poll
	mu       sync.Mutex
	closed   bool
	byHandle map[uintptr]*registration
	slots    []*registration // index = low 32 bits of id - 1
	free     []uint32        // free slot indexes
	gen      uint32          // generation counter for ids
	wakers   []*Waker
}

// Register asks for events of the given interest on src, reported with
// token. A source can be registered with one Poll once; see Reregister.
func (r *Registry) Register(src Source, token Token, interest Interest) error {
	if err := r.checkInterest(interest); err != nil {
		return err
	}
	return r.locked(src, func(h uintptr, s *socket) error {
		if r.closed {
			return errClosed
		}
		if err := s.checkFree(r); err != nil {
			return err
		}
		if r.byHandle[h] != nil {
			return ErrAlreadyRegistered
		}
		reg := r.allocLocked(h, token, interest, s)
		if err := r.p.sys.add(reg); err != nil {
			r.freeLocked(reg)
			return err
		}
		r.byHandle[h] = reg
		if err := s.attach(reg); err != nil {
			// Closed meanwhile (its Close may have missed this
			// registration), or registered by another registry since
			// checkFree: undo ours, OS side included.
			r.removeLocked(reg)
			return err
		}
		return nil
	})
}

// Reregister replaces the token and interest of a registered source. The
// source is polled afresh for the new interest, as after a Register.
func (r *Registry) Reregister(src Source, token Token, interest Interest) error {
	if err := r.checkInterest(interest); err != nil {
		return err
	}
	return r.registered(src, func(reg *registration) error {
		oldToken, oldInterest := reg.token, reg.interest
		reg.token, reg.interest = token, interest
		if err := r.p.sys.modify(reg); err != nil {
			reg.token, reg.interest = oldToken, oldInterest
			return err
		}
		return nil
	})
}

// Rearm tells the Poll that the caller's own I/O on a raw source ([RawFD],
// [RawSocket]) returned would-block (EAGAIN, WSAEWOULDBLOCK) in the
// directions of interest, so that the next readiness in them is reported.
// This package's sockets do it by themselves. Portable code calls Rearm on
// every OS: on Windows it queues the re-arm for the next Wait, which applies
// it without an extra system call; epoll and kqueue report the next edge by
// themselves, so there it only checks its arguments. It returns the errors
// of Reregister, checked in the same order.
func (r *Registry) Rearm(src Source, interest Interest) error {
	if err := r.checkInterest(interest); err != nil {
		return err
	}
	return r.registered(src, func(reg *registration) error {
		r.p.sys.rearmSource(reg, interest)
		return nil
	})
}

// Deregister stops events for src. Once it returns, no Wait reports src.
func (r *Registry) Deregister(src Source) error {
	return r.registered(src, r.removeLocked)
}

// registered runs f under the registry lock with src's registration here,
// once lookupLocked has found it (its errors otherwise).
func (r *Registry) registered(src Source, f func(reg *registration) error) error {
	return r.locked(src, func(h uintptr, s *socket) error {
		reg, err := r.lookupLocked(h, s)
		if err != nil {
			return err
		}
		return f(reg)
	})
}

// locked runs f under the registry lock with src's handle and socket, the
// socket held open meanwhile. A closed registry outranks a bad source.
func (r *Registry) locked(src Source, f func(h uintptr, s *socket) error) error {
	if !r.opened() || r.isClosed() {
		return errClosed
	}
	h, s, err := sourceOf(src)
	if err != nil {
		return err
	}
	defer s.release()
	r.mu.Lock()
	defer r.mu.Unlock()
	return f(h, s)
}

// checkInterest is the check Register and Reregister make first: a closed
// registry outranks a bad interest (as in wepoll: EBADF before EINVAL).
func (r *Registry) checkInterest(interest Interest) error {
	if !r.opened() || r.isClosed() {
		return errClosed
	}
	return validInterest(interest)
}

// isClosed reports whether the registry refuses calls (its Poll is closed).
func (r *Registry) isClosed() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.closed
}

// opened reports whether r belongs to a Poll made by New.
func (r *Registry) opened() bool { return r != nil && r.p != nil }

func (r *Registry) lookupLocked(h uintptr, s *socket) (*registration, error) {
	if r.closed {
		return nil, errClosed
	}
	if err := s.checkOwn(r); err != nil {
		return nil, err
	}
	reg := r.byHandle[h]
	if invariantChecks && s != nil {
		// Under mu, a socket's registration of this registry is the one
		// its handle maps to: both are set and cleared under mu. (Another
		// registry may attach meanwhile, and the socket's Close clears
		// its side first, so nothing more holds.)
		if cur := s.reg.Load(); cur != nil && cur.registry == r && cur != reg {
			panic("poller: a socket's registration is not the one its registry maps its handle to")
		}
	}
	if reg == nil {
		return nil, ErrNotRegistered
	}
	return reg, nil
}

// removeLocked drops reg from the OS and the tables; the OS error, if any,
// is returned after the tables are clean.
func (r *Registry) removeLocked(reg *registration) error {
	if invariantChecks && r.byHandle[reg.handle] != reg {
		panic("poller: registration removed twice, or never added")
	}
	err := r.p.sys.remove(reg)
	delete(r.byHandle, reg.handle)
	reg.owner.detach(reg)
	r.freeLocked(reg)
	return err
}

// deregisterSocket is called by a socket's Close while the descriptor is
// still open. It also runs while the Poll is closing, for as long as the
// tables are kept (see Poll.Close), so that the closing Wait reports
// nothing for a socket whose Close has returned.
func (r *Registry) deregisterSocket(reg *registration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.byHandle[reg.handle] == reg {
		r.removeLocked(reg)
	}
}

// allocLocked takes a slot and a fresh id: slot+1 in the low 32 bits and a
// generation in bits 32-62, so a stale id from the OS never matches a newer
// registration in the same slot, and id 0 (reserved for wakes) never occurs.
func (r *Registry) allocLocked(h uintptr, token Token, interest Interest, s *socket) *registration {
	var slot uint32
	if n := len(r.free); n > 0 {
		slot = r.free[n-1]
		r.free = r.free[:n-1]
	} else {
		slot = uint32(len(r.slots))
		r.slots = append(r.slots, nil)
	}
	if invariantChecks && r.slots[slot] != nil {
		panic("poller: registration slot taken from the free list while in use")
	}
	r.gen = (r.gen + 1) & 0x7fffffff
	reg := &registration{
		id:       uint64(r.gen)<<32 | uint64(slot+1),
		token:    token,
		interest: interest,
		handle:   h,
		owner:    s,
		registry: r,
	}
	r.slots[slot] = reg
	return reg
}

func (r *Registry) freeLocked(reg *registration) {
	slot := uint32(reg.id) - 1
	if invariantChecks && r.slots[slot] != reg {
		panic("poller: registration freed twice")
	}
	r.slots[slot] = nil
	r.free = append(r.free, slot)
}

// lookupKeyLocked finds the registration of an OS record's key: its id, or
// where the OS reports descriptors (kqueue), its handle.
func (r *Registry) lookupKeyLocked(key uint64) *registration {
	if sysKeyIsHandle {
		return r.byHandle[uintptr(key)]
	}
	return r.byIDLocked(key)
}

func (r *Registry) byIDLocked(id uint64) *registration {
	slot := uint64(uint32(id)) - 1
	if slot >= uint64(len(r.slots)) {
		return nil
	}
	if reg := r.slots[slot]; reg != nil && reg.id == id {
		return reg
	}
	return nil
}

// translate turns the n raw OS records in events.sys into Events, dropping
// records of registrations that are gone, and delivering pending Wakes.
func (r *Registry) translate(events *Events, n int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	woken := false
	for i := 0; i < n; i++ {
		key, flags, wake := r.p.sys.at(events, i)
		if wake {
			woken = true
			continue
		}
		if reg := r.lookupKeyLocked(key); reg != nil {
			if flags&flagClosed != 0 {
				// Dropped, as wepoll does, so that the handle
				// number, once reused, can be registered again.
				r.removeLocked(reg)
				continue
			}
			// Directions outside the interest are dropped (epoll reports
			// a peer's close as readable to a Writable-only registration;
			// flagReadable and flagWritable equal Readable and Writable);
			// a record left with nothing to say is not an event.
			if flags &^= uint8(allInterests &^ reg.interest); flags != 0 {
				events.push(Event{token: reg.token, flags: flags})
			}
		}
	}
	if woken {
		r.p.sys.drainWake()
		r.deliverWakesLocked(events)
	}
}

func (r *Registry) deliverWakesLocked(events *Events) {
	for _, w := range r.wakers {
		if !w.pending.Load() {
			continue
		}
		if !events.push(Event{token: w.token, flags: flagReadable}) {
			// No room: leave it pending and make the next Wait return.
			r.p.sys.wake()
			return
		}
		w.pending.Store(false)
	}
}

// refuse makes the registry refuse every call from now on; the
// registrations stay until close.
func (r *Registry) refuse() {
	r.mu.Lock()
	r.closed = true
	r.mu.Unlock()
}

// close removes every registration from the OS, as Deregister would (the
// sockets stay open), and refuses new ones. Each is removed before its
// socket is detached, under the lock a socket's Close takes to deregister:
// a socket closed meanwhile closes its handle only after the removal (on
// Windows' overlapped engine, after what the C core held for it was handed
// back). Errors are the closing Poll's to ignore.
func (r *Registry) close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closed = true
	for _, reg := range r.byHandle {
		r.removeLocked(reg)
	}
	r.slots, r.free, r.wakers = nil, nil, nil
}

func validInterest(i Interest) error {
	if i == 0 || i&^allInterests != 0 {
		return fmt.Errorf("%w: %v", ErrInvalidInterest, i)
	}
	return nil
}

// Source is something a Registry can register: this package's sockets and,
// on Unix, RawFD (on Windows, RawSocket).
type Source interface {
	// source returns the OS handle and, for this package's sockets, the
	// socket, holding a reference on it that the caller releases.
	source() (uintptr, *socket, error)
}

func sourceOf(src Source) (uintptr, *socket, error) {
	if src == nil {
		return 0, nil, ErrNilSource
	}
	return src.source()
}

// Waker wakes a Poll from any goroutine. Create it with NewWaker.
type Waker struct {
	p       *Poll
	token   Token
	pending atomic.Bool
}

// NewWaker returns a Waker whose Wake makes r's Poll report an event with
// token. Many Wakers may share a Poll. A closed Registry (also a nil or zero
// one) gives net.ErrClosed.
func NewWaker(r *Registry, token Token) (*Waker, error) {
	if !r.opened() {
		return nil, errClosed
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil, errClosed
	}
	w := &Waker{p: r.p, token: token}
	r.wakers = append(r.wakers, w)
	return w, nil
}

// Wake makes the Poll report an event with the Waker's token: the Wait
// blocked now, or else the next one. Wakes before that event coalesce. After
// the Poll is closed it returns net.ErrClosed.
func (w *Waker) Wake() error {
	if w == nil || w.p == nil {
		return ErrNilSource
	}
	p := w.p
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.isClosed() {
		return errClosed
	}
	if w.pending.Swap(true) {
		return nil // an earlier Wake is still to be reported
	}
	if err := wakeOS(p); err != nil {
		// Nothing will report this Wake: let the next one try again.
		w.pending.Store(false)
		return err
	}
	return nil
}

// wakeOS makes the OS wake of Waker.Wake; tests make it fail.
var wakeOS = sysWake

func sysWake(p *Poll) error { return p.sys.wake() }
