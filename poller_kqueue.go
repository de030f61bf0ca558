//go:build darwin || freebsd || netbsd || openbsd || dragonfly

package poller

import (
	"os"
	"syscall"
	"time"
)

// The kqueue backend: EV_CLEAR (edge-triggered) read and write filters keyed
// by descriptor; the wake mechanism (EVFILT_USER or a pipe) is in
// poller_kqueue_user.go and poller_kqueue_pipe.go.

const sysKeyIsHandle = true

var _ backend = (*sysPoll)(nil)

type sysPoll struct {
	kq int
	wk kqueueWake
	np sysNetpoll // the netpoll wait mode (poller_unix_netpoll.go)
}

// maxOSBatch is the most records one kevent call is given (its count is a
// C int); what is ready beyond it is reported by the next waits. Tests
// lower it.
var maxOSBatch = 1<<31 - 1

type sysEvents []syscall.Kevent_t

func newSysEvents(n int) sysEvents { return make(sysEvents, n) }

func (s *sysPoll) open() error {
	kq, err := syscall.Kqueue()
	if err != nil {
		return os.NewSyscallError("kqueue", err)
	}
	syscall.CloseOnExec(kq)
	s.kq = kq
	if err := s.wk.open(kq); err != nil {
		syscall.Close(kq)
		return err
	}
	s.openNetpoll(kq)
	return nil
}

// kevent applies one change.
func (s *sysPoll) kevent(fd uintptr, filter, flags int) error {
	var ch [1]syscall.Kevent_t
	syscall.SetKevent(&ch[0], int(fd), filter, flags)
	for {
		_, err := syscall.Kevent(s.kq, ch[:], nil, nil)
		if err != syscall.EINTR {
			return err
		}
	}
}

// set adds the filters of the interest and deletes the others (a missing
// filter is not an error when deleting).
func (s *sysPoll) set(r *registration, interest Interest) error {
	filters := [2]struct {
		filter int
		want   bool
	}{{syscall.EVFILT_READ, interest&Readable != 0}, {syscall.EVFILT_WRITE, interest&Writable != 0}}
	for _, f := range filters {
		flags := syscall.EV_DELETE
		if f.want {
			flags = syscall.EV_ADD | syscall.EV_CLEAR
		}
		err := s.kevent(r.handle, f.filter, flags)
		if err != nil && !(flags == syscall.EV_DELETE && err == syscall.ENOENT) {
			return os.NewSyscallError("kevent", err)
		}
	}
	return nil
}

func (s *sysPoll) add(r *registration) error    { return s.set(r, r.interest) }
func (s *sysPoll) modify(r *registration) error { return s.set(r, r.interest) }
func (s *sysPoll) remove(r *registration) error { return s.set(r, 0) }

// rearmSource is Registry.Rearm's re-arm: nothing to do, the kernel
// reports the next edge by itself.
func (s *sysPoll) rearmSource(r *registration, interest Interest) {}

func (s *sysPoll) beginWait() {}
func (s *sysPoll) endWait()   {}

// wait blocks in kevent for at most ms milliseconds (-1: no limit); EINTR
// counts as an empty batch. In the netpoll mode a wait that may block parks
// on the runtime instead.
func (s *sysPoll) wait(ev *Events, ms int) (int, error) {
	if ms != 0 && s.parks() {
		return s.netpollWait(ev, ms)
	}
	var ts *syscall.Timespec
	if ms >= 0 {
		t := syscall.NsecToTimespec(int64(ms) * int64(time.Millisecond))
		ts = &t
	}
	n, err := syscall.Kevent(s.kq, nil, ev.sys[:min(len(ev.sys), maxOSBatch)], ts)
	if err == syscall.EINTR {
		return 0, nil
	}
	if err != nil {
		return 0, os.NewSyscallError("kevent", err)
	}
	return n, nil
}

// at decodes the i-th record of the last wait.
func (s *sysPoll) at(events *Events, i int) (key uint64, flags uint8, wake bool) {
	ev := &events.sys[i]
	if s.wk.is(ev) {
		return 0, 0, true
	}
	switch int(ev.Filter) {
	case syscall.EVFILT_READ:
		flags = flagReadable
		if ev.Flags&syscall.EV_EOF != 0 {
			flags |= flagReadClosed
		}
	case syscall.EVFILT_WRITE:
		flags = flagWritable
		if ev.Flags&syscall.EV_EOF != 0 {
			flags |= flagWriteClosed
		}
	}
	if ev.Flags&syscall.EV_ERROR != 0 || (ev.Flags&syscall.EV_EOF != 0 && ev.Fflags != 0) {
		flags |= flagError
	}
	return uint64(ev.Ident), flags, false
}

func (s *sysPoll) wake() error { return s.wk.wake(s.kq) }
func (s *sysPoll) drainWake()  { s.wk.drain() }

func (s *sysPoll) close() error {
	s.wk.close()
	if err := s.closePollFD(s.kq); err != nil {
		return os.NewSyscallError("close", err)
	}
	return nil
}
