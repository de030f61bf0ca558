//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package poller_test

import (
	"fmt"
	"log"
	"syscall"

	"github.com/evpoll/poller"
)

// RawFD registers a descriptor the caller owns, here the read end of a
// pipe. The caller does its own reads: after one returns EAGAIN it calls
// Rearm (which epoll and kqueue do not need, but portable code calls), and
// it deregisters the descriptor before closing it.
func ExampleRawFD() {
	var fds [2]int
	if err := syscall.Pipe(fds[:]); err != nil {
		log.Fatal(err)
	}
	r, w := fds[0], fds[1]
	defer syscall.Close(w)
	defer syscall.Close(r)
	if err := syscall.SetNonblock(r, true); err != nil {
		log.Fatal(err)
	}

	p, err := poller.New()
	if err != nil {
		log.Fatal(err)
	}
	defer p.Close()
	const pipeToken poller.Token = 7
	src := poller.RawFD(r)
	if err := p.Registry().Register(src, pipeToken, poller.Readable); err != nil {
		log.Fatal(err)
	}
	defer p.Registry().Deregister(src) // before the deferred Close of r

	if _, err := syscall.Write(w, []byte("ping")); err != nil {
		log.Fatal(err)
	}
	events := poller.NewEvents(8)
	buf := make([]byte, 64)
	var got []byte
	for len(got) < len("ping") {
		if err := p.Wait(events, -1); err != nil {
			log.Fatal(err)
		}
		for ev := range events.All() {
			if ev.Token() != pipeToken || !ev.IsReadable() {
				continue
			}
			for { // read until EAGAIN, then re-arm
				n, err := syscall.Read(r, buf)
				if err == syscall.EINTR {
					continue
				}
				if err == syscall.EAGAIN {
					if err := p.Registry().Rearm(src, poller.Readable); err != nil {
						log.Fatal(err)
					}
					break
				}
				if err != nil {
					log.Fatal(err)
				}
				if n == 0 {
					break // end of file: the writer closed
				}
				got = append(got, buf[:n]...)
			}
		}
	}
	fmt.Printf("read %q\n", got)
	// Output: read "ping"
}
