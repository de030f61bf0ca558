package poller

// goCore is the pure-Go core: iocp_afd.c's design and state machine, with each
// of its Windows calls made from Go through package syscall. It is the
// default core of builds without cgo (core_nocgo_windows.go); cgo builds
// compile it too, so tests and benchmarks can run both cores in one binary
// (see cCoreNew and newCore).
//
// Memory. The kernel writes a socket state's IO_STATUS_BLOCK and
// AFD_POLL_INFO while a poll is in flight, so states live outside the Go
// heap: in 64 KiB chunks from VirtualAlloc, carved into fixed-size states
// kept on a free list. The garbage collector neither moves nor scans nor
// frees that memory; a state goes back to the free list exactly once, when
// it is idle (no packet owed), and the chunks are released by close, after
// every owed packet has been dequeued. States hold no pointers into the Go
// heap: helpers are named by index, and the links between states point
// into the chunks.
//
// Crossings. Every Windows call counts as one crossing in calls(): where
// the C core pays one crossing per wait whatever it submits, this core pays
// one per submission, cancellation and post besides the dequeue itself.

import (
	"sync"
	"sync/atomic"
	"syscall"
	"unsafe"
)

var (
	modKernel32 = syscall.NewLazyDLL("kernel32.dll")
	modNtdll    = syscall.NewLazyDLL("ntdll.dll")

	procGetQueuedCompletionStatusEx = modKernel32.NewProc("GetQueuedCompletionStatusEx")
	procPostQueuedCompletionStatus  = modKernel32.NewProc("PostQueuedCompletionStatus")
	procVirtualAlloc                = modKernel32.NewProc("VirtualAlloc")
	procVirtualFree                 = modKernel32.NewProc("VirtualFree")
	procNtCreateFile                = modNtdll.NewProc("NtCreateFile")
	procNtDeviceIoControlFile       = modNtdll.NewProc("NtDeviceIoControlFile")
	procNtCancelIoFileEx            = modNtdll.NewProc("NtCancelIoFileEx")
	procRtlNtStatusToDosError       = modNtdll.NewProc("RtlNtStatusToDosError")

	goCoreProcs = []*syscall.LazyProc{
		procGetQueuedCompletionStatusEx, procPostQueuedCompletionStatus,
		procVirtualAlloc, procVirtualFree, procNtCreateFile,
		procNtDeviceIoControlFile, procNtCancelIoFileEx, procRtlNtStatusToDosError,
	}
)

const (
	ntStatusSuccess       = 0x00000000
	ntStatusPending       = 0x00000103
	ntStatusInvalidHandle = -0x3ffffff8 // 0xC0000008
	ntStatusCancelled     = -0x3ffffee0 // 0xC0000120

	ioctlAFDPoll = 0x00012024

	afdPollReceive     = 0x0001
	afdPollSend        = 0x0004
	afdPollDisconnect  = 0x0008
	afdPollAbort       = 0x0010
	afdPollLocalClose  = 0x0020
	afdPollAccept      = 0x0080
	afdPollConnectFail = 0x0100

	sioBaseHandle      = 0x48000022 // _WSAIOR(IOC_WS2, 34)
	sioBSPHandleSelect = 0x4800001c // _WSAIOR(IOC_WS2, 28)
	sioBSPHandlePoll   = 0x4800001d // _WSAIOR(IOC_WS2, 29)
	soType             = 0x1008

	fileShareRead            = 0x1
	fileShareWrite           = 0x2
	ntFileOpen               = 0x1
	fileSkipSetEventOnHandle = 0x2
	memCommitReserve         = 0x1000 | 0x2000
	memRelease               = 0x8000
	pageReadWrite            = 0x04

	errorNotEnoughMemory  = syscall.Errno(8)
	errorInvalidParameter = syscall.Errno(87)
	waitTimeout           = syscall.Errno(258)
	wsaENotSock           = syscall.Errno(10038)

	// iocp.h's bits, the same values as poller's flags.
	coreReadable    = 0x01
	coreWritable    = 0x02
	coreReadClosed  = 0x04
	coreWriteClosed = 0x08
	coreError       = 0x10
	coreClosed      = 0x40 // IOCP_CLOSED: the socket was closed under its registration
	coreDirections  = coreReadable | coreWritable

	// A wake packet has completion key wakeKey (every other packet of the
	// port has key 0: the helpers are bound with it) and carries the
	// wake's 64-bit id in its two other fields, the byte count (low 32
	// bits) and the overlapped pointer (high 32 bits), so that it fits the
	// 32-bit keys and pointers of windows/386. (iocp.c, 64-bit only, sets
	// IOCP_WAKE_KEY_BIT in the key instead.)
	wakeKey = 1

	helperMaxSockets = 32      // sockets sharing one AFD helper handle
	waitBatch        = 256     // entries dequeued per wait, at most
	stateChunkSize   = 1 << 16 // bytes per VirtualAlloc chunk of states
	statesPerChunk   = stateChunkSize / unsafe.Sizeof(goState{})

	invalidSocket uintptr = ^uintptr(0)
)

// The structures the kernel reads and writes (IO_STATUS_BLOCK,
// AFD_POLL_INFO, OVERLAPPED_ENTRY) have per-architecture layouts: see
// core_go_windows_64.go and core_go_windows_386.go.

// ntIsError: severity "error" (0xC...), the request was refused and no
// packet will be queued. Success, informational and warning all queue one.
func ntIsError(status int32) bool { return uint32(status)>>30 == 3 }

type afdPollHandleInfo struct {
	handle uintptr
	events uint32
	status int32
}

type unicodeString struct {
	length    uint16
	maxLength uint16
	buffer    *uint16
}

type objectAttributes struct {
	length          uint32
	rootDirectory   uintptr
	objectName      *unicodeString
	attributes      uint32
	securityDesc    uintptr
	securityQoSInfo uintptr
}

type pollStatus uint8

const (
	pollIdle      pollStatus = iota // no poll in flight: the state is ours
	pollPending                     // one packet owed; the kernel's memory
	pollCancelled                   // packet asked for early; still owed
)

// goState is iocp_afd.c's afd_state, in chunk memory (never the Go heap). The
// iosb comes first: a packet's overlapped pointer is the state's address.
type goState struct {
	iosb ioStatusBlock // the kernel's while status != pollIdle
	info afdPollInfo   // likewise
	// prev and next link the port's states (deleted ones too); next also
	// links the free list. Both point into chunks.
	prev, next    *goState
	base          uintptr
	afd           uintptr // the helper's handle
	helper        uint32  // index in goCore.helpers
	interest      uint32  // coreReadable | coreWritable
	id            uint64
	reported      uint32 // directions reported and not re-armed
	pendingEvents uint32 // AFD events asked by the poll in flight
	status        pollStatus
	deletePending bool
	retired       bool // stopped by retire: never polled or reported again; Go still names it
	dead          bool
	inUse         bool // off the free list
}

// The packet's overlapped pointer is the state's address.
var _ [0]struct{} = [unsafe.Offsetof(goState{}.iosb)]struct{}{}

// stateAt turns a handle or an overlapped pointer (the address of a state
// in a chunk, held as a uintptr) back into a pointer.
func stateAt(addr uintptr) *goState { return *(**goState)(unsafe.Pointer(&addr)) }

func (s *goState) handle() uintptr { return uintptr(unsafe.Pointer(s)) }

// afdHelper is one \Device\Afd handle bound to the port with key 0; closed
// only by close. sockets counts the states not yet freed that use it.
type afdHelper struct {
	afd     uintptr
	sockets uint32
}

// goLive counts this core's live allocations process-wide, as
// iocp_live_allocs does the C core's: ports, helpers, chunks and states.
var goLive atomic.Int64

func goLiveAllocs() int64 { return goLive.Load() }

// goBadSubmits counts polls submitted for a state Go had deleted or retired,
// process-wide, as iocp_bad_submits does: 0 unless a bug.
var goBadSubmits atomic.Int64

type goCore struct {
	n    atomic.Uint64 // Windows calls made
	port uintptr

	mu       sync.Mutex  // guards everything below but entries/removed
	helpers  []afdHelper // never shrinks: states name helpers by index
	socks    *goState    // every state not yet freed, deleted ones too
	free     *goState    // free list through next
	chunks   []uintptr   // VirtualAlloc'd chunks
	inFlight int         // states not pollIdle = packets owed to us
	cancel   ioStatusBlock

	// Used by wait, and by close once no wait runs.
	entries [waitBatch]overlappedEntry
	removed uint32
}

func newGoCore() (core, error) { return &goCore{}, nil }

func (g *goCore) calls() uint64 { return g.n.Load() }

// call makes one Windows call and counts it. Its arguments must not point
// into Go memory (chunk addresses are fine): a pointer to Go memory has to
// be converted in the syscall.SyscallN call expression itself, so such
// calls are made directly.
func (g *goCore) call(p *syscall.LazyProc, args ...uintptr) (uintptr, syscall.Errno) {
	g.n.Add(1)
	r, _, e := syscall.SyscallN(p.Addr(), args...)
	return r, e
}

// ntCall makes an ntdll call that returns an NTSTATUS.
func (g *goCore) ntCall(p *syscall.LazyProc, args ...uintptr) int32 {
	r, _ := g.call(p, args...)
	return int32(uint32(r))
}

// ntError maps a failure status to a Win32 error (0 for success).
func (g *goCore) ntError(status int32) error {
	if status >= 0 {
		return nil
	}
	r, _ := g.call(procRtlNtStatusToDosError, uintptr(uint32(status)))
	return syscall.Errno(uint32(r))
}

// ---- readiness mapping ----

// afdEventsFor gives the AFD events to poll for directions. A failed
// connect, a reset and a local close are asked for whatever the direction
// (as mio and wepoll do), so that a Readable-only registration hears of a
// refused connect; nothing when no direction is wanted (all reported: the
// state waits for a re-arm, so a lasting failure cannot spin).
func afdEventsFor(directions uint32) uint32 {
	var events uint32
	if directions&coreReadable != 0 {
		events |= afdPollReceive | afdPollAccept | afdPollDisconnect
	}
	if directions&coreWritable != 0 {
		events |= afdPollSend
	}
	if events != 0 {
		events |= afdPollConnectFail | afdPollAbort | afdPollLocalClose
	}
	return events
}

// bitsFor maps AFD events to readiness bits: directions are limited to the
// interest; closure and error bits are reported whenever seen. A failed
// connect reads as on Linux (readable, writable, both sides closed, error):
// the read or write that follows returns the connect's error.
func bitsFor(events, interest uint32) uint32 {
	var bits uint32
	if events&(afdPollReceive|afdPollAccept) != 0 {
		bits |= coreReadable
	}
	if events&afdPollDisconnect != 0 {
		bits |= coreReadable | coreReadClosed
	}
	if events&(afdPollAbort|afdPollConnectFail) != 0 {
		bits |= coreReadable | coreWritable | coreReadClosed | coreWriteClosed | coreError
	}
	if events&afdPollSend != 0 {
		bits |= coreWritable
	}
	return bits &^ (coreDirections &^ interest)
}

// ---- state memory ----

// allocState takes a zeroed state off the free list, mapping a new chunk
// when it is empty. Called with mu held.
func (g *goCore) allocState() (*goState, error) {
	if g.free == nil {
		r, e := g.call(procVirtualAlloc, 0, stateChunkSize, memCommitReserve, pageReadWrite)
		if r == 0 {
			if e == 0 {
				e = errorNotEnoughMemory
			}
			return nil, e
		}
		goLive.Add(1)
		g.chunks = append(g.chunks, r)
		for i := statesPerChunk; i > 0; i-- {
			s := stateAt(r + (i-1)*unsafe.Sizeof(goState{}))
			s.next = g.free
			g.free = s
		}
	}
	s := g.free
	g.free = s.next
	*s = goState{inUse: true}
	goLive.Add(1)
	return s, nil
}

// releaseState puts an unlinked state back on the free list, once.
func (g *goCore) releaseState(s *goState) {
	if invariantChecks && !s.inUse {
		panic("poller: goCore state freed twice")
	}
	*s = goState{next: g.free}
	g.free = s
	goLive.Add(-1)
}

// ---- AFD helpers ----

// afdDeviceName is \Device\Afd\Poller; only its \Device\Afd prefix matters.
var afdDeviceName = [...]uint16{'\\', 'D', 'e', 'v', 'i', 'c', 'e', '\\', 'A', 'f', 'd', '\\',
	'P', 'o', 'l', 'l', 'e', 'r', 0}

// openHelper opens \Device\Afd without extended attributes (a handle to the
// driver that is not a socket, good only for polls) and binds it to the
// port. Called with mu held.
func (g *goCore) openHelper() (uintptr, error) {
	name := unicodeString{
		length:    uint16(2 * (len(afdDeviceName) - 1)),
		maxLength: uint16(2 * len(afdDeviceName)),
		buffer:    &afdDeviceName[0],
	}
	attrs := objectAttributes{objectName: &name}
	attrs.length = uint32(unsafe.Sizeof(attrs))
	var iosb ioStatusBlock
	var afd uintptr
	g.n.Add(1)
	r, _, _ := syscall.SyscallN(procNtCreateFile.Addr(), uintptr(unsafe.Pointer(&afd)), uintptr(syscall.SYNCHRONIZE),
		uintptr(unsafe.Pointer(&attrs)), uintptr(unsafe.Pointer(&iosb)), 0, 0,
		fileShareRead|fileShareWrite, ntFileOpen, 0, 0, 0)
	if st := int32(uint32(r)); st < 0 {
		return 0, g.ntError(st)
	}
	g.n.Add(1)
	_, err := syscall.CreateIoCompletionPort(syscall.Handle(afd), syscall.Handle(g.port), 0, 0)
	if err == nil {
		g.n.Add(1)
		err = syscall.SetFileCompletionNotificationModes(syscall.Handle(afd), fileSkipSetEventOnHandle)
	}
	if err != nil {
		g.n.Add(1)
		syscall.CloseHandle(syscall.Handle(afd))
		return 0, err
	}
	return afd, nil
}

// acquireHelper returns the index of a helper with room for one more
// socket, opening one if all are full. Called with mu held.
func (g *goCore) acquireHelper() (uint32, error) {
	for i := range g.helpers {
		if g.helpers[i].sockets < helperMaxSockets {
			g.helpers[i].sockets++
			return uint32(i), nil
		}
	}
	afd, err := g.openHelper()
	if err != nil {
		return 0, err
	}
	goLive.Add(1)
	g.helpers = append(g.helpers, afdHelper{afd: afd, sockets: 1})
	return uint32(len(g.helpers) - 1), nil
}

// ---- socket states (the state machine of iocp_afd.c) ----

// baseSocket returns the base provider's socket under s.
func (g *goCore) baseSocket(s uintptr) (uintptr, error) {
	// Wine answers SIO_BASE_HANDLE without looking at the handle, and an
	// AFD poll naming a handle that is not a socket kills Wine 8's
	// wineserver: check first that the handle is a socket.
	var typ int32
	l := int32(unsafe.Sizeof(typ))
	g.n.Add(1)
	if err := syscall.Getsockopt(syscall.Handle(s), syscall.SOL_SOCKET, soType, (*byte)(unsafe.Pointer(&typ)), &l); err != nil {
		return 0, err
	}
	// A layered service provider may hide the base socket from
	// SIO_BASE_HANDLE; the BSP ioctls still give the socket of the
	// provider below, from which SIO_BASE_HANDLE is asked again. A BSP
	// answer equal to the socket asked is that provider's own handle, not
	// a base: no way down.
	for depth := 0; depth < 8; depth++ { // providers stacked, at most
		base, err := g.bspIoctl(s, sioBaseHandle)
		if err == nil {
			return base, nil
		}
		if err == wsaENotSock {
			return 0, err
		}
		below := invalidSocket
		for _, ioctl := range [...]uint32{sioBSPHandlePoll, sioBSPHandleSelect} {
			if b, e := g.bspIoctl(s, ioctl); e == nil && b != s {
				below = b
				break
			}
		}
		if below == invalidSocket {
			return 0, err
		}
		s = below
	}
	return 0, wsaENotSock
}

// goTestFailBaseHandle, when non-zero, makes SIO_BASE_HANDLE fail with it
// in the pure-Go core and the BSP ioctls answer with the socket itself
// (tests: a layered provider that hides the base socket and gives its own
// handle).
var goTestFailBaseHandle syscall.Errno

// bspIoctl asks s for the socket one of the BSP ioctls names.
func (g *goCore) bspIoctl(s uintptr, ioctl uint32) (uintptr, error) {
	if goTestFailBaseHandle != 0 {
		if ioctl == sioBaseHandle {
			return invalidSocket, goTestFailBaseHandle
		}
		return s, nil
	}
	base := invalidSocket
	var ret uint32
	g.n.Add(1)
	err := syscall.WSAIoctl(syscall.Handle(s), ioctl, nil, 0, (*byte)(unsafe.Pointer(&base)),
		uint32(unsafe.Sizeof(base)), &ret, nil, 0)
	if err == nil && base == invalidSocket {
		err = syscall.Errno(10022) // WSAEINVAL
	}
	return base, err
}

func (g *goCore) link(s *goState) {
	s.prev = nil
	s.next = g.socks
	if g.socks != nil {
		g.socks.prev = s
	}
	g.socks = s
}

// freeState unlinks and frees an IDLE state: the kernel holds no part of it.
func (g *goCore) freeState(s *goState) {
	if invariantChecks && s.status != pollIdle {
		panic("poller: goCore state freed while its poll is in flight")
	}
	if invariantChecks && g.helpers[s.helper].sockets == 0 {
		panic("poller: goCore helper's socket count below zero")
	}
	if s.prev != nil {
		s.prev.next = s.next
	} else {
		g.socks = s.next
	}
	if s.next != nil {
		s.next.prev = s.prev
	}
	g.helpers[s.helper].sockets--
	g.releaseState(s)
}

func (g *goCore) setInFlight(s *goState, events uint32) {
	if invariantChecks && s.status != pollIdle {
		panic("poller: goCore poll submitted on a state that already owes a packet")
	}
	s.status = pollPending
	s.pendingEvents = events
	g.inFlight++
}

// submit polls for events on an IDLE state and returns the submission's
// status. Unless it is an error status a packet is owed (also when the poll
// completed at once), so the state is PENDING: the result is handled only
// when that packet is dequeued.
func (g *goCore) submit(s *goState, events uint32) int32 {
	if s.deletePending || s.retired {
		goBadSubmits.Add(1)
		if invariantChecks {
			panic("poller: goCore poll submitted for a deleted or retired state")
		}
	}
	s.info.timeout = 1<<63 - 1
	s.info.numberOfHandles = 1
	s.info.exclusive = 0
	s.info.handles[0] = afdPollHandleInfo{handle: s.base, events: events}
	s.iosb = ioStatusBlock{status: ntStatusPending}
	iosb := s.handle() // the iosb is at offset 0
	info := iosb + unsafe.Offsetof(s.info)
	size := unsafe.Sizeof(s.info)
	st := g.ntCall(procNtDeviceIoControlFile, s.afd, 0, 0, iosb, iosb, ioctlAFDPoll, info, size, info, size)
	if !ntIsError(st) {
		g.setInFlight(s, events)
	}
	return st
}

// cancelPoll asks for the packet of a PENDING poll early. Whatever
// NtCancelIoFileEx answers, exactly one packet is still owed.
func (g *goCore) cancelPoll(s *goState) {
	if atomic.LoadInt32(&s.iosb.status) == ntStatusPending {
		g.n.Add(1)
		syscall.SyscallN(procNtCancelIoFileEx.Addr(), s.afd, s.handle(), uintptr(unsafe.Pointer(&g.cancel)))
	}
	s.status = pollCancelled
}

// update brings the poll in line with interest &^ reported: submits when
// IDLE and something is wanted; cancels a PENDING poll that does not ask
// for all of it (the resubmission follows its packet). Returns an error
// status only from a refused submission, which leaves the state IDLE.
func (g *goCore) update(s *goState) int32 {
	wanted := afdEventsFor(s.interest &^ s.reported)
	if s.dead || s.deletePending || s.retired {
		return ntStatusSuccess
	}
	if s.status == pollIdle && wanted != 0 {
		st := g.submit(s, wanted)
		if st == ntStatusInvalidHandle {
			s.dead = true // closed while no poll was in flight
		}
		if ntIsError(st) {
			return st
		}
		return ntStatusSuccess
	}
	if s.status == pollPending && wanted&^s.pendingEvents != 0 {
		g.cancelPoll(s)
	}
	return ntStatusSuccess
}

// updateOrReport is update where no error can go back to the caller: a
// refused submission is posted as the state's packet, carrying the status,
// so it surfaces as an ERROR event by the usual path.
func (g *goCore) updateOrReport(s *goState) {
	st := g.update(s)
	if !ntIsError(st) || s.dead {
		return
	}
	s.iosb.status = st
	if r, _ := g.call(procPostQueuedCompletionStatus, g.port, 0, 0, s.handle()); r != 0 {
		g.setInFlight(s, 0)
	}
}

func (g *goCore) rearmLocked(s *goState, bits uint32) {
	if invariantChecks && (!s.inUse || s.deletePending) {
		// A retired state is fine: a re-arm taken into a wait's batch
		// before the retire is applied after it, and does nothing.
		panic("poller: goCore re-arm of a deleted state")
	}
	s.reported &^= bits & coreDirections
	g.updateOrReport(s)
}

// result gives the readiness bits of a completed poll of s.
func (g *goCore) result(s *goState, was pollStatus) uint32 {
	st := s.iosb.status
	if st == ntStatusCancelled {
		return 0
	}
	if st != ntStatusSuccess {
		// A poll cancelled for a new interest is simply resubmitted. A
		// failed one is reported once; its directions wait for a re-arm
		// or modify, so a lasting failure cannot spin.
		if was == pollCancelled {
			return 0
		}
		s.reported |= s.interest
		if s.interest != 0 {
			return coreError
		}
		return 0
	}
	if s.info.numberOfHandles < 1 {
		return 0
	}
	events := s.info.handles[0].events
	if events&afdPollLocalClose != 0 {
		s.dead = true
		return coreClosed
	}
	if s.interest == 0 {
		return 0
	}
	return bitsFor(events, s.interest)
}

// complete handles the one packet owed by s and returns the bits to report
// (0: none). May free s.
func (g *goCore) complete(s *goState) uint32 {
	was := s.status
	s.status = pollIdle
	s.pendingEvents = 0
	g.inFlight--
	if invariantChecks && g.inFlight < 0 {
		panic("poller: goCore packets owed below zero")
	}
	if s.deletePending {
		g.freeState(s)
		return 0
	}
	if s.retired {
		return 0 // Go's delete frees it
	}
	bits := g.result(s, was)
	if s.dead {
		return bits & coreClosed
	}
	s.reported |= bits & coreDirections
	g.updateOrReport(s)
	return bits
}

// deleteLocked hands s to the core: freed now when idle, else when its
// packet is dequeued.
func (g *goCore) deleteLocked(s *goState) {
	if invariantChecks && (!s.inUse || s.deletePending) {
		panic("poller: goCore state deleted twice")
	}
	if s.status == pollIdle {
		g.freeState(s)
		return
	}
	if s.status == pollPending {
		g.cancelPoll(s)
	}
	s.deletePending = true
}

// dispatch turns one dequeued packet into at most one record.
func (g *goCore) dispatch(e *overlappedEntry, ev *rawEvent) bool {
	if e.key == wakeKey {
		*ev = rawEvent{id: uint64(e.bytes) | uint64(e.overlapped)<<32, bits: coreReadable}
		return ev.id != 0
	}
	if e.overlapped == 0 {
		return false
	}
	s := stateAt(e.overlapped)
	if s.status == pollIdle {
		return false // owes nothing: not one of our packets
	}
	bits := g.complete(s)
	if bits == 0 {
		return false // s may be freed
	}
	*ev = rawEvent{id: s.id, bits: bits}
	return true
}

// ---- the core interface ----

func (g *goCore) open() error {
	for _, p := range goCoreProcs {
		if err := p.Find(); err != nil {
			return err
		}
	}
	var d syscall.WSAData
	g.n.Add(1)
	if err := syscall.WSAStartup(0x202, &d); err != nil {
		return err
	}
	g.n.Add(1)
	port, err := syscall.CreateIoCompletionPort(syscall.InvalidHandle, 0, 0, 0)
	if err != nil {
		g.n.Add(1)
		syscall.WSACleanup()
		return err
	}
	g.port = uintptr(port)
	goLive.Add(1)
	return nil
}

// add gives every socket AFD: the overlapped engine, asked for in flags
// (or by a deferred connect), is ErrOverlappedUnsupported here. The other
// add flags are the overlapped engine's.
func (g *goCore) add(socket uintptr, id uint64, interest, flags uint32, connectTo unsafe.Pointer, connectLen int32) (uintptr, uint32, error) {
	if flags&addOverlapped != 0 || connectTo != nil {
		return 0, 0, ErrOverlappedUnsupported
	}
	base, err := g.baseSocket(socket)
	if err != nil {
		return 0, 0, err
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	h, err := g.acquireHelper()
	if err != nil {
		return 0, 0, err
	}
	s, err := g.allocState()
	if err != nil {
		g.helpers[h].sockets--
		return 0, 0, err
	}
	s.base, s.id, s.interest = base, id, interest&coreDirections
	s.helper, s.afd = h, g.helpers[h].afd
	g.link(s)
	if err := g.ntError(g.update(s)); err != nil {
		g.freeState(s) // refused: still IDLE
		return 0, 0, err
	}
	return s.handle(), engineAFD, nil
}

func (g *goCore) modify(state uintptr, id uint64, interest uint32) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	s := stateAt(state)
	if invariantChecks && (!s.inUse || s.deletePending || s.retired) {
		panic("poller: goCore modify of a deleted or retired state")
	}
	s.id = id
	s.interest = interest & coreDirections
	s.reported = 0
	return g.ntError(g.update(s))
}

func (g *goCore) rearm(state uintptr, bits uint32) error {
	g.mu.Lock()
	g.rearmLocked(stateAt(state), bits)
	g.mu.Unlock()
	return nil
}

func (g *goCore) remove(state uintptr) error {
	g.mu.Lock()
	g.deleteLocked(stateAt(state))
	g.mu.Unlock()
	return nil
}

// retire stops s without freeing it (iocp_sock_retire): its poll is
// cancelled and it is never submitted or reported again; the remove (or
// rearmDelete entry) that follows frees it.
func (g *goCore) retire(state uintptr) error {
	g.mu.Lock()
	s := stateAt(state)
	if invariantChecks && (!s.inUse || s.deletePending || s.retired) {
		panic("poller: goCore retire of a deleted or retired state")
	}
	if s.status == pollPending {
		g.cancelPoll(s)
	}
	s.retired = true
	g.mu.Unlock()
	return nil
}

func (g *goCore) wait(rearms []coreRearm, out []rawEvent, timeoutMs uint32) (int, error) {
	if len(out) == 0 {
		return 0, errorInvalidParameter
	}
	if len(rearms) > 0 {
		g.mu.Lock()
		for i := range rearms {
			s := stateAt(rearms[i].state)
			if rearms[i].bits&rearmDelete != 0 {
				g.deleteLocked(s)
			} else {
				g.rearmLocked(s, rearms[i].bits)
			}
		}
		g.mu.Unlock()
	}
	// One packet gives at most one record: dequeuing no more than
	// len(out) keeps the records within out and leaves the rest queued.
	limit := min(len(out), waitBatch)
	g.removed = 0
	g.n.Add(1)
	r, _, e := syscall.SyscallN(procGetQueuedCompletionStatusEx.Addr(), g.port, uintptr(unsafe.Pointer(&g.entries[0])),
		uintptr(limit), uintptr(unsafe.Pointer(&g.removed)), uintptr(timeoutMs), 0)
	if r == 0 {
		if e == waitTimeout {
			return 0, nil
		}
		return 0, e
	}
	emitted := 0
	g.mu.Lock()
	for i := range g.entries[:g.removed] {
		if g.dispatch(&g.entries[i], &out[emitted]) {
			emitted++
		}
	}
	g.mu.Unlock()
	return emitted, nil
}

func (g *goCore) wake(id uint64) error {
	if r, e := g.call(procPostQueuedCompletionStatus, g.port, uintptr(uint32(id)), wakeKey, uintptr(id>>32)); r == 0 {
		return e
	}
	return nil
}

// drain dequeues until no packet is owed. Only for close: no wait runs.
func (g *goCore) drain() error {
	for g.inFlight > 0 {
		g.removed = 0
		g.n.Add(1)
		r, _, err := syscall.SyscallN(procGetQueuedCompletionStatusEx.Addr(), g.port, uintptr(unsafe.Pointer(&g.entries[0])),
			waitBatch, uintptr(unsafe.Pointer(&g.removed)), infinite, 0)
		if r == 0 {
			return err
		}
		for _, e := range g.entries[:g.removed] {
			if e.key == wakeKey || e.overlapped == 0 {
				continue
			}
			if s := stateAt(e.overlapped); s.status != pollIdle {
				s.status = pollIdle
				g.inFlight--
			}
		}
	}
	return nil
}

// close cancels every pending poll, waits for every owed packet, then frees
// every state (deleted or not), the helpers, the chunks and the port.
func (g *goCore) close() error {
	g.mu.Lock()
	for s := g.socks; s != nil; s = s.next {
		if s.status == pollPending {
			g.cancelPoll(s)
		}
	}
	g.mu.Unlock()
	// Until every owed packet is in, the kernel may still write into the
	// states: on failure leak them rather than free them.
	if err := g.drain(); err != nil {
		return err
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	for g.socks != nil {
		g.freeState(g.socks)
	}
	for _, h := range g.helpers {
		g.n.Add(1)
		syscall.CloseHandle(syscall.Handle(h.afd))
		goLive.Add(-1)
	}
	g.free = nil
	for _, c := range g.chunks {
		g.call(procVirtualFree, c, 0, memRelease)
		goLive.Add(-1)
	}
	g.helpers, g.chunks = nil, nil
	g.n.Add(1)
	syscall.CloseHandle(syscall.Handle(g.port))
	goLive.Add(-1)
	g.n.Add(1)
	syscall.WSACleanup()
	return nil
}

// ---- the overlapped engine: not in this core ----

func (g *goCore) ovlSend(uintptr, []byte, unsafe.Pointer, int32) (int, error) {
	return 0, ErrOverlappedUnsupported
}

func (g *goCore) ovlRecvfrom(uintptr, []byte, *syscall.RawSockaddrAny) (int, error) {
	return 0, ErrOverlappedUnsupported
}

func (g *goCore) ovlAccept(uintptr, *syscall.RawSockaddrAny) (uintptr, error) {
	return 0, ErrOverlappedUnsupported
}

func (g *goCore) ovlConnectStatus(uintptr, bool) error { return ErrOverlappedUnsupported }

func (g *goCore) ovlDelete(uintptr, bool) (heldBack, error) {
	return heldBack{}, ErrOverlappedUnsupported
}

func (g *goCore) ovlHandover(uintptr) error { return ErrOverlappedUnsupported }
