//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package evloop_test

import (
	"io"
	"syscall"
	"testing"
	"time"

	"github.com/evpoll/poller/evloop"
)

// BenchmarkConnWritev: one request byte in, a response of a 100-byte
// header and a body (separate buffers, Conn.Writev) out. It reports the
// process's CPU time per request (user+system, server and client) beside
// ns/op and allocations.
func BenchmarkConnWritev(b *testing.B) {
	for _, c := range []struct {
		name  string
		parts []int
	}{
		{"header+4KiB", []int{4 << 10}},
		{"header+96KiB", []int{96 << 10}},
		{"header+4x32KiB", []int{32 << 10, 32 << 10, 32 << 10, 32 << 10}},
	} {
		b.Run(c.name, func(b *testing.B) {
			bufs := [][]byte{pattern(100)}
			size := 100
			for _, n := range c.parts {
				bufs = append(bufs, pattern(n))
				size += n
			}
			h := fn{data: func(c *evloop.Conn, in []byte) {
				for range in {
					c.Writev(bufs)
				}
			}}
			addr := start(b, &evloop.Server{Handler: h, Loops: 1})
			conn := dial(b, addr)
			conn.SetDeadline(time.Time{})
			got := make([]byte, size)
			req := []byte{'x'}
			round := func() {
				if _, err := conn.Write(req); err != nil {
					b.Fatal(err)
				}
				if _, err := io.ReadFull(conn, got); err != nil {
					b.Fatal(err)
				}
			}
			for range 50 {
				round()
			}
			b.ReportAllocs()
			b.ResetTimer()
			t0 := cpuTime()
			for range b.N {
				round()
			}
			b.StopTimer()
			b.ReportMetric(float64(cpuTime()-t0)/float64(b.N), "cpu-ns/op")
		})
	}
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
