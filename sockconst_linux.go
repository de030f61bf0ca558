package poller

import "syscall"

// Socket option numbers for sockopt_unix.go and writev_unix.go, Linux.
const (
	soReusePort   = 0xf // SO_REUSEPORT (package syscall lacks it on 386, amd64 and arm)
	soReusePortLB = 0   // none: SO_REUSEPORT itself spreads connections
	soNoSigpipe   = 0   // none: MSG_NOSIGNAL
	tcpKeepIdle   = syscall.TCP_KEEPIDLE
	tcpKeepIntvl  = syscall.TCP_KEEPINTVL
	tcpKeepCnt    = syscall.TCP_KEEPCNT
	sendmsgFlags  = syscall.MSG_NOSIGNAL
)

// dualStackOS: IPv4-mapped addresses on AF_INET6 sockets (listen.go probes too).
const dualStackOS = true
