// Command resp is a small Redis-protocol (RESP2) server on poller: PING,
// ECHO, SET, GET, DEL and pipelining, plus the few commands clients send on
// connecting (CONFIG GET, COMMAND, SELECT 0, QUIT). It is enough for
// redis-benchmark -t ping,set,get and redis-cli:
//
//	go run ./examples/resp -addr 127.0.0.1:6380
//	redis-benchmark -p 6380 -t ping,set,get -P 16
//
// The loops are evloop's: one Poll per loop goroutine, as many loops as
// GOMAXPROCS (or -loops), connections dealt out by loop 0. proto.go is the
// protocol: each read is parsed in place; the replies to every command it
// completes go out in one write. Keys live in a store shared by the loops,
// in shards with a lock each.
package main

import (
	"flag"

	"github.com/evpoll/poller/evloop"
	"github.com/evpoll/poller/examples/internal/serve"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:6380", "address to listen on")
	nloops := flag.Int("loops", 0, "event loops (0: GOMAXPROCS)")
	flag.Parse()
	// bench/ waits for the line serve.Run prints.
	serve.Run("resp", newServer(*addr, *nloops))
}

// newServer returns the RESP server for addr with n loops (n < 1:
// GOMAXPROCS) around one key store.
func newServer(addr string, n int) *evloop.Server {
	st := new(store)
	st.init()
	return &evloop.Server{Handler: &handler{store: st}, Addrs: []string{addr}, Loops: n}
}
