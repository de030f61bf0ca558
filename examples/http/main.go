// Command http is a minimal HTTP/1.1 server on evloop in the style of the
// TechEmpower plaintext test: every GET, HEAD or POST (with Content-Length)
// gets "Hello, World!", with keep-alive and pipelining.
//
//	go run ./examples/http -addr 127.0.0.1:8080
//	wrk -c 256 -d 10s http://127.0.0.1:8080/
//
// http.go is the protocol; the loops are evloop's. Chunked request bodies
// are not supported (501).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"

	"github.com/evpoll/poller/evloop"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "address to listen on")
	nloops := flag.Int("loops", 0, "event loops (0: GOMAXPROCS)")
	flag.Parse()
	log.SetPrefix("http: ")
	log.SetFlags(0)

	srv := newServer(*addr, *nloops)
	if err := srv.Listen(); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("listening on %s with %d loops\n", srv.ListenerAddrs()[0], srv.NumLoops())
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := srv.Serve(ctx); !errors.Is(err, evloop.ErrServerClosed) {
		log.Fatal(err)
	}
}
