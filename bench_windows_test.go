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
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/evpoll/poller/internal/benchmd"
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
		if err := benchmd.Replace(path, "windows", section); err != nil {
			parent.Fatal(err)
		}
	}
}

// coreBenchMarkdown renders the results as the Windows section of
// BENCHMARKS.md (benchmd.Replace adds the markers).
func coreBenchMarkdown(results []*coreBenchResult) string {
	var w strings.Builder
	w.WriteString("## Windows cores\n\n")
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

// figureCounters reads the C core's counters for the engine figures
// (iocp_live_bytes, iocp_syscalls): set by poller_ovl_windows_test.go in cgo
// builds, nil without cgo.
var figureCounters *struct {
	liveBytes func() int64
	syscalls  func() uint64
}

type engineFigures struct {
	name                  string
	streamBytes, udpBytes float64 // C heap per idle registration
	listenerBytes         float64
	waitsPerRound         float64
	cgoPerEvent           float64 // Go-to-C crossings
	goSyscallsPerEvent    float64 // recv and send made from Go
	cSyscallsPerEvent     float64 // Winsock / IOCP / NT calls made in C
}

// measureEngine takes an engine's figures; overlapped picks the engine.
func measureEngine(t *testing.T, overlapped bool) engineFigures {
	oldCore, oldForce := newCore, forceOverlapped.Swap(overlapped)
	newCore = cCoreNew
	defer func() { newCore, _ = oldCore, forceOverlapped.Swap(oldForce) }()
	f := engineFigures{name: "AFD (IOCTL_AFD_POLL)"}
	if overlapped {
		f.name = "overlapped (iocp_ovl.c)"
	}
	p := newPoll(t)
	r := p.Registry()
	ln := netListener(t)

	// Memory: idle streams registered Readable|Writable (writable
	// reported), a UDP socket registered Readable, a listener.
	const idle = 256
	before := figureCounters.liveBytes()
	peers := make([]net.Conn, 0, idle)
	streams := make([]*TCPStream, 0, idle)
	events := NewEvents(1024)
	for i := 0; i < idle; i++ {
		s, err := DialTCP("tcp4", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if err := r.Register(s, Token(i), Readable|Writable); err != nil {
			t.Fatal(err)
		}
		c, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		streams, peers = append(streams, s), append(peers, c)
	}
	for seen := map[Token]bool{}; len(seen) < idle; {
		if err := p.Wait(events, eventTimeout); err != nil {
			t.Fatal(err)
		}
		for ev := range events.All() {
			seen[ev.Token()] = true
		}
	}
	f.streamBytes = float64(figureCounters.liveBytes()-before) / idle
	before = figureCounters.liveBytes()
	u, _ := ListenUDP("udp4", "127.0.0.1:0")
	defer u.Close()
	r.Register(u, 1<<20, Readable)
	f.udpBytes = float64(figureCounters.liveBytes() - before)
	before = figureCounters.liveBytes()
	l, _ := ListenTCP("tcp4", "127.0.0.1:0")
	defer l.Close()
	r.Register(l, 1<<21, Readable)
	f.listenerBytes = float64(figureCounters.liveBytes() - before)

	// Crossings: 64 of the streams become readable; Wait until all have
	// reported, Read each until ErrWouldBlock and Write a 16-byte reply.
	const ready, rounds = 64, 20
	msg := []byte("0123456789abcdef")
	buf := make([]byte, 64)
	var waits, evs, cgo, cSys, goSys float64
	for round := 0; round < rounds; round++ {
		for i := 0; i < ready; i++ {
			peers[i].Write(msg)
		}
		time.Sleep(20 * time.Millisecond)
		c0, s0 := p.sys.core.calls(), figureCounters.syscalls()
		done := 0
		for done < ready {
			if err := p.Wait(events, eventTimeout); err != nil {
				t.Fatal(err)
			}
			waits++
			for ev := range events.All() {
				if !ev.IsReadable() {
					continue
				}
				s := streams[ev.Token()]
				for {
					goSys++ // one recv
					_, err := s.Read(buf)
					if errors.Is(err, ErrWouldBlock) {
						break
					}
					if err != nil {
						t.Fatal(err)
					}
				}
				if engineOf(t, s.sock) == engineAFD {
					goSys++ // one send; the engine's is a cgo call
				}
				if _, err := s.Write(msg); err != nil {
					t.Fatal(err)
				}
				done++
				evs++
			}
		}
		cgo += float64(p.sys.core.calls() - c0)
		cSys += float64(figureCounters.syscalls() - s0)
		for i := 0; i < ready; i++ {
			io.ReadFull(peers[i], buf[:len(msg)])
		}
	}
	f.waitsPerRound = waits / rounds
	f.cgoPerEvent = cgo / evs
	f.goSyscallsPerEvent = goSys / evs
	f.cSyscallsPerEvent = cSys / evs
	return f
}

func TestOverlappedEngineFigures(t *testing.T) {
	if figureCounters == nil {
		t.Skip("needs the C core (a cgo build): the overlapped engine is iocp_ovl.c")
	}
	t.Setenv("POLLER_WINDOWS_ENGINE", "")
	figs := []engineFigures{measureEngine(t, false), measureEngine(t, true)}
	var b strings.Builder
	b.WriteString(`## Windows engines: AFD and overlapped

Reproduce with ` + "`make bench-engines`" + ` (runs TestOverlappedEngineFigures in
bench_windows_test.go under Wine, one cgo binary, both engines of the C core, and rewrites
this section). The overlapped engine (iocp_ovl.c) is the fallback for sockets whose base
socket AFD cannot see (non-IFS layered providers); ` + "`POLLER_WINDOWS_ENGINE=overlapped`" + ` forces it.

Memory: C heap bytes per registration, measured (` + "`iocp_live_bytes`" + `, malloc's usable sizes) with
256 idle streams registered Readable|Writable, one UDP socket and one listener registered Readable.
Kernel memory is not counted: each engine keeps one request pending per idle socket (AFD: one poll
IRP on a shared helper handle; overlapped: one zero-byte receive IRP on the socket itself, which
pins no buffer).

Crossings: 64 streams made readable by their peers (16 bytes each); ` + "`Wait`" + ` (capacity 1,024)
until all have reported; each stream read until ` + "`ErrWouldBlock`" + ` and answered with one 16-byte
` + "`Write`" + `; 20 rounds. A crossing is a Go-to-C call (cgo) or a system call made from Go (` + "`recv`" + `,
` + "`send`" + `); the system calls the C core makes on its side are counted apart. Counts, not times, carry over
to Windows.

| engine | C bytes per idle stream | per UDP socket | per listener | Waits per round | cgo calls per event | Go system calls per event | crossings per event | C-side system calls per event |
|---|---:|---:|---:|---:|---:|---:|---:|---:|
`)
	for _, f := range figs {
		fmt.Fprintf(&b, "| %s | %.0f | %.0f | %.0f | %.2f | %.3f | %.3f | %.3f | %.3f |\n",
			f.name, f.streamBytes, f.udpBytes, f.listenerBytes, f.waitsPerRound, f.cgoPerEvent,
			f.goSyscallsPerEvent, f.cgoPerEvent+f.goSyscallsPerEvent, f.cSyscallsPerEvent)
	}
	b.WriteString(`
Reading the table:

- Memory. An AFD registration is one ` + "`iocp_sock`" + ` (its IO_STATUS_BLOCK and AFD_POLL_INFO) plus a
  32nd of a helper record. An overlapped one is one ` + "`ovl_sock`" + `: two OVERLAPPED records and the
  addresses its operations need; its send buffer exists only while a send is in flight (at
  most 64 KiB, for a backlog the kernel did not take at once). A UDP socket adds the 64 KiB
  datagram buffer its pending WSARecvFrom fills (a zero-byte receive could drop a datagram);
  a listener adds nothing on the heap but holds one pre-created socket for its AcceptEx.
- Crossings. Reads are ` + "`recv`" + ` from Go in both engines (the data, then WSAEWOULDBLOCK). AFD's
  reply is a ` + "`send`" + ` from Go; the overlapped engine's is one cgo call into
  ` + "`iocp_ovl_send`" + `, which copies into the C buffer and issues WSASend: one crossing either way.
  Each Wait is one cgo call for both: the re-arms it carries (AFD polls, zero-byte receives)
  are issued on the C side.
- C-side system calls per event: AFD re-submits one poll per re-arm and shares one
  GetQueuedCompletionStatusEx per batch. The overlapped engine issues the zero-byte WSARecv
  per re-arm, peeks one byte when it completes (to tell data from FIN), and issues the
  reply's WSASend; with skip-on-success (set where the provider has IFS handles, as here)
  a send the kernel takes at once queues no packet.
`)
	section := b.String()
	t.Log("\n" + section)
	if path := os.Getenv("POLLER_ENGINES_MD"); path != "" {
		if err := benchmd.Replace(path, "engines", section); err != nil {
			t.Fatal(err)
		}
	}
}
