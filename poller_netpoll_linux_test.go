package poller

import (
	"errors"
	"net"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

// osThreads returns the process's OS thread count (/proc/self/status).
func osThreads(t *testing.T) int {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "Threads:"); ok {
			n, err := strconv.Atoi(strings.TrimSpace(v))
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatal("no Threads line in /proc/self/status")
	return 0
}

// parkedWaits counts the goroutines parked on the runtime's netpoller
// ("IO wait") inside Poll.Wait.
func parkedWaits() int {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	n := 0
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "[IO wait") && strings.Contains(g, "poller.(*Poll).Wait(") {
			n++
		}
	}
	return n
}

// In the netpoll wait mode a blocked Wait parks its goroutine on the
// runtime's netpoller and holds no OS thread: many Polls blocked at once do
// not add a thread each, as Waits blocked in epoll_wait do. A Wake, a
// timeout and a Close still end each of them.
func TestNetpollWaitHoldsNoThread(t *testing.T) {
	t.Setenv("POLLER_WAIT", "netpoll")
	const polls = 24
	before := osThreads(t)
	type waiter struct {
		p    *Poll
		w    *Waker
		done chan error
	}
	ws := make([]waiter, polls)
	for i := range ws {
		p := newPoll(t)
		w, err := NewWaker(p.Registry(), 1)
		if err != nil {
			t.Fatal(err)
		}
		ws[i] = waiter{p, w, make(chan error, 1)}
		go func(wt waiter, timeout time.Duration) {
			events := NewEvents(4)
			err := wt.p.Wait(events, timeout)
			if err == nil && events.Len() != 1 {
				err = errors.New("no Wake event")
			}
			wt.done <- err
		}(ws[i], []time.Duration{-1, time.Hour}[i%2])
	}
	deadline := time.Now().Add(eventTimeout)
	for parkedWaits() != polls {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d Waits parked on the netpoller", parkedWaits(), polls)
		}
		runtime.Gosched()
	}
	if grown := osThreads(t) - before; grown >= polls/2 {
		t.Fatalf("%d blocked Waits added %d OS threads", polls, grown)
	}
	for i, wt := range ws {
		if i%3 == 2 {
			if err := wt.p.Close(); err != nil {
				t.Fatal(err)
			}
			if err := <-wt.done; !errors.Is(err, net.ErrClosed) {
				t.Fatalf("Wait after Close = %v, want net.ErrClosed", err)
			}
			continue
		}
		if err := wt.w.Wake(); err != nil {
			t.Fatal(err)
		}
		if err := <-wt.done; err != nil {
			t.Fatalf("Wait after Wake: %v", err)
		}
	}
}

// POLLER_WAIT, read by New, picks the wait mode; block is the system call.
func TestWaitModeFromEnv(t *testing.T) {
	for _, tc := range []struct {
		env   string
		parks bool
	}{{"netpoll", true}, {"block", false}, {"", defaultWaitMode == waitNetpoll}, {"bogus", defaultWaitMode == waitNetpoll}} {
		t.Setenv("POLLER_WAIT", tc.env)
		p := newPoll(t)
		if got := p.sys.parks(); got != tc.parks {
			t.Errorf("POLLER_WAIT=%q: parks = %v, want %v", tc.env, got, tc.parks)
		}
		events := NewEvents(1)
		start := time.Now()
		if err := p.Wait(events, 3*time.Millisecond); err != nil || events.Len() != 0 {
			t.Fatalf("POLLER_WAIT=%q: Wait = %v with %d events", tc.env, err, events.Len())
		}
		if d := time.Since(start); d < 3*time.Millisecond {
			t.Fatalf("POLLER_WAIT=%q: Wait returned after %v, before its timeout", tc.env, d)
		}
	}
}
