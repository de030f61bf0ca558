// Command nethttp is the package net/http peer of examples/http: a
// handler that answers "Hello, World!" as in the TechEmpower plaintext
// test, with net/http's defaults (a goroutine per connection).
package main

import (
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8081", "address to listen on")
	flag.Parse()
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("listening on %s\n", ln.Addr())
	body := []byte("Hello, World!")
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.Header().Set("Server", "nethttp")
		w.Write(body)
	})
	log.Fatal(http.Serve(ln, h))
}
