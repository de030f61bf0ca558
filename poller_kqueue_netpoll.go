//go:build darwin || freebsd || netbsd || openbsd || dragonfly

package poller

// The kqueue backend's netpoll wait mode (poller_unix_netpoll.go): the
// kqueue descriptor, readable while it has events to report, parked on
// through the runtime's netpoller, itself kqueue.

// defaultWaitMode is the blocking kevent on the BSDs and macOS: the netpoll
// mode builds there but was neither measured nor run through the suite, so
// it is opt-in (POLLER_WAIT=netpoll).
const defaultWaitMode = waitBlock

// waitSyscall names the wait system call in errors.
const waitSyscall = "kevent"
