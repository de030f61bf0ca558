package poller_test

import (
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"syscall"
	"time"

	"github.com/evpoll/poller"
)

// One listener per event loop on one port: with ReusePort each loop gets
// its own listener, and the kernel spreads new connections over them
// (Linux, DragonFly, FreeBSD; Windows refuses ReusePort with an error that
// matches errors.ErrUnsupported). Control runs before bind, for options
// the package has no field for.
func ExampleListenConfig() {
	lc := poller.ListenConfig{
		ReusePort: true,
		Backlog:   1024,
		Control: func(network, address string, c syscall.RawConn) error {
			fmt.Println("about to bind", network, address)
			return nil
		},
	}
	var listeners []*poller.TCPListener
	addr := "127.0.0.1:0"
	for loop := 0; loop < 4; loop++ {
		ln, err := lc.ListenTCP("tcp4", addr)
		if errors.Is(err, errors.ErrUnsupported) {
			log.Print("no SO_REUSEPORT here: one listener, or one loop accepting for all")
			break
		}
		if err != nil {
			log.Fatal(err)
		}
		addr = ln.Addr().String() // the others bind the first one's port
		listeners = append(listeners, ln)
	}
	for _, ln := range listeners {
		// Each loop registers its own listener with its own Poll.
		ln.Close()
	}
}

// Moving a connection from package net to poller mid-conversation: the
// adopted stream is a duplicate of the net.TCPConn's socket, non-blocking;
// the original is still the caller's to close.
func ExampleTCPStreamFrom() {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	defer ln.Close()
	client, err := net.Dial("tcp4", ln.Addr().String())
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()
	conn, err := ln.Accept()
	if err != nil {
		log.Fatal(err)
	}
	// A package-net server greets the client...
	fmt.Fprint(conn, "hello, ")
	// ...then hands the connection over to poller.
	s, err := poller.TCPStreamFrom(conn.(*net.TCPConn))
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	conn.Close() // the duplicate lives on
	if _, err := s.Write([]byte("from poller")); err != nil {
		log.Fatal(err)
	}
	s.CloseWrite()
	got, err := io.ReadAll(client)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s\n", got)
	// Output: hello, from poller
}

// Writev sends a header and a body kept in separate buffers in one system
// call, without joining them first. Like Write, it returns the count with
// ErrWouldBlock when the socket takes only part: resume from that byte
// after the next Writable.
func ExampleTCPStream_Writev() {
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
	if err := p.Registry().Register(s, 1, poller.Writable); err != nil {
		log.Fatal(err)
	}
	events := poller.NewEvents(8)
	if err := p.Wait(events, 10*time.Second); err != nil { // connected
		log.Fatal(err)
	}
	peer, err := ln.Accept()
	if err != nil {
		log.Fatal(err)
	}
	defer peer.Close()

	body := []byte("hello")
	bufs := [][]byte{
		[]byte("HTTP/1.1 200 OK\r\n"),
		[]byte(fmt.Sprintf("Content-Length: %d\r\n\r\n", len(body))),
		body,
	}
	n, err := s.Writev(bufs)
	if err != nil { // ErrWouldBlock here would mean: wait for Writable, write the rest
		log.Fatal(err)
	}
	got := make([]byte, n)
	if _, err := io.ReadFull(peer, got); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%d bytes in one call: %q\n", n, got[len(got)-len(body):])
	// Output: 43 bytes in one call: "hello"
}

// A Dialer binds the local end before connecting, and lets Control set
// options the package has no method for, between the socket's creation and
// its bind.
func ExampleDialer() {
	ln, err := poller.ListenTCP("tcp4", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	defer ln.Close()
	var controlled string
	d := &poller.Dialer{
		LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)},
		Control: func(network, address string, c syscall.RawConn) error {
			controlled = network
			return nil
		},
	}
	s, err := d.DialTCP("tcp", ln.Addr().String())
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	fmt.Println("Control ran for", controlled)
	// Output: Control ran for tcp4
}
