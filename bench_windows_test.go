package poller

// BenchmarkCores: Go-to-OS crossings of the two Windows cores, side by side
// in one binary (`make bench-windows` runs it under Wine and writes the
// "Windows cores" section of BENCHMARKS.md).
//
// A round: the peers of `ready` TCP streams (registered Readable) each write
// 16 bytes; once that has settled (untimed), Wait until every stream has
// reported Readable, then Read each until ErrWouldBlock. Rounds repeat on
// the same streams, so every Wait but the first of a round only dequeues,
// and the first also flushes the re-arms queued by the previous round's
// reads.
//
// Counted crossings: the core's calls() (cgo calls for the C core, Windows
// calls for the pure-Go core) and, for Reads, one recv system call per
// TCPStream.Read (socket.go's Read makes exactly one).

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

var benchReady = []int{1, 64, 1024}

// coreBenchSet is one core's Poll with its streams, kept across the
// invocations of one sub-benchmark.
type coreBenchSet struct {
	p       *Poll
	streams []*TCPStream
	peers   []net.Conn
	events  *Events
	seen    []bool
	buf     []byte
}

// coreBenchResult is what one sub-benchmark measured, over its last (and
// longest) invocation.
type coreBenchResult struct {
	core          string
	ready         int
	rounds        int
	waits         uint64
	events        uint64
	waitCrossings uint64
	reads         uint64 // Read-until-ErrWouldBlock sequences
	readCrossings uint64 // recv calls plus core calls made while reading
	elapsed       time.Duration
}

func (r *coreBenchResult) per(x uint64, y uint64) float64 { return float64(x) / float64(y) }

// newCoreBenchSet makes the set; owner (the parent benchmark, run once)
// closes it: a sub-benchmark's cleanups run after each of its invocations.
func newCoreBenchSet(owner, b *testing.B, ln net.Listener, c namedCore, n int) *coreBenchSet {
	b.Helper()
	p := newPollWith(owner, c.new)
	set := &coreBenchSet{p: p, events: NewEvents(1024), seen: make([]bool, n), buf: make([]byte, 4096)}
	for i := 0; i < n; i++ {
		s, peer := dialAccept(b, ln)
		owner.Cleanup(func() { s.Close() })
		owner.Cleanup(func() { peer.Close() })
		if err := p.Registry().Register(s, Token(i), Readable); err != nil {
			b.Fatal(err)
		}
		set.streams = append(set.streams, s)
		set.peers = append(set.peers, peer)
	}
	// A first round, so that every measured round starts alike: with the
	// previous round's re-arms queued.
	set.round(b, nil)
	return set
}

var benchMsg = []byte("0123456789abcdef")

// round runs one round; with r it counts, and only Waits and Reads are
// timed.
func (set *coreBenchSet) round(b *testing.B, r *coreBenchResult) {
	if r != nil {
		b.StopTimer()
	}
	for _, peer := range set.peers {
		if _, err := peer.Write(benchMsg); err != nil {
			b.Fatal(err)
		}
	}
	// Let the data reach the streams and the readiness packets queue up:
	// the timed part then measures dequeuing n ready sockets.
	time.Sleep(2*time.Millisecond + time.Duration(len(set.peers))*20*time.Microsecond)
	if r != nil {
		b.StartTimer()
	}
	calls := set.p.sys.core.calls
	clear(set.seen)
	seen := 0
	deadline := time.Now().Add(eventTimeout)
	for seen < len(set.streams) {
		if time.Now().After(deadline) {
			b.Fatalf("%d of %d streams reported in %v", seen, len(set.streams), eventTimeout)
		}
		before := calls()
		if err := set.p.Wait(set.events, eventTimeout); err != nil {
			b.Fatal(err)
		}
		if r != nil {
			r.waits++
			r.waitCrossings += calls() - before
			r.events += uint64(set.events.Len())
		}
		for ev := range set.events.All() {
			i := int(ev.Token())
			if !ev.IsReadable() || set.seen[i] {
				continue
			}
			set.seen[i] = true
			seen++
			before := calls()
			recvs := uint64(0)
			for {
				recvs++
				_, err := set.streams[i].Read(set.buf)
				if errors.Is(err, ErrWouldBlock) {
					break
				}
				if err != nil {
					b.Fatal(err)
				}
			}
			if r != nil {
				r.reads++
				r.readCrossings += recvs + calls() - before
			}
		}
	}
}

func BenchmarkCores(parent *testing.B) {
	ln := netListener(parent)
	var results []*coreBenchResult
	for _, c := range buildCores() {
		for _, n := range benchReady {
			res := &coreBenchResult{core: c.name, ready: n}
			results = append(results, res)
			var set *coreBenchSet
			parent.Run(fmt.Sprintf("core=%s/ready=%d", c.name, n), func(b *testing.B) {
				if set == nil {
					set = newCoreBenchSet(parent, b, ln, c, n)
				}
				r := coreBenchResult{core: c.name, ready: n, rounds: b.N}
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					set.round(b, &r)
				}
				b.StopTimer()
				r.elapsed = b.Elapsed()
				*res = r
				b.ReportMetric(r.per(r.waits, uint64(r.rounds)), "Waits/round")
				b.ReportMetric(r.per(r.waitCrossings, r.waits), "crossings/Wait")
				b.ReportMetric(r.per(r.waitCrossings, r.events), "crossings/event")
				b.ReportMetric(r.per(r.readCrossings, r.reads), "crossings/read")
				b.ReportMetric(float64(r.elapsed.Nanoseconds())/float64(r.events), "ns/event")
			})
		}
	}
	if path := os.Getenv("POLLER_BENCH_MD"); path != "" && !parent.Failed() {
		section := coreBenchMarkdown(results)
		fmt.Print(section)
		if err := spliceBenchSection(path, section); err != nil {
			parent.Fatal(err)
		}
	}
}

const (
	windowsBegin = "<!-- windows:begin -->"
	windowsEnd   = "<!-- windows:end -->"
)

// coreBenchMarkdown renders the results as the Windows section of
// BENCHMARKS.md, markers included.
func coreBenchMarkdown(results []*coreBenchResult) string {
	var w strings.Builder
	fmt.Fprintf(&w, "%s\n## Windows cores\n\n", windowsBegin)
	w.WriteString("Reproduce with `make bench-windows` (runs `BenchmarkCores` in bench_windows_test.go under\n" +
		"Wine, one cgo binary holding both cores, and rewrites this section).\n\n")
	w.WriteString("A round: the peers of *ready* TCP streams, registered Readable, write 16 bytes each; then\n" +
		"`Wait` (capacity 1,024) until every stream has reported, and `Read` each until `ErrWouldBlock`.\n" +
		"A crossing is one Go-to-OS transition: a cgo call into iocp.c for the C core, a system call\n" +
		"through package syscall for the pure-Go core, and the one `recv` of each `Read`. Counts, not\n" +
		"times, carry over to Windows.\n\n")
	w.WriteString("| core | ready sockets | Waits per round | crossings per Wait | crossings per event | crossings per Read-until-ErrWouldBlock | all crossings per event | ns per event (Wine smoke) |\n")
	w.WriteString("|---|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, r := range results {
		if r.rounds == 0 || r.events == 0 {
			continue
		}
		fmt.Fprintf(&w, "| %s | %d | %.2f | %.2f | %.3f | %.2f | %.3f | %.0f |\n",
			coreLabel(r.core), r.ready, r.per(r.waits, uint64(r.rounds)), r.per(r.waitCrossings, r.waits),
			r.per(r.waitCrossings, r.events), r.per(r.readCrossings, r.reads),
			r.per(r.waitCrossings+r.readCrossings, r.events),
			float64(r.elapsed.Nanoseconds())/float64(r.events))
	}
	rounds := 0
	for _, r := range results {
		rounds = max(rounds, r.rounds)
	}
	fmt.Fprintf(&w, "\n%s, windows/amd64 under Wine, GOMAXPROCS %d; up to %d rounds per row.\n\n",
		runtime.Version(), runtime.GOMAXPROCS(0), rounds)
	w.WriteString("Reading the table:\n\n" +
		"- The C core makes one crossing per `Wait`, whatever it re-arms and dequeues: the queued\n" +
		"  re-arms travel into iocp_wait with the call, and the AFD polls they submit are made on the\n" +
		"  C side. At 1,024 ready sockets a `Wait` takes at most 256 packets (both cores' batch).\n" +
		"- The pure-Go core pays the same Windows calls one by one: one `GetQueuedCompletionStatusEx`\n" +
		"  per `Wait`, plus one `NtDeviceIoControlFile` per re-arm that `Wait` flushes, i.e. about one\n" +
		"  per event in steady state. So per event it costs about 1 + (Waits / events) crossings, the\n" +
		"  C core Waits / events.\n" +
		"- Read until `ErrWouldBlock` is two `recv` calls (the data, then `WSAEWOULDBLOCK`) for both\n" +
		"  cores: the re-arm it causes is queued, and paid inside the next `Wait` (counted there).\n" +
		"- ns per event are Wine smoke figures: every Windows call under Wine is a round trip to\n" +
		"  wineserver, so they say nothing about speed on Windows.\n")
	fmt.Fprintf(&w, "%s\n", windowsEnd)
	return w.String()
}

func coreLabel(name string) string {
	switch name {
	case "c":
		return "C (iocp.c, cgo)"
	case "go":
		return "pure Go (syscall)"
	}
	return name
}

// spliceBenchSection replaces the windows section of the file at path,
// creating the file (with an empty Linux section) when it is missing, and
// leaving everything outside the windows markers as it was.
func spliceBenchSection(path, section string) error {
	old, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		old = []byte("# Benchmarks\n\n<!-- linux:begin -->\n<!-- linux:end -->\n\n" + windowsBegin + "\n" + windowsEnd + "\n")
	} else if err != nil {
		return err
	}
	i := bytes.Index(old, []byte(windowsBegin))
	j := bytes.Index(old, []byte(windowsEnd))
	var out []byte
	switch {
	case i < 0 && j < 0:
		out = append(append(bytes.TrimRight(old, "\n"), "\n\n"...), section...)
	case i >= 0 && j > i:
		out = append(append(append([]byte{}, old[:i]...), strings.TrimSuffix(section, "\n")...), old[j+len(windowsEnd):]...)
	default:
		return fmt.Errorf("%s: unbalanced %s / %s markers", path, windowsBegin, windowsEnd)
	}
	return os.WriteFile(path, out, 0o644)
}
