package poller

import "syscall"

// Socket option numbers for sockopt_unix.go and writev_unix.go, DragonFly.
const (
	soReusePort   = syscall.SO_REUSEPORT
	soReusePortLB = 0
	soNoSigpipe   = 0
	tcpKeepIdle   = syscall.TCP_KEEPIDLE
	tcpKeepIntvl  = syscall.TCP_KEEPINTVL
	tcpKeepCnt    = syscall.TCP_KEEPCNT
	sendmsgFlags  = syscall.MSG_NOSIGNAL
)

// dualStackOS: no IPv4-mapped addresses on AF_INET6 sockets here (as
// package net knows): "tcp" and "udp" with an empty host stay IPv4.
const dualStackOS = false
