//go:build linux

package poller

// The epoll backend's netpoll wait mode (poller_unix_netpoll.go): the epoll
// descriptor, readable while it has events to report, parked on through the
// runtime's netpoller, itself epoll (a nested epoll instance wakes its
// pollers for each event queued on it).

// defaultWaitMode is netpoll on Linux: the notes of bench/cmd/bench give
// the measurements that chose it.
const defaultWaitMode = waitNetpoll

// waitSyscall names the wait system call in errors.
const waitSyscall = "epoll_wait"
