// Command netecho is the package net peer of examples/echo: an echo server
// with a goroutine per connection, each blocked in Read on a buffer of its
// own (bufSize, the size bufio uses by default).
package main

import (
	"flag"
	"fmt"
	"log"
	"net"
	"sync"
	"sync/atomic"

	"github.com/evpoll/poller/bench/internal/stats"
)

const bufSize = 4096

type conn struct{ echoed atomic.Int64 }

var (
	mu     sync.Mutex
	live   = map[*conn]struct{}{}
	closed int64 // bytes echoed by connections that are gone
)

func main() {
	addr := flag.String("addr", "127.0.0.1:7008", "address to listen on")
	withStats := flag.Bool("stats", false, "answer each line on stdin with counters")
	flag.Parse()
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("listening on %s\n", ln.Addr())
	if *withStats {
		go stats.Serve(counters)
	}
	for {
		c, err := ln.Accept()
		if err != nil {
			log.Fatal(err)
		}
		go serve(c)
	}
}

func serve(c net.Conn) {
	st := &conn{}
	mu.Lock()
	live[st] = struct{}{}
	mu.Unlock()
	defer func() {
		c.Close()
		mu.Lock()
		delete(live, st)
		closed += st.echoed.Load()
		mu.Unlock()
	}()
	buf := make([]byte, bufSize)
	for {
		n, err := c.Read(buf)
		if n > 0 {
			st.echoed.Add(int64(n))
			if _, err := c.Write(buf[:n]); err != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func counters() (echoed, n int64) {
	mu.Lock()
	defer mu.Unlock()
	echoed = closed
	for c := range live {
		echoed += c.echoed.Load()
	}
	return echoed, int64(len(live))
}
