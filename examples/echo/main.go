// Command echo is a multi-loop echo server on poller: one Poll per loop
// goroutine, as many loops as GOMAXPROCS (or -loops), accepted connections
// spread round-robin across the loops, and no goroutine per connection.
//
//	go run ./examples/echo -addr 127.0.0.1:7007
//
// The loops are those of examples/internal/loops; this file is the protocol:
// the bytes of each read are written straight back. The steady state
// allocates nothing: every loop reads into one buffer of its own, and only
// what the socket does not take at once is copied into the connection's
// backlog; then the loop stops reading that connection and waits for
// Writable before it reads again.
//
// With -stats, each line read on standard input is answered on standard
// output with one line of counters (bytes echoed, live connections, heap and
// allocation figures); "gc" collects garbage first. bench/ uses it.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"runtime"
	"strings"

	"github.com/evpoll/poller/examples/internal/loops"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:7007", "address to listen on")
	nloops := flag.Int("loops", 0, "event loops (0: GOMAXPROCS)")
	stats := flag.Bool("stats", false, "answer each line on stdin with counters")
	flag.Parse()
	log.SetPrefix("echo: ")
	log.SetFlags(0)

	srv, err := Listen(*addr, *nloops)
	if err != nil {
		log.Fatal(err)
	}
	if *stats {
		go serveStats(srv)
	}
	if err := srv.Run(); err != nil {
		log.Fatal(err)
	}
}

// Server is the echo server. Its Stats are the bytes echoed and the
// connections open.
type Server = loops.Server[struct{}]

// Listen binds addr and prepares n loops (n < 1: GOMAXPROCS).
func Listen(addr string, n int) (*Server, error) {
	return loops.Listen(addr, n, func() loops.Handler[struct{}] { return echo{} })
}

// echo is the protocol: no state per connection or per loop.
type echo struct{}

// OnData writes in back; every byte read is echoed, so the server's count
// of bytes read is the count of bytes echoed.
func (echo) OnData(c *loops.Conn[struct{}], in []byte) { c.Write(in) }

// serveStats answers each line on stdin: "gc" runs the collector first.
func serveStats(s *Server) {
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		if strings.TrimSpace(in.Text()) == "gc" {
			runtime.GC()
			runtime.GC()
		}
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		echoed, live := s.Stats()
		fmt.Printf("stats echoed=%d conns=%d heap=%d stack=%d mallocs=%d goroutines=%d\n",
			echoed, live, m.HeapAlloc, m.StackInuse, m.Mallocs, runtime.NumGoroutine())
	}
	if err := in.Err(); err != nil && err != io.EOF {
		log.Print(err)
	}
}
