// Command echo is a multi-loop echo server on evloop: one Poll per loop
// goroutine, as many loops as GOMAXPROCS (or -loops), accepted connections
// spread round-robin across the loops, and no goroutine per connection.
//
//	go run ./examples/echo -addr 127.0.0.1:7007
//
// echo.go is the protocol; the loops, backlogs and backpressure are
// evloop's. The steady state allocates nothing.
//
// With -stats, each line read on standard input is answered on standard
// output with one line of counters (bytes echoed, live connections, heap and
// allocation figures); "gc" collects garbage first. bench/ uses it.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"os/signal"
	"runtime"
	"strings"

	"github.com/evpoll/poller/evloop"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:7007", "address to listen on")
	nloops := flag.Int("loops", 0, "event loops (0: GOMAXPROCS)")
	stats := flag.Bool("stats", false, "answer each line on stdin with counters")
	flag.Parse()
	log.SetPrefix("echo: ")
	log.SetFlags(0)

	srv := newServer(*addr, *nloops)
	if err := srv.Listen(); err != nil {
		log.Fatal(err)
	}
	// bench/ waits for this line.
	fmt.Printf("listening on %s with %d loops\n", srv.ListenerAddrs()[0], srv.NumLoops())
	if *stats {
		go serveStats(srv)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := srv.Serve(ctx); !errors.Is(err, evloop.ErrServerClosed) {
		log.Fatal(err)
	}
}

// serveStats answers each line on stdin: "gc" runs the collector first.
func serveStats(s *evloop.Server) {
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		if strings.TrimSpace(in.Text()) == "gc" {
			runtime.GC()
			runtime.GC()
		}
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		st := s.Stats()
		fmt.Printf("stats echoed=%d conns=%d heap=%d stack=%d mallocs=%d goroutines=%d\n",
			st.BytesRead, st.Conns, m.HeapAlloc, m.StackInuse, m.Mallocs, runtime.NumGoroutine())
	}
	if err := in.Err(); err != nil && err != io.EOF {
		log.Print(err)
	}
}
