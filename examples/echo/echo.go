package main

import "github.com/evpoll/poller/evloop"

// echo is the protocol: the bytes of each read are written straight back.
// It keeps no state per connection or per loop, and allocates nothing.
type echo struct{ evloop.BaseHandler }

// OnData writes in back; every byte read is echoed, so the server's count
// of bytes read is the count of bytes echoed.
func (echo) OnData(c *evloop.Conn, in []byte) { c.Write(in) }

// newServer returns the echo server for addr with n loops (n < 1:
// GOMAXPROCS).
func newServer(addr string, n int) *evloop.Server {
	return &evloop.Server{Handler: echo{}, Addrs: []string{addr}, Loops: n}
}
