package evloop

import (
	"container/heap"
	"time"
)

// Timer is a function to run on a loop after a delay, once (AfterFunc) or
// at a period (Every).
type Timer struct {
	l      *Loop
	when   int64 // nanoseconds since the loop started
	period int64 // 0 for a one-shot timer
	f      func()
	pos    int // in l.timers; -1 when not scheduled
}

// AfterFunc runs f on the loop goroutine once d has passed (d <= 0: at the
// loop's next turn). Loop goroutine only (a callback, a timer or a posted
// function); from elsewhere, Post a function that calls it.
func (l *Loop) AfterFunc(d time.Duration, f func()) *Timer {
	t := &Timer{l: l, when: l.clock() + int64(max(d, 0)), f: f}
	heap.Push(&l.timers, t)
	return t
}

// Every runs f on the loop goroutine every d (at least a millisecond),
// first after d. A turn that comes late is not made up: the next one is d
// later. Loop goroutine only.
func (l *Loop) Every(d time.Duration, f func()) *Timer {
	d = max(d, time.Millisecond)
	t := &Timer{l: l, when: l.clock() + int64(d), period: int64(d), f: f}
	heap.Push(&l.timers, t)
	return t
}

// Stop cancels the timer; it reports whether it was still scheduled.
// Loop goroutine only.
func (t *Timer) Stop() bool {
	if t.pos < 0 {
		return false
	}
	heap.Remove(&t.l.timers, t.pos)
	return true
}

// clock returns the time since the loop started, in nanoseconds.
func (l *Loop) clock() int64 {
	if l.start.IsZero() {
		return 0 // not running yet: Wait's first timeout measures from start
	}
	return int64(time.Since(l.start))
}

// runTimers runs the timers that are due, then closes what they closed.
func (l *Loop) runTimers() {
	if len(l.timers) == 0 {
		return
	}
	l.now = l.clock()
	for len(l.timers) > 0 && l.timers[0].when <= l.now {
		t := l.timers[0]
		if t.period > 0 {
			t.when = max(t.when+t.period, l.now+1)
			heap.Fix(&l.timers, 0)
		} else {
			heap.Pop(&l.timers)
		}
		l.protect(nil, t.f)
	}
	l.reap()
}

// timerHeap orders a loop's timers by when.
type timerHeap []*Timer

func (h timerHeap) Len() int           { return len(h) }
func (h timerHeap) Less(i, j int) bool { return h[i].when < h[j].when }
func (h timerHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].pos, h[j].pos = i, j
}

func (h *timerHeap) Push(x any) {
	t := x.(*Timer)
	t.pos = len(*h)
	*h = append(*h, t)
}

func (h *timerHeap) Pop() any {
	old := *h
	t := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	t.pos = -1
	return t
}
