// Command echo is a multi-loop echo server on evloop: one Poll per loop
// goroutine, as many loops as GOMAXPROCS (or -loops), accepted connections
// spread round-robin across the loops, and no goroutine per connection.
//
//	go run ./examples/echo -addr 127.0.0.1:7007
//
// echo.go is the protocol; the loops, backlogs and backpressure are
// evloop's. The steady state allocates nothing.
//
// With -load D, it also runs a client of -conns connections against itself
// for D, prints the round trips per second and exits: make demo-windows
// uses it for a smoke figure under Wine.
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
	"net"
	"os"
	"runtime"
	"strings"
	"sync/atomic"
	"time"

	"github.com/evpoll/poller/evloop"
	"github.com/evpoll/poller/examples/internal/serve"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:7007", "address to listen on")
	nloops := flag.Int("loops", 0, "event loops (0: GOMAXPROCS)")
	stats := flag.Bool("stats", false, "answer each line on stdin with counters")
	load := flag.Duration("load", 0, "run a client against the server for this long, print its throughput, exit")
	conns := flag.Int("conns", 8, "connections of -load")
	size := flag.Int("size", 512, "message size of -load, in bytes")
	flag.Parse()
	var also []func(*evloop.Server, func())
	if *stats {
		also = append(also, func(srv *evloop.Server, _ func()) { serveStats(srv) })
	}
	if *load > 0 {
		also = append(also, func(srv *evloop.Server, stop func()) {
			defer stop()
			if err := runLoad(srv.ListenerAddrs()[0].String(), *conns, *size, *load); err != nil {
				log.Fatal(err)
			}
		})
	}
	// bench/ waits for the line serve.Run prints.
	serve.Run("echo", newServer(*addr, *nloops), also...)
}

// runLoad echoes size-byte messages over conns connections for d, one
// message in flight per connection, and prints the round trips per second.
func runLoad(addr string, conns, size int, d time.Duration) error {
	var total atomic.Int64
	errs := make(chan error, conns)
	deadline := time.Now().Add(d)
	start := time.Now()
	for range conns {
		go func() {
			errs <- func() error {
				c, err := net.DialTimeout("tcp", addr, 10*time.Second)
				if err != nil {
					return err
				}
				defer c.Close()
				msg := make([]byte, size)
				got := make([]byte, size)
				for time.Now().Before(deadline) {
					if _, err := c.Write(msg); err != nil {
						return err
					}
					if _, err := io.ReadFull(c, got); err != nil {
						return err
					}
					total.Add(1)
				}
				return nil
			}()
		}()
	}
	for range conns {
		if err := <-errs; err != nil {
			return err
		}
	}
	secs := time.Since(start).Seconds()
	n := total.Load()
	fmt.Printf("%d connections, %d-byte messages, %v: %d round trips, %.0f round trips/s, %.2f MB/s each way\n",
		conns, size, d, n, float64(n)/secs, float64(n)*float64(size)/secs/1e6)
	return nil
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
