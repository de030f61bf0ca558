package poller_test

import (
	"errors"
	"fmt"
	"io"
	"log"
	"net"

	"github.com/evpoll/poller"
)

// A complete non-blocking echo server loop: one goroutine, one Poll, every
// socket drained until ErrWouldBlock, as the edge-triggered contract asks.
func Example() {
	p, err := poller.New()
	if err != nil {
		log.Fatal(err)
	}
	defer p.Close()
	ln, err := poller.ListenTCP("tcp4", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	defer ln.Close()

	const (
		listenerToken poller.Token = 0
		stopToken     poller.Token = 1
	)
	if err := p.Registry().Register(ln, listenerToken, poller.Readable); err != nil {
		log.Fatal(err)
	}
	stop, err := poller.NewWaker(p.Registry(), stopToken)
	if err != nil {
		log.Fatal(err)
	}

	// A client elsewhere: send, read the echo, and stop the loop.
	go func() {
		defer stop.Wake()
		c, err := net.Dial("tcp4", ln.Addr().String())
		if err != nil {
			log.Fatal(err)
		}
		defer c.Close()
		c.Write([]byte("hello, poller"))
		buf := make([]byte, 13)
		if _, err := io.ReadFull(c, buf); err != nil {
			log.Fatal(err)
		}
		fmt.Printf("client got %q\n", buf)
	}()

	conns := map[poller.Token]*poller.TCPStream{}
	next := poller.Token(2)
	events := poller.NewEvents(128)
	buf := make([]byte, 4096)
	for {
		if err := p.Wait(events, -1); err != nil {
			log.Fatal(err)
		}
		for ev := range events.All() {
			switch ev.Token() {
			case stopToken:
				for _, c := range conns {
					c.Close()
				}
				return
			case listenerToken:
				for { // accept until ErrWouldBlock
					c, _, err := ln.Accept()
					if errors.Is(err, poller.ErrWouldBlock) {
						break
					}
					if err != nil {
						log.Fatal(err)
					}
					conns[next] = c
					p.Registry().Register(c, next, poller.Readable)
					next++
				}
			default:
				c := conns[ev.Token()]
				for { // read until ErrWouldBlock, echo what came
					n, err := c.Read(buf)
					if n > 0 {
						c.Write(buf[:n]) // small echoes fit the send buffer
					}
					if err != nil {
						if !errors.Is(err, poller.ErrWouldBlock) {
							c.Close() // io.EOF or a reset: Close deregisters
							delete(conns, ev.Token())
						}
						break
					}
				}
			}
		}
	}
	// Output: client got "hello, poller"
}
