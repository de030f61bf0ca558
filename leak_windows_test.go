package poller

import (
	"runtime/pprof"
	"testing"
)

const handleKind = "handles"

// openHandles is the process's handle count (poller_windows_test.go).
func openHandles(t testing.TB) int { return handleCount(t) }

// liveAllocsOrZero is the running cores' live allocations.
func liveAllocsOrZero() int64 { return liveAllocs() }

func threadsCreated() int { return pprof.Lookup("threadcreate").Count() }

// handleSlack: a new OS thread brings its own handles (under Wine 8 up to
// six: the thread, its timer, events Wine makes for it), and an old thread
// gets one or two lazily, the first time it makes a given kind of call
// (seen: +3 to +5 over a test with 6 or 7 threads, never again once every
// thread has made every call; repeating a test does not grow the count).
// The Go runtime starts threads and moves goroutines between them as it
// likes. So allow six per thread created since the baseline and one per
// thread, plus two. Leaks per socket or per registration show in the tens
// to thousands in the tests that check them (20 refused connects, 30
// sockets closed while a Wait is blocked, 1,000 sockets, 100 to 500
// connections, 5,000 to 100,000 cycles); the core's allocations are exact.
func handleSlack(base, now leakSnapshot) int { return 6*(now.threads-base.threads) + now.threads + 2 }

func leakDetail() string { return "" }

// checkCycleLeaks checks what a run of cycles (a stress loop, after a
// warm-up run) left against base, taken in between, and returns the
// snapshot after: the cores' allocations must be back exactly. Wine creates
// a few handles per OS thread lazily, the first time a thread makes a given
// kind of call, and the Go runtime moves goroutines between threads, so the
// handles may exceed base by one per thread the process made (the bound
// these stress tests always had; tighter than handleSlack). A leak in the
// cycle itself would show in the thousands.
func checkCycleLeaks(t testing.TB, base leakSnapshot, cycles int) leakSnapshot {
	t.Helper()
	now := takeLeakSnapshot(t)
	if now.allocs != base.allocs {
		t.Errorf("core live allocations %d after %d cycles, baseline %d", now.allocs, cycles, base.allocs)
	}
	if now.handles > base.handles+now.threads {
		t.Errorf("handles %d after %d cycles, baseline %d (+%d threads)", now.handles, cycles, base.handles, now.threads)
	}
	return now
}
