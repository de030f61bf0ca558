//go:build linux

// Command waitbench measures the cost of Poll.Wait per event: -n eventfds
// registered with a Poll, each made ready again before every Wait (a write
// to an eventfd is a new edge even while its counter is not zero), and only
// the Wait timed, together with a pass over the events it returned. The
// writes stay outside the timed part. c/epollwait.c does the same with
// epoll_wait in C; -raw does it with syscall.EpollWait, without the library,
// to tell the library's share from Go's system-call path.
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime"
	"syscall"
	"time"

	"github.com/evpoll/poller"
)

func main() {
	n := flag.Int("n", 64, "ready registrations per Wait")
	total := flag.Int("events", 1_000_000, "events to time (rounded up to whole Waits)")
	raw := flag.Bool("raw", false, "time syscall.EpollWait instead of poller")
	flag.Parse()
	iters := (*total + *n - 1) / *n
	fds := make([]int, *n)
	for i := range fds {
		fd, _, e := syscall.Syscall(syscall.SYS_EVENTFD2, 0, syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0)
		if e != 0 {
			fail(e)
		}
		fds[i] = int(fd)
	}
	var ns, allocs float64
	var err error
	if *raw {
		ns, err = rawLoop(fds, iters)
	} else {
		ns, allocs, err = pollerLoop(fds, iters)
	}
	if err != nil {
		fail(err)
	}
	fmt.Printf("ns_per_event=%.2f n=%d waits=%d allocs_per_wait=%.4f\n", ns, *n, iters, allocs)
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "waitbench:", err)
	os.Exit(1)
}

var one = [8]byte{1}

func ready(fds []int) {
	for _, fd := range fds {
		syscall.Write(fd, one[:])
	}
}

// pollerLoop returns ns per event and the allocations per Wait of the
// timed Waits (the writes that make the eventfds ready allocate nothing).
func pollerLoop(fds []int, iters int) (float64, float64, error) {
	p, err := poller.New()
	if err != nil {
		return 0, 0, err
	}
	defer p.Close()
	for i, fd := range fds {
		if err := p.Registry().Register(poller.RawFD(fd), poller.Token(i), poller.Readable); err != nil {
			return 0, 0, err
		}
	}
	events := poller.NewEvents(len(fds))
	var elapsed time.Duration
	var sink uint64
	var before, after runtime.MemStats
	for it := -iters / 10; it < iters; it++ { // a tenth more as warm-up
		if it == 0 {
			runtime.ReadMemStats(&before)
		}
		ready(fds)
		t0 := time.Now()
		if err := p.Wait(events, 0); err != nil {
			return 0, 0, err
		}
		for i := 0; i < events.Len(); i++ {
			ev := events.At(i)
			if ev.IsReadable() {
				sink += uint64(ev.Token())
			}
		}
		d := time.Since(t0)
		if events.Len() != len(fds) {
			return 0, 0, fmt.Errorf("wait %d: %d events, want %d", it, events.Len(), len(fds))
		}
		if it >= 0 {
			elapsed += d
		}
	}
	runtime.ReadMemStats(&after)
	_ = sink
	allocs := float64(after.Mallocs-before.Mallocs) / float64(iters)
	return float64(elapsed.Nanoseconds()) / float64(iters*len(fds)), allocs, nil
}

func rawLoop(fds []int, iters int) (float64, error) {
	epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return 0, err
	}
	defer syscall.Close(epfd)
	for i, fd := range fds {
		ev := syscall.EpollEvent{Events: syscall.EPOLLIN | 1<<31, Fd: int32(i)}
		if err := syscall.EpollCtl(epfd, syscall.EPOLL_CTL_ADD, fd, &ev); err != nil {
			return 0, err
		}
	}
	events := make([]syscall.EpollEvent, len(fds))
	var elapsed time.Duration
	var sink uint64
	for it := -iters / 10; it < iters; it++ {
		ready(fds)
		t0 := time.Now()
		n, err := syscall.EpollWait(epfd, events, 0)
		if err != nil {
			return 0, err
		}
		for i := 0; i < n; i++ {
			if events[i].Events&syscall.EPOLLIN != 0 {
				sink += uint64(events[i].Fd)
			}
		}
		d := time.Since(t0)
		if n != len(fds) {
			return 0, fmt.Errorf("wait %d: %d events, want %d", it, n, len(fds))
		}
		if it >= 0 {
			elapsed += d
		}
	}
	_ = sink
	return float64(elapsed.Nanoseconds()) / float64(iters*len(fds)), nil
}
