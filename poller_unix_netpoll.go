//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package poller

import (
	"errors"
	"os"
	"syscall"
	"time"
)

// The netpoll wait mode: a Wait that finds nothing ready parks its goroutine
// on the Go runtime's own netpoller instead of blocking an OS thread in
// epoll_wait or kevent. The epoll (kqueue) descriptor is itself pollable: it
// is readable while it has events to report, and the kernel wakes its
// pollers each time an event is queued on it. Wrapped in an os.File, the
// runtime watches it like any socket of package net; the scheduler then
// wakes the loop goroutine on the thread that polled, with no system-call
// hand-off (sysmon retaking the P of a thread blocked in epoll_wait) and no
// thread switch.
//
// POLLER_WAIT, read by New, picks the mode: "netpoll" or "block" (the
// blocking system call); anything else gives the OS's default,
// defaultWaitMode.

// waitMode is how a Wait that would block waits.
type waitMode uint8

const (
	waitNetpoll waitMode = iota + 1 // park on the runtime's netpoller
	waitBlock                       // block in the system call
)

// waitModeFromEnv returns the mode POLLER_WAIT asks for, or the default.
func waitModeFromEnv() waitMode {
	switch os.Getenv("POLLER_WAIT") {
	case "netpoll":
		return waitNetpoll
	case "block":
		return waitBlock
	}
	return defaultWaitMode
}

// netpollWaiter parks Waits on the runtime's netpoller. Once opened, its
// file owns the poll descriptor and closes it.
type netpollWaiter struct {
	file     *os.File
	conn     syscall.RawConn
	parks    bool               // the runtime watches file (else: block in the system call)
	poll     func(uintptr) bool // a zero-timeout poll: true when it got events or failed
	deadline bool               // a read deadline is set on file
}

// open makes fd non-blocking (which the wait system calls ignore) and hands
// it to the runtime. It returns false, leaving fd as it was, if fd cannot be
// made non-blocking. Where the runtime cannot watch fd, w still owns it but
// does not park: w.parks is false.
func (w *netpollWaiter) open(fd int, poll func(uintptr) bool) bool {
	if syscall.SetNonblock(fd, true) != nil {
		return false
	}
	w.file = os.NewFile(uintptr(fd), "poller")
	w.conn, _ = w.file.SyscallConn()
	w.poll = poll
	// A descriptor the runtime does not watch takes no deadline.
	w.parks = w.conn != nil && w.file.SetReadDeadline(time.Time{}) == nil
	return true
}

// block parks until w.poll returns true or ms milliseconds (-1: no limit)
// have passed. RawConn.Read resets the descriptor's readiness before its
// first call of w.poll, so an event queued after a poll that found nothing
// makes the park return at once: no edge is lost between them.
func (w *netpollWaiter) block(ms int) error {
	if ms >= 0 {
		w.file.SetReadDeadline(time.Now().Add(time.Duration(ms) * time.Millisecond))
		w.deadline = true
	} else if w.deadline {
		w.file.SetReadDeadline(time.Time{})
		w.deadline = false
	}
	err := w.conn.Read(w.poll)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return nil
	}
	return err
}

// close closes the file and with it the poll descriptor; Poll.Close calls
// it only once no Wait is running, so nothing is parked on it.
func (w *netpollWaiter) close() error { return w.file.Close() }

// sysNetpoll is a backend's state for the netpoll mode.
type sysNetpoll struct {
	w      netpollWaiter
	on     bool    // the netpoll mode is in use
	events *Events // the batch the parked poll fills
	n      int     // what the parked poll got
	err    error
}

// openNetpoll switches s to the netpoll mode for its poll descriptor fd if
// POLLER_WAIT (or the default) asks for it and fd allows it.
func (s *sysPoll) openNetpoll(fd int) {
	if waitModeFromEnv() != waitNetpoll {
		return
	}
	s.np.on = s.np.w.open(fd, s.pollParked)
}

// parks reports whether a Wait that would block parks on the netpoller.
func (s *sysPoll) parks() bool { return s.np.on && s.np.w.parks }

// netpollWait waits for at most ms milliseconds (-1: no limit, never 0):
// a zero-timeout poll first, then, if that was empty, parked on the
// netpoller until a zero-timeout poll gets events.
func (s *sysPoll) netpollWait(ev *Events, ms int) (int, error) {
	if n, err := s.wait(ev, 0); n != 0 || err != nil {
		return n, err
	}
	s.np.events, s.np.n, s.np.err = ev, 0, nil
	err := s.np.w.block(ms)
	n, perr := s.np.n, s.np.err
	s.np.events, s.np.err = nil, nil
	if perr != nil {
		return 0, perr
	}
	if err != nil {
		return 0, os.NewSyscallError(waitSyscall, err)
	}
	return n, nil
}

// pollParked is the poll RawConn.Read runs: true when it got events or
// failed. A zero-timeout epoll_wait or kevent does not sleep, so it does
// not fail with EINTR (which wait reports as an empty batch).
func (s *sysPoll) pollParked(uintptr) bool {
	s.np.n, s.np.err = s.wait(s.np.events, 0)
	return s.np.n != 0 || s.np.err != nil
}

// closePollFD closes the poll descriptor fd, through the netpoller's file
// when that owns it.
func (s *sysPoll) closePollFD(fd int) error {
	if s.np.on {
		return s.np.w.close()
	}
	return syscall.Close(fd)
}
