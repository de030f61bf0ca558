package poller

import "syscall"

// Socket option numbers for sockopt_unix.go and writev_unix.go, OpenBSD:
// keepalive timing is system-wide only (sysctl net.inet.tcp.keepidle and
// keepintvl), so SetKeepAliveConfig can set Enable alone (0: none).
const (
	soReusePort   = syscall.SO_REUSEPORT
	soReusePortLB = 0
	soNoSigpipe   = 0
	tcpKeepIdle   = 0
	tcpKeepIntvl  = 0
	tcpKeepCnt    = 0
	sendmsgFlags  = syscall.MSG_NOSIGNAL
)

// dualStackOS: no IPv4-mapped addresses on AF_INET6 sockets here (as
// package net knows): "tcp" and "udp" with an empty host stay IPv4.
const dualStackOS = false
