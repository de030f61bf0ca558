package poller

import "syscall"

// Socket option numbers for sockopt_unix.go and writev_unix.go, NetBSD.
const (
	soReusePort   = syscall.SO_REUSEPORT
	soReusePortLB = 0
	soNoSigpipe   = 0
	tcpKeepIdle   = syscall.TCP_KEEPIDLE
	tcpKeepIntvl  = syscall.TCP_KEEPINTVL
	tcpKeepCnt    = syscall.TCP_KEEPCNT
	sendmsgFlags  = syscall.MSG_NOSIGNAL
)

// dualStackOS: IPv4-mapped addresses on AF_INET6 sockets (listen.go probes too).
const dualStackOS = true
