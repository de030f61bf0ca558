package poller

import "syscall"

// Socket option numbers for sockopt_unix.go and writev_unix.go, macOS
// (netinet/tcp.h; package syscall lacks some on amd64).
const (
	soReusePort   = syscall.SO_REUSEPORT
	soReusePortLB = 0
	soNoSigpipe   = syscall.SO_NOSIGPIPE // set on every socket: no MSG_NOSIGNAL here
	tcpKeepIdle   = 0x10                 // TCP_KEEPALIVE
	tcpKeepIntvl  = 0x101
	tcpKeepCnt    = 0x102
	sendmsgFlags  = 0
)

// dualStackOS: IPv4-mapped addresses on AF_INET6 sockets (listen.go probes too).
const dualStackOS = true
