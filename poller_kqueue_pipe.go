//go:build netbsd || openbsd || dragonfly

package poller

import (
	"os"
	"syscall"
)

// kqueueWake wakes through a non-blocking pipe whose read end is registered
// (EVFILT_READ, EV_CLEAR), where the OS lacks EVFILT_USER in package syscall.
type kqueueWake struct {
	r, w int
}

func (k *kqueueWake) open(kq int) error {
	var p [2]int
	if err := syscall.Pipe2(p[:], syscall.O_NONBLOCK|syscall.O_CLOEXEC); err != nil {
		return os.NewSyscallError("pipe2", err)
	}
	k.r, k.w = p[0], p[1]
	var ch [1]syscall.Kevent_t
	syscall.SetKevent(&ch[0], k.r, syscall.EVFILT_READ, syscall.EV_ADD|syscall.EV_CLEAR)
	if _, err := syscall.Kevent(kq, ch[:], nil, nil); err != nil {
		k.close()
		return os.NewSyscallError("kevent", err)
	}
	return nil
}

func (k *kqueueWake) wake(int) error {
	_, err := syscall.Write(k.w, []byte{1})
	if err != nil && err != syscall.EAGAIN { // EAGAIN: the pipe is full, a wake is pending
		return os.NewSyscallError("write", err)
	}
	return nil
}

func (k *kqueueWake) is(ev *syscall.Kevent_t) bool {
	return int(ev.Filter) == syscall.EVFILT_READ && int(ev.Ident) == k.r
}

func (k *kqueueWake) drain() {
	var buf [64]byte
	for {
		if n, err := syscall.Read(k.r, buf[:]); n <= 0 || err != nil {
			return
		}
	}
}

func (k *kqueueWake) close() {
	syscall.Close(k.r)
	syscall.Close(k.w)
}
