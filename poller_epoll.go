//go:build linux

package poller

import (
	"os"
	"syscall"
	"unsafe"
)

// The epoll backend: edge-triggered registrations keyed by registration id
// (the 64-bit epoll data), an eventfd for wakes keyed by id 0.

const sysKeyIsHandle = false

var _ backend = (*sysPoll)(nil)

// epollET is EPOLLET as a uint32 (package syscall declares it negative).
const epollET = 1 << 31

type sysPoll struct {
	epfd    int
	eventfd int
	np      sysNetpoll // the netpoll wait mode (poller_unix_netpoll.go)
}

// epollMaxEvents is the most records one epoll_wait takes: the kernel
// refuses (EINVAL) more than INT_MAX / sizeof(struct epoll_event).
const epollMaxEvents = (1<<31 - 1) / 12

// maxOSBatch is the most records one OS wait is given; what is ready
// beyond it is reported by the next waits. Tests lower it.
var maxOSBatch = epollMaxEvents

type sysEvents []syscall.EpollEvent

func newSysEvents(n int) sysEvents { return make(sysEvents, n) }

// epoll_event's data is a union; syscall names its halves Fd and Pad.
func setEpollData(ev *syscall.EpollEvent, id uint64) {
	*(*uint64)(unsafe.Pointer(&ev.Fd)) = id
}

func epollData(ev *syscall.EpollEvent) uint64 {
	return *(*uint64)(unsafe.Pointer(&ev.Fd))
}

// at decodes the i-th record of the last wait.
func (s *sysPoll) at(events *Events, i int) (key uint64, flags uint8, wake bool) {
	ev := &events.sys[i]
	id := epollData(ev)
	return id, epollFlags(ev.Events), id == 0
}

// epollFlags maps epoll's bits to an Event's. A refused connect comes as
// EPOLLIN|EPOLLOUT|EPOLLRDHUP|EPOLLHUP|EPOLLERR: readable, writable, both
// sides closed and error, what the Windows cores report for it too
// (TestConnectRefusedReadWrite).
func epollFlags(ev uint32) uint8 {
	var f uint8
	if ev&(syscall.EPOLLIN|syscall.EPOLLPRI|syscall.EPOLLRDHUP) != 0 {
		f |= flagReadable
	}
	if ev&syscall.EPOLLOUT != 0 {
		f |= flagWritable
	}
	if ev&syscall.EPOLLRDHUP != 0 {
		f |= flagReadClosed
	}
	if ev&syscall.EPOLLHUP != 0 {
		f |= flagReadable | flagReadClosed | flagWriteClosed
	}
	if ev&syscall.EPOLLERR != 0 {
		f |= flagError | flagWriteClosed
	}
	return f
}

func (s *sysPoll) open() error {
	epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return os.NewSyscallError("epoll_create1", err)
	}
	efd, _, e := syscall.Syscall(syscall.SYS_EVENTFD2, 0, syscall.O_CLOEXEC|syscall.O_NONBLOCK, 0)
	if e != 0 {
		syscall.Close(epfd)
		return os.NewSyscallError("eventfd2", e)
	}
	s.epfd, s.eventfd = epfd, int(efd)
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN | epollET}
	setEpollData(&ev, 0)
	if err := syscall.EpollCtl(epfd, syscall.EPOLL_CTL_ADD, s.eventfd, &ev); err != nil {
		s.close()
		return os.NewSyscallError("epoll_ctl", err)
	}
	s.openNetpoll(epfd)
	return nil
}

func epollEvents(i Interest) uint32 {
	ev := uint32(epollET | syscall.EPOLLRDHUP)
	if i&Readable != 0 {
		ev |= syscall.EPOLLIN | syscall.EPOLLPRI
	}
	if i&Writable != 0 {
		ev |= syscall.EPOLLOUT
	}
	return ev
}

func (s *sysPoll) ctl(op int, r *registration) error {
	ev := syscall.EpollEvent{Events: epollEvents(r.interest)}
	setEpollData(&ev, r.id)
	if err := syscall.EpollCtl(s.epfd, op, int(r.handle), &ev); err != nil {
		return os.NewSyscallError("epoll_ctl", err)
	}
	return nil
}

func (s *sysPoll) add(r *registration) error    { return s.ctl(syscall.EPOLL_CTL_ADD, r) }
func (s *sysPoll) modify(r *registration) error { return s.ctl(syscall.EPOLL_CTL_MOD, r) }

func (s *sysPoll) remove(r *registration) error {
	if err := syscall.EpollCtl(s.epfd, syscall.EPOLL_CTL_DEL, int(r.handle), nil); err != nil {
		return os.NewSyscallError("epoll_ctl", err)
	}
	return nil
}

// rearmSource is Registry.Rearm's re-arm: nothing to do, the kernel
// reports the next edge by itself.
func (s *sysPoll) rearmSource(r *registration, interest Interest) {}

func (s *sysPoll) beginWait() {}
func (s *sysPoll) endWait()   {}

// wait blocks in epoll_wait for at most ms milliseconds (-1: no limit).
// EINTR counts as an empty batch: the caller retries with the time left.
// In the netpoll mode a wait that may block parks on the runtime instead.
func (s *sysPoll) wait(ev *Events, ms int) (int, error) {
	if ms != 0 && s.parks() {
		return s.netpollWait(ev, ms)
	}
	n, err := epollWait(s.epfd, ev.sys[:min(len(ev.sys), maxOSBatch)], ms)
	if err == syscall.EINTR {
		return 0, nil
	}
	if err != nil {
		return 0, os.NewSyscallError("epoll_wait", err)
	}
	return n, nil
}

var wakeValue = [8]byte{1}

func (s *sysPoll) wake() error {
	_, err := syscall.Write(s.eventfd, wakeValue[:])
	if err != nil && err != syscall.EAGAIN { // EAGAIN: the counter is full, a wake is pending
		return os.NewSyscallError("write", err)
	}
	return nil
}

func (s *sysPoll) drainWake() {
	var buf [8]byte
	syscall.Read(s.eventfd, buf[:])
}

func (s *sysPoll) close() error {
	syscall.Close(s.eventfd)
	if err := s.closePollFD(s.epfd); err != nil {
		return os.NewSyscallError("close", err)
	}
	return nil
}
