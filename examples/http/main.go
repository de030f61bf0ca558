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
	"flag"

	"github.com/evpoll/poller/examples/internal/serve"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "address to listen on")
	nloops := flag.Int("loops", 0, "event loops (0: GOMAXPROCS)")
	flag.Parse()
	serve.Run("http", newServer(*addr, *nloops))
}
