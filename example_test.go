package poller_test

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/evpoll/poller"
)

// A complete non-blocking echo server loop: one goroutine, one Poll, every
// socket drained until ErrWouldBlock, as the edge-triggered contract asks.
// Write may take less than it is given: the rest is kept and written on
// the next Writable, before anything more is read.
func Example() {
	fmt.Println(echoRoundTrip(4000))
	// Output: client got 4000 bytes back, checksum equal
}

// TestExampleEcho runs the Example's code with 1 MiB, under every
// skip-on-success mode of the engine in use.
func TestExampleEcho(t *testing.T) {
	poller.ForEachSkipMode(t, func(t *testing.T) {
		const n = 1 << 20
		if got, want := echoRoundTrip(n), fmt.Sprintf("client got %d bytes back, checksum equal", n); got != want {
			t.Fatal(got)
		}
	})
}

// echoConn is one client of the echo server and what it still owes it.
type echoConn struct {
	s    *poller.TCPStream
	owed []byte // read, not yet written back
}

// flush writes what c owes; false once it would block (a Writable follows).
func (c *echoConn) flush() (bool, error) {
	for len(c.owed) > 0 {
		n, err := c.s.Write(c.owed)
		c.owed = c.owed[n:]
		if errors.Is(err, poller.ErrWouldBlock) {
			return false, nil
		}
		if err != nil {
			return false, err
		}
	}
	c.owed = c.owed[:0]
	return true, nil
}

// serve handles one event of c: write back what is owed, then read until
// ErrWouldBlock, writing back as it goes. While a write would block it
// stops reading: the next Writable resumes it. false: c is done.
func (c *echoConn) serve(buf []byte) bool {
	for {
		ok, err := c.flush()
		if err != nil {
			return false
		}
		if !ok {
			return true // the rest waits for Writable
		}
		n, err := c.s.Read(buf)
		c.owed = append(c.owed, buf[:n]...)
		if errors.Is(err, poller.ErrWouldBlock) {
			_, err := c.flush()
			return err == nil
		}
		if err != nil { // io.EOF or a reset
			return false
		}
	}
}

// echoRoundTrip runs an echo server and a client that sends size bytes and
// reads them back; it describes what the client got.
func echoRoundTrip(size int) string {
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
	result := make(chan string, 1)
	go func() {
		defer stop.Wake()
		result <- echoClient(ln.Addr().String(), size)
	}()

	conns := map[poller.Token]*echoConn{}
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
					c.s.Close()
				}
				return <-result
			case listenerToken:
				for { // accept until ErrWouldBlock
					s, _, err := ln.Accept()
					if errors.Is(err, poller.ErrWouldBlock) {
						break
					}
					if err != nil {
						log.Fatal(err)
					}
					conns[next] = &echoConn{s: s}
					p.Registry().Register(s, next, poller.Readable|poller.Writable)
					next++
				}
			default:
				c := conns[ev.Token()]
				if c != nil && !c.serve(buf) {
					c.s.Close() // closing deregisters
					delete(conns, ev.Token())
				}
			}
		}
	}
}

// echoClient sends size bytes to addr, reads as many back and compares
// checksums.
func echoClient(addr string, size int) string {
	c, err := net.Dial("tcp4", addr)
	if err != nil {
		return err.Error()
	}
	defer c.Close()
	sent := make([]byte, size)
	for i := range sent {
		sent[i] = byte(i*7 + i/251)
	}
	go c.Write(sent)
	c.SetReadDeadline(time.Now().Add(60 * time.Second))
	got, err := io.ReadAll(io.LimitReader(c, int64(size)))
	if err != nil {
		return fmt.Sprintf("client got %d bytes back: %v", len(got), err)
	}
	if sha256.Sum256(sent) != sha256.Sum256(got) {
		return fmt.Sprintf("client got %d bytes back, checksum different", len(got))
	}
	return fmt.Sprintf("client got %d bytes back, checksum equal", len(got))
}

// A Waker lets another goroutine interrupt a Wait: here, to say that work
// is ready. Wakes before the Wait reports them coalesce into one event.
func ExampleWaker() {
	p, err := poller.New()
	if err != nil {
		log.Fatal(err)
	}
	defer p.Close()
	const wakeToken poller.Token = 42
	w, err := poller.NewWaker(p.Registry(), wakeToken)
	if err != nil {
		log.Fatal(err)
	}

	work := make(chan string, 1)
	go func() {
		work <- "job 1"
		if err := w.Wake(); err != nil {
			log.Print(err)
		}
	}()

	events := poller.NewEvents(8)
	for {
		if err := p.Wait(events, -1); err != nil {
			log.Fatal(err)
		}
		for ev := range events.All() {
			if ev.Token() == wakeToken {
				fmt.Println("woken for", <-work)
				return
			}
		}
	}
	// Output: woken for job 1
}

// DialTCP returns before the connect is done: the stream's first event
// tells that it finished, and TakeError whether it failed. Here the port
// is closed, so the connect is refused.
func ExampleDialTCP() {
	// A port nobody listens on: listen, note the address, close.
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()

	p, err := poller.New()
	if err != nil {
		log.Fatal(err)
	}
	defer p.Close()
	s, err := poller.DialTCP("tcp4", addr)
	if errors.Is(err, syscall.ECONNREFUSED) {
		// Some systems refuse a loopback connect at once.
		fmt.Println("connect refused")
		return
	}
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	const streamToken poller.Token = 1
	if err := p.Registry().Register(s, streamToken, poller.Writable); err != nil {
		log.Fatal(err)
	}

	events := poller.NewEvents(8)
	for {
		if err := p.Wait(events, -1); err != nil {
			log.Fatal(err)
		}
		for ev := range events.All() {
			if ev.Token() != streamToken || !ev.IsWritable() {
				continue
			}
			switch err := s.TakeError(); {
			case errors.Is(err, syscall.ECONNREFUSED):
				fmt.Println("connect refused")
			case err != nil:
				fmt.Println("connect failed:", err)
			default:
				fmt.Println("connected")
			}
			return
		}
	}
	// Output: connect refused
}

// Reregister changes what a registration waits for, and the token its
// events carry: here a stream is first watched for its connect (Writable),
// then for data (Readable) under another token.
func ExampleRegistry_Reregister() {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	defer ln.Close()
	p, err := poller.New()
	if err != nil {
		log.Fatal(err)
	}
	defer p.Close()
	s, err := poller.DialTCP("tcp4", ln.Addr().String())
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()

	const (
		connecting poller.Token = 1
		reading    poller.Token = 2
	)
	if err := p.Registry().Register(s, connecting, poller.Writable); err != nil {
		log.Fatal(err)
	}
	peer, err := ln.Accept()
	if err != nil {
		log.Fatal(err)
	}
	defer peer.Close()

	events := poller.NewEvents(8)
	// waitFor waits until an event of token satisfies ok.
	waitFor := func(token poller.Token, ok func(poller.Event) bool) {
		for {
			if err := p.Wait(events, -1); err != nil {
				log.Fatal(err)
			}
			for ev := range events.All() {
				if ev.Token() == token && ok(ev) {
					return
				}
			}
		}
	}
	waitFor(connecting, poller.Event.IsWritable)
	if err := s.TakeError(); err != nil {
		log.Fatal(err)
	}
	fmt.Println("connected")

	// From now on the stream's events carry the token reading, and only
	// say Readable.
	if err := p.Registry().Reregister(s, reading, poller.Readable); err != nil {
		log.Fatal(err)
	}
	if _, err := peer.Write([]byte("hello")); err != nil {
		log.Fatal(err)
	}
	var got []byte
	buf := make([]byte, 64)
	for len(got) < len("hello") {
		waitFor(reading, poller.Event.IsReadable)
		for { // read until ErrWouldBlock
			n, err := s.Read(buf)
			got = append(got, buf[:n]...)
			if errors.Is(err, poller.ErrWouldBlock) {
				break
			}
			if err != nil {
				log.Fatal(err)
			}
		}
	}
	fmt.Printf("read %q\n", got)
	// Output:
	// connected
	// read "hello"
}
