package poller

// Leak accounting shared by the reliability tests: a snapshot of the
// process's open descriptors or handles (leak_*_test.go) and, on Windows,
// of the core's live allocations, taken at the start of a test and compared
// once every cleanup of the test has run.

import (
	"fmt"
	"net"
	"sync"
	"testing"
	"time"
)

// leakSnapshot is what a test must give back.
type leakSnapshot struct {
	handles int   // open descriptors (Unix) or handles (Windows)
	allocs  int64 // the Windows core's live allocations; 0 elsewhere
	threads int   // OS threads created so far (Windows handle slack)
}

func (s leakSnapshot) String() string {
	return fmt.Sprintf("%s %d, core allocations %d, threads %d", handleKind, s.handles, s.allocs, s.threads)
}

var warmOnce sync.Once

// leakWarmUp makes the runtime and the OS create their one-time descriptors
// (the runtime's own poller, Winsock's helpers) before any baseline.
func leakWarmUp(t testing.TB) {
	warmOnce.Do(func() {
		ln, err := net.Listen("tcp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		p, err := New()
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		// Register before Accept: the overlapped engine's connect waits
		// for Register (dialAccept would wait for ever when it is forced).
		s, err := DialTCP("tcp4", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if err := p.Registry().Register(s, 1, Readable|Writable); err != nil {
			t.Fatal(err)
		}
		c, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.Write([]byte("w"))
		p.Wait(NewEvents(4), 100*time.Millisecond)
		u, err := ListenUDP("udp4", "127.0.0.1:0")
		if err == nil {
			u.Close()
		}
	})
}

func takeLeakSnapshot(t testing.TB) leakSnapshot {
	t.Helper()
	return leakSnapshot{handles: openHandles(t), allocs: liveAllocsOrZero(), threads: threadsCreated()}
}

// checkLeaks takes a baseline now and, after every cleanup registered later
// in the test has run, checks that descriptors (or handles) and the core's
// allocations are back to it. Call it first in a test. It returns the
// baseline.
func checkLeaks(t testing.TB) leakSnapshot {
	t.Helper()
	leakWarmUp(t)
	base := takeLeakSnapshot(t)
	t.Cleanup(func() {
		if err := backToBaseline(t, base); err != nil {
			t.Error(err)
		}
	})
	return base
}

// backToBaseline compares with base, retrying for a while: package net
// closes a descriptor that another goroutine still uses only when that
// goroutine lets go of it, and nothing signals that.
func backToBaseline(t testing.TB, base leakSnapshot) error {
	t.Helper()
	var now leakSnapshot
	for try := 0; ; try++ {
		now = takeLeakSnapshot(t)
		slack := handleSlack(base, now)
		if now.allocs == base.allocs && now.handles <= base.handles+slack {
			if stress() {
				stressLog(t, "leaks: %s: %s before, %s after", t.Name(), base, now)
			} else if testing.Verbose() {
				t.Logf("leaks: %s -> %s", base, now)
			}
			return nil
		}
		if try == 100 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("leak: before the test %s, after it %s%s", base, now, leakDetail())
}
