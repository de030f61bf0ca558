//go:build darwin || freebsd

package poller

import (
	"os"
	"syscall"
)

// kqueueWake wakes with an EVFILT_USER event (ident 0, EV_CLEAR).
type kqueueWake struct{}

func (kqueueWake) open(kq int) error {
	var ch [1]syscall.Kevent_t
	syscall.SetKevent(&ch[0], 0, syscall.EVFILT_USER, syscall.EV_ADD|syscall.EV_CLEAR)
	if _, err := syscall.Kevent(kq, ch[:], nil, nil); err != nil {
		return os.NewSyscallError("kevent", err)
	}
	return nil
}

func (kqueueWake) wake(kq int) error {
	var ch [1]syscall.Kevent_t
	syscall.SetKevent(&ch[0], 0, syscall.EVFILT_USER, 0)
	ch[0].Fflags = syscall.NOTE_TRIGGER
	for {
		_, err := syscall.Kevent(kq, ch[:], nil, nil)
		if err != syscall.EINTR {
			if err != nil {
				return os.NewSyscallError("kevent", err)
			}
			return nil
		}
	}
}

func (kqueueWake) is(ev *syscall.Kevent_t) bool { return int(ev.Filter) == syscall.EVFILT_USER }
func (kqueueWake) drain()                       {}
func (kqueueWake) close()                       {}
