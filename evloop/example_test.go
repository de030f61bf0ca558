package evloop_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"net"
	"time"

	"github.com/evpoll/poller/evloop"
)

// echoServer writes back every byte it reads.
type echoServer struct{ evloop.BaseHandler }

func (echoServer) OnData(c *evloop.Conn, in []byte) { c.Write(in) }

// An echo server on a free loopback port, and a client of package net.
func Example() {
	srv := &evloop.Server{Handler: echoServer{}, Addrs: []string{"127.0.0.1:0"}}
	if err := srv.Listen(); err != nil {
		log.Fatal(err)
	}
	go srv.Serve(context.Background())
	defer srv.Close()

	c, err := net.Dial("tcp", srv.ListenerAddrs()[0].String())
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte("hello, loop"))
	buf := make([]byte, 11)
	io.ReadFull(c, buf)
	fmt.Println(string(buf))
	// Output: hello, loop
}

// Timers run on a loop goroutine; Post gets there from another goroutine.
func ExampleLoop_Every() {
	srv := &evloop.Server{Loops: 1}
	srv.Listen()
	go srv.Serve(context.Background())
	defer srv.Close()

	done := make(chan struct{})
	l := srv.Loop(0)
	l.Post(func() {
		n := 0
		var t *evloop.Timer
		t = l.Every(10*time.Millisecond, func() {
			n++
			fmt.Println("tick", n)
			if n == 3 {
				t.Stop()
				l.AfterFunc(20*time.Millisecond, func() { fmt.Println("done"); close(done) })
			}
		})
	})
	<-done
	// Output:
	// tick 1
	// tick 2
	// tick 3
	// done
}

// pusher hands each new connection to a goroutine of the program.
type pusher struct {
	evloop.BaseHandler
	conns chan *evloop.Conn
}

func (p pusher) OnOpen(c *evloop.Conn) { p.conns <- c }

// AsyncWrite sends to a connection from a goroutine that is not its loop's.
func ExampleConn_AsyncWrite() {
	conns := make(chan *evloop.Conn, 1)
	srv := &evloop.Server{Handler: pusher{conns: conns}, Addrs: []string{"127.0.0.1:0"}}
	srv.Listen()
	go srv.Serve(context.Background())
	defer srv.Close()

	c, err := net.Dial("tcp", srv.ListenerAddrs()[0].String())
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	sc := <-conns
	go func() { // any goroutine
		for i := 1; i <= 3; i++ {
			sc.AsyncWrite(fmt.Appendf(nil, "push %d\n", i))
		}
	}()
	buf := make([]byte, len("push 1\npush 2\npush 3\n"))
	io.ReadFull(c, buf)
	fmt.Print(string(buf))
	// Output:
	// push 1
	// push 2
	// push 3
}

// goodbye answers every read with a large reply: Shutdown sends all of it
// before closing the connection.
type goodbye struct{ evloop.BaseHandler }

func (goodbye) OnData(c *evloop.Conn, in []byte) { c.Write(make([]byte, 4<<20)) }

func (goodbye) OnClose(c *evloop.Conn, err error) { fmt.Println("OnClose:", err) }

// Shutdown stops accepting, sends what is buffered and closes the
// connections, like net/http's.
func ExampleServer_Shutdown() {
	srv := &evloop.Server{Handler: goodbye{}, Addrs: []string{"127.0.0.1:0"}}
	srv.Listen()
	served := make(chan error, 1)
	go func() { served <- srv.Serve(context.Background()) }()

	c, err := net.Dial("tcp", srv.ListenerAddrs()[0].String())
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte("hi"))
	io.ReadFull(c, make([]byte, 1)) // the reply has started

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	go srv.Shutdown(ctx)
	rest, _ := io.ReadAll(c) // to EOF
	err = <-served           // OnClose has run by now
	fmt.Println("received", 1+len(rest), "bytes")
	fmt.Println("Serve:", err)
	// Output:
	// OnClose: evloop: server closed
	// received 4194304 bytes
	// Serve: evloop: server closed
}
