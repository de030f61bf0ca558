package poller

// Soak: Wake/Wait and Register/Deregister cycles with the heap, descriptors
// or handles, and the core's allocations checked after. Scaled down by
// default; -poller.stress (or POLLER_STRESS=1, make stress) runs 1,000,000
// Wake/Wait cycles and 100,000 register/deregister cycles.

import (
	"net"
	"runtime"
	"testing"
	"time"
)

// heapInUse is the live heap after a collection.
func heapInUse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// heapSlack is how much the live heap may grow over a whole soak: a leak of
// even a few bytes per cycle would exceed it at full size.
const heapSlack = 1 << 20

func TestSoakWakeWait(t *testing.T) {
	cycles := size(20000, 20000, 1000000, 1000000)
	checkLeaks(t)
	p := newPoll(t)
	w, err := NewWaker(p.Registry(), 77)
	if err != nil {
		t.Fatal(err)
	}
	events := NewEvents(4)
	cycle := func(i int) {
		if err := w.Wake(); err != nil {
			t.Fatalf("cycle %d: Wake: %v", i, err)
		}
		if err := p.Wait(events, eventTimeout); err != nil {
			t.Fatalf("cycle %d: Wait: %v", i, err)
		}
		if events.Len() != 1 || events.At(0).Token() != 77 {
			t.Fatalf("cycle %d: %d events, want the wake", i, events.Len())
		}
	}
	warm := cycles / 10
	for i := 0; i < warm; i++ {
		cycle(i)
	}
	heap0, snap0 := heapInUse(), takeLeakSnapshot(t)
	var ms0, ms1 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	start := time.Now()
	for i := warm; i < cycles; i++ {
		cycle(i)
	}
	elapsed := time.Since(start)
	runtime.ReadMemStats(&ms1)
	heap1, snap1 := heapInUse(), takeLeakSnapshot(t)
	handles0, handles1 := snap0.handles, snap1.handles
	if heap1 > heap0+heapSlack {
		t.Errorf("live heap grew from %d to %d bytes over %d cycles", heap0, heap1, cycles-warm)
	}
	if handles1 > handles0+handleSlack(snap0, snap1) {
		t.Errorf("%s went from %d to %d over %d cycles", handleKind, handles0, handles1, cycles-warm)
	}
	if err := p.Wait(events, 0); err != nil || events.Len() != 0 {
		t.Fatalf("after the soak: %d events, %v", events.Len(), err)
	}
	stressLog(t, "soak: %d Wake/Wait cycles in %v, live heap %d -> %d bytes, %.3f allocations per cycle, %s %d -> %d",
		cycles, elapsed.Round(time.Millisecond), heap0, heap1,
		float64(ms1.Mallocs-ms0.Mallocs)/float64(cycles-warm), handleKind, handles0, handles1)
}

func TestSoakRegisterDeregister(t *testing.T) {
	cycles := size(5000, 5000, 100000, 100000)
	checkLeaks(t)
	p := newPoll(t)
	r := p.Registry()
	const k = 8
	streams := make([]*TCPStream, k)
	peers := make([]net.Conn, k)
	for i := range streams {
		streams[i], peers[i] = streamPair(t)
	}
	events := NewEvents(64)
	cycle := func(i int) {
		s := streams[i%k]
		tok := Token(i)
		if err := r.Register(s, tok, Readable|Writable); err != nil {
			t.Fatalf("cycle %d: Register: %v", i, err)
		}
		if i%7 == 0 {
			if err := r.Reregister(s, tok, Readable); err != nil {
				t.Fatalf("cycle %d: Reregister: %v", i, err)
			}
		}
		if i%16 == 0 {
			// Let queued events and cancelled polls come in.
			if err := p.Wait(events, 0); err != nil {
				t.Fatalf("cycle %d: Wait: %v", i, err)
			}
			for ev := range events.All() {
				if ev.Token() != tok {
					t.Fatalf("cycle %d: event %v of a deregistered source", i, ev)
				}
			}
		}
		if err := r.Deregister(s); err != nil {
			t.Fatalf("cycle %d: Deregister: %v", i, err)
		}
	}
	settle := func() {
		for j := 0; j < 4; j++ {
			if err := p.Wait(events, 10*time.Millisecond); err != nil {
				t.Fatal(err)
			}
			if events.Len() != 0 {
				t.Fatalf("event %v with nothing registered", events.At(0))
			}
		}
	}
	warm := cycles / 10
	for i := 0; i < warm; i++ {
		cycle(i)
	}
	settle()
	heap0, snap0 := heapInUse(), takeLeakSnapshot(t)
	start := time.Now()
	for i := warm; i < cycles; i++ {
		cycle(i)
	}
	elapsed := time.Since(start)
	settle()
	heap1, snap1 := heapInUse(), takeLeakSnapshot(t)
	handles0, handles1, allocs0, allocs1 := snap0.handles, snap1.handles, snap0.allocs, snap1.allocs
	if heap1 > heap0+heapSlack {
		t.Errorf("live heap grew from %d to %d bytes over %d cycles", heap0, heap1, cycles-warm)
	}
	if handles1 > handles0+handleSlack(snap0, snap1) {
		t.Errorf("%s went from %d to %d over %d cycles", handleKind, handles0, handles1, cycles-warm)
	}
	if allocs1 != allocs0 {
		t.Errorf("core allocations went from %d to %d over %d cycles", allocs0, allocs1, cycles-warm)
	}
	stressLog(t, "soak: %d register/deregister cycles in %v, live heap %d -> %d bytes, %s %d -> %d, core allocations %d -> %d",
		cycles, elapsed.Round(time.Millisecond), heap0, heap1, handleKind, handles0, handles1, allocs0, allocs1)
}
