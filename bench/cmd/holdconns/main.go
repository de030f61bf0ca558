// Command holdconns opens -n connections to -addr, prints "held N", and
// keeps them open, idle, until its standard input closes. The benchmark
// driver uses it to measure a server's memory per idle connection from
// outside the server's process.
package main

import (
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"time"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:7007", "server address")
	n := flag.Int("n", 10000, "connections")
	flag.Parse()
	conns := make([]net.Conn, 0, *n)
	for len(conns) < *n {
		c, err := net.DialTimeout("tcp", *addr, 10*time.Second)
		if err != nil {
			fmt.Fprintf(os.Stderr, "holdconns: after %d connections: %v\n", len(conns), err)
			os.Exit(1)
		}
		conns = append(conns, c)
	}
	fmt.Printf("held %d\n", len(conns))
	io.Copy(io.Discard, os.Stdin)
	for _, c := range conns {
		c.Close()
	}
}
