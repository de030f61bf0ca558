// Command echoload is the echo load generator: -conns connections, each
// sending one -size message at a time and waiting for its whole echo before
// the next (a closed loop). Messages completed during -duration, after a
// -warmup, are counted; their round-trip times go into a histogram. It
// prints one JSON object: messages/s, p50 and p99 latency.
//
// It runs on poller itself, one loop goroutine per GOMAXPROCS, so it costs
// the machine the same whichever server it drives.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"runtime"
	"sync"
	"time"

	"github.com/evpoll/poller"

	"github.com/evpoll/poller/bench/internal/hist"
)

// shortReadDrains: see examples/echo.
const shortReadDrains = runtime.GOOS != "windows"

type result struct {
	Conns      int     `json:"conns"`
	Size       int     `json:"size"`
	Seconds    float64 `json:"seconds"`
	Messages   uint64  `json:"messages"`
	MsgsPerSec float64 `json:"msgs_per_sec"`
	P50us      float64 `json:"p50_us"`
	P99us      float64 `json:"p99_us"`
	Errors     int     `json:"errors"`
}

type lconn struct {
	s         *poller.TCPStream
	connected bool
	sentAt    time.Duration // since start
	written   int           // bytes of the current message written
	got       int           // bytes of its echo received
}

type loop struct {
	p      *poller.Poll
	events *poller.Events
	conns  []*lconn
	buf    []byte
	msg    []byte
	h      hist.H
	count  uint64
	errs   int
	open   int
}

func main() {
	addr := flag.String("addr", "127.0.0.1:7007", "echo server address")
	nconns := flag.Int("conns", 1000, "connections")
	size := flag.Int("size", 1024, "message size in bytes")
	warmup := flag.Duration("warmup", time.Second, "time before counting")
	duration := flag.Duration("duration", 4*time.Second, "time counted")
	nloops := flag.Int("loops", 0, "event loops (0: GOMAXPROCS)")
	flag.Parse()
	if err := run(*addr, *nconns, *size, *warmup, *duration, *nloops); err != nil {
		fmt.Fprintln(os.Stderr, "echoload:", err)
		os.Exit(1)
	}
}

func run(addr string, nconns, size int, warmup, duration time.Duration, nloops int) error {
	if nloops < 1 {
		nloops = runtime.GOMAXPROCS(0)
	}
	msg := make([]byte, size)
	for i := range msg {
		msg[i] = byte('a' + i%26)
	}
	loops := make([]*loop, nloops)
	for i := range loops {
		p, err := poller.New()
		if err != nil {
			return err
		}
		defer p.Close()
		loops[i] = &loop{p: p, events: poller.NewEvents(1024), buf: make([]byte, 64<<10), msg: msg}
	}
	for i := 0; i < nconns; i++ {
		s, err := poller.DialTCP("tcp", addr)
		if err != nil {
			return err
		}
		s.SetNoDelay(true)
		l := loops[i%nloops]
		tok := poller.Token(len(l.conns))
		if err := l.p.Registry().Register(s, tok, poller.Readable|poller.Writable); err != nil {
			return err
		}
		l.conns = append(l.conns, &lconn{s: s})
		l.open++
	}
	start := time.Now()
	countFrom, countTo := warmup, warmup+duration
	var wg sync.WaitGroup
	for _, l := range loops {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l.run(start, countFrom, countTo)
		}()
	}
	wg.Wait()
	res := result{Conns: nconns, Size: size, Seconds: duration.Seconds()}
	var h hist.H
	for _, l := range loops {
		h.Merge(&l.h)
		res.Messages += l.count
		res.Errors += l.errs
	}
	res.MsgsPerSec = float64(res.Messages) / duration.Seconds()
	res.P50us = float64(h.Quantile(0.50)) / 1e3
	res.P99us = float64(h.Quantile(0.99)) / 1e3
	if res.Messages == 0 {
		return errors.New("no message was echoed")
	}
	return json.NewEncoder(os.Stdout).Encode(res)
}

func (l *loop) run(start time.Time, countFrom, countTo time.Duration) {
	for {
		if time.Since(start) >= countTo || l.open == 0 {
			for _, c := range l.conns {
				if c.s != nil {
					c.s.Close()
				}
			}
			return
		}
		if err := l.p.Wait(l.events, 50*time.Millisecond); err != nil {
			l.errs++
			return
		}
		for i := 0; i < l.events.Len(); i++ {
			ev := l.events.At(i)
			c := l.conns[ev.Token()]
			if c.s == nil {
				continue
			}
			if !c.connected {
				if !ev.IsWritable() && !ev.IsError() {
					continue
				}
				if err := c.s.TakeError(); err != nil {
					l.fail(c)
					continue
				}
				c.connected = true
				l.send(c, ev.Token(), time.Since(start))
				continue
			}
			if ev.IsWritable() && c.written < len(l.msg) {
				l.write(c, ev.Token())
			}
			l.read(c, ev, start, countFrom, countTo)
		}
	}
}

func (l *loop) fail(c *lconn) {
	c.s.Close()
	c.s = nil
	l.errs++
	l.open--
}

// send starts the next message.
func (l *loop) send(c *lconn, tok poller.Token, now time.Duration) {
	c.sentAt, c.written, c.got = now, 0, 0
	l.write(c, tok)
}

// write writes what is left of the message. Connections stay registered for
// Readable|Writable: edge-triggered, Writable comes again only after a
// write was cut short by a full socket.
func (l *loop) write(c *lconn, tok poller.Token) {
	n, err := c.s.Write(l.msg[c.written:])
	c.written += n
	switch {
	case err == nil:
		if c.written == len(l.msg) {
			return
		}
	case errors.Is(err, poller.ErrWouldBlock):
		return // registered for Writable: the event comes
	default:
		l.fail(c)
	}
}

// read reads until the socket is empty: ErrWouldBlock, or (on epoll and
// kqueue, where what arrives later is a new edge) a short read.
func (l *loop) read(c *lconn, ev poller.Event, start time.Time, countFrom, countTo time.Duration) {
	tok := ev.Token()
	for c.s != nil {
		n, err := c.s.Read(l.buf)
		if n > 0 {
			c.got += n
			if c.got > c.written {
				l.fail(c) // more than was sent: not an echo
				return
			}
			if c.got == len(l.msg) {
				now := time.Since(start)
				if now >= countFrom && now < countTo {
					l.h.Record(int64(now - c.sentAt))
					l.count++
				}
				l.send(c, tok, now)
			}
		}
		if err != nil {
			if !errors.Is(err, poller.ErrWouldBlock) {
				l.fail(c)
			}
			return
		}
		if shortReadDrains && n < len(l.buf) && !ev.IsReadClosed() {
			return
		}
	}
}
