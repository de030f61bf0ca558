//go:build unix

// The Unix-domain socket examples run on Unix only: their output is
// fixed, and Windows has AF_UNIX streams only from 10 1803 (Wine 8 has
// none) and no Unix datagram sockets at all.

package poller_test

import (
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/evpoll/poller"
)

// A Unix-stream request and answer on one Poll: the listener, the dialed
// stream and the accepted one are all registered; Close of the listener
// removes its socket file.
func ExampleListenUnix() {
	dir, err := os.MkdirTemp("", "ex")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "echo.sock")

	p, err := poller.New()
	if err != nil {
		log.Fatal(err)
	}
	defer p.Close()
	ln, err := poller.ListenUnix("unix", path)
	if err != nil {
		log.Fatal(err)
	}
	const lnTok, clientTok, serverTok = 1, 2, 3
	if err := p.Registry().Register(ln, lnTok, poller.Readable); err != nil {
		log.Fatal(err)
	}
	client, err := poller.DialUnix("unix", path)
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()
	if err := p.Registry().Register(client, clientTok, poller.Readable); err != nil {
		log.Fatal(err)
	}
	if _, err := client.Write([]byte("ping")); err != nil {
		log.Fatal(err)
	}

	var server *poller.UnixStream
	events := poller.NewEvents(8)
	buf := make([]byte, 64)
	for answered := false; !answered; {
		if err := p.Wait(events, 10*time.Second); err != nil {
			log.Fatal(err)
		}
		for ev := range events.All() {
			switch ev.Token() {
			case lnTok:
				s, _, err := ln.Accept()
				if err != nil {
					log.Fatal(err)
				}
				server = s
				defer server.Close()
				if err := p.Registry().Register(server, serverTok, poller.Readable); err != nil {
					log.Fatal(err)
				}
			case serverTok:
				for {
					n, err := server.Read(buf)
					if errors.Is(err, poller.ErrWouldBlock) {
						break
					}
					if err != nil {
						log.Fatal(err)
					}
					server.Write(append([]byte("pong to "), buf[:n]...))
				}
			case clientTok:
				n, err := client.Read(buf)
				if err != nil && !errors.Is(err, poller.ErrWouldBlock) {
					log.Fatal(err)
				}
				if n > 0 {
					fmt.Printf("client got %q\n", buf[:n])
					answered = true
				}
			}
		}
	}
	ln.Close()
	_, err = os.Stat(path)
	fmt.Println("socket file removed:", errors.Is(err, os.ErrNotExist))
	// Output:
	// client got "pong to ping"
	// socket file removed: true
}

// Unix datagrams between two bound sockets: each ReadFrom says who sent.
func ExampleListenUnixgram() {
	dir, err := os.MkdirTemp("", "ex")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	a, err := poller.ListenUnixgram(filepath.Join(dir, "a"))
	if err != nil {
		log.Fatal(err)
	}
	defer a.Close()
	b, err := poller.ListenUnixgram(filepath.Join(dir, "b"))
	if err != nil {
		log.Fatal(err)
	}
	defer b.Close()

	p, err := poller.New()
	if err != nil {
		log.Fatal(err)
	}
	defer p.Close()
	if err := p.Registry().Register(b, 1, poller.Readable); err != nil {
		log.Fatal(err)
	}
	for _, m := range []string{"one", "two"} {
		if _, err := a.WriteTo([]byte(m), b.LocalAddr()); err != nil {
			log.Fatal(err)
		}
	}
	events := poller.NewEvents(4)
	buf := make([]byte, 64)
	for got := 0; got < 2; {
		if err := p.Wait(events, 10*time.Second); err != nil {
			log.Fatal(err)
		}
		for {
			n, from, err := b.ReadFrom(buf)
			if errors.Is(err, poller.ErrWouldBlock) {
				break
			}
			if err != nil {
				log.Fatal(err)
			}
			fmt.Printf("%q from %s\n", buf[:n], filepath.Base(from.String()))
			got++
		}
	}
	// Output:
	// "one" from a
	// "two" from a
}
