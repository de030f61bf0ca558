package main

import (
	"debug/buildinfo"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"
)

type report struct {
	cfg       *config
	loadStart string // /proc/loadavg when the run began
	elapsed   time.Duration
	mach      [][2]string
	echo      echoRuns
	http      httpRuns
	resp      *respRuns
	wait      waitRuns
	mem       memRuns
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// pairedRatio is the median of a[i]/b[i]: figures of the same run.
func pairedRatio(a, b []float64) float64 {
	var r []float64
	for i := range min(len(a), len(b)) {
		if b[i] != 0 {
			r = append(r, a[i]/b[i])
		}
	}
	return median(r)
}

func col[T any](xs []T, f func(T) float64) []float64 {
	out := make([]float64, len(xs))
	for i, x := range xs {
		out[i] = f(x)
	}
	return out
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	return strings.TrimSpace(s)
}

func (r *report) machine() error {
	cpu := "unknown"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				cpu = strings.TrimSpace(v)
				break
			}
		}
	}
	mem := "unknown"
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		var kb int64
		fmt.Sscanf(firstLine(string(b)), "MemTotal: %d kB", &kb)
		mem = fmt.Sprintf("%.1f GiB", float64(kb)/(1<<20))
	}
	r.loadStart = loadavg()
	kernel, _ := output("uname", "-sr")
	gcc, _ := output("gcc", "--version")
	redis, _ := output(r.cfg.redisServer, "--version")
	rb, _ := output(r.cfg.redisBench, "--version")
	gnet := "unknown"
	if bi, err := buildinfo.ReadFile(r.cfg.binary("gnetecho")); err == nil {
		for _, d := range bi.Deps {
			if d.Path == "github.com/panjf2000/gnet/v2" {
				gnet = d.Version
			}
		}
	}
	r.mach = [][2]string{
		{"CPU", fmt.Sprintf("%s, %d logical CPUs (GOMAXPROCS %d)", cpu, runtime.NumCPU(), runtime.GOMAXPROCS(0))},
		{"Memory", mem},
		{"Kernel", firstLine(kernel)},
		{"Go", runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH},
		{"C compiler", firstLine(gcc) + ", -O2"},
		{"gnet", gnet},
		{"redis-server", firstLine(redis)},
		{"redis-benchmark", firstLine(rb)},
	}
	return nil
}

// loadavg returns the three load averages of /proc/loadavg.
func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

func holds(ok bool) string {
	if ok {
		return "holds"
	}
	return "**missed**"
}

func (r *report) markdown() string {
	c := r.cfg
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	p("## Linux\n\n")
	p("Written by `make bench` (bench/cmd/bench) on %s; the whole run took %v. ",
		time.Now().UTC().Format("2006-01-02 15:04 UTC"), r.elapsed.Round(time.Second))
	p("Every figure is the median of %d runs; from run to run the servers take turns going first. ", c.runs)
	p("A ratio is the median of the run-by-run ratios, each between two figures of the same run ")
	p("(poller ÷ peer). Servers, clients and peers share the machine's cores; nothing is pinned. ")
	p("Load averages (1, 5, 15 min) when the run began: %s (the build just before counts in them); ", r.loadStart)
	p("when it ended: %s (this run counts in them). Values well above 2 mean other work shared the ", loadavg())
	p("machine with these measurements.\n\n")

	p("### Machine\n\n| | |\n|---|---|\n")
	for _, kv := range r.mach {
		p("| %s | %s |\n", kv[0], kv[1])
	}
	p("\n")

	r.targets(p)
	p("![Server CPU time per request, every server of the echo, HTTP and RESP tables](%s)\n\n", filepath.Base(r.cfg.chart))

	if r.echo != nil {
		r.echoTable(p)
	}
	if r.http != nil {
		r.httpTable(p)
	}
	if r.resp != nil {
		r.respTable(p)
	}
	r.altTable(p)
	if r.wait != nil {
		r.waitTable(p)
	}
	if r.mem != nil {
		r.memTable(p)
	}
	r.commands(p)
	p("%s", notes)
	return b.String()
}

type printer func(format string, args ...any)

func (r *report) echoTable(p printer) {
	c := r.cfg
	p("### Echo: %d connections, %d-byte messages\n\n", c.echoConns, c.echoSize)
	p("Each connection sends a message and waits for its whole echo before the next (cmd/echoload, ")
	p("itself on poller). %v warm-up, then %v counted per run. Allocations: the server's own ", c.echoWarmup, c.echoDuration)
	p("runtime.MemStats.Mallocs over the middle of the counted window, divided by the messages it echoed meanwhile; ")
	p("server CPU: its CPU time (/proc/PID/task/*/schedstat) over the same window, per message ")
	p("(lower is better; it moves far less with the machine's other load than messages/s do); context switches: ")
	p("voluntary + involuntary, summed over the server's threads (/proc/PID/task/*/status), per message. ")
	p("The C floor (c/echo.c) is one thread on epoll, edge-triggered, making the system calls an echo must make: ")
	p("what this machine charges for the work itself.\n\n")
	p("| server | messages/s | poller ÷ this | p50 µs | p99 µs | allocs/message | server CPU µs/message | poller ÷ this | ÷ C floor | context switches/message (vol + invol) |\n")
	p("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	pc := col(r.echo["poller"], func(e echoResult) float64 { return e.CPUusPerMsg })
	pe := col(r.echo["poller"], func(e echoResult) float64 { return e.MsgsPerSec })
	fc := col(r.echo["C"], func(e echoResult) float64 { return e.CPUusPerMsg })
	for _, s := range echoLabels {
		runs := r.echo[s.key]
		rate := col(runs, func(e echoResult) float64 { return e.MsgsPerSec })
		cpu := col(runs, func(e echoResult) float64 { return e.CPUusPerMsg })
		ratio, cpuRatio, floor := "—", "—", "—"
		if s.key != "poller" {
			ratio = fmt.Sprintf("%.2fx", pairedRatio(pe, rate))
			cpuRatio = fmt.Sprintf("%.2fx", pairedRatio(pc, cpu))
		}
		if s.key != "C" {
			floor = fmt.Sprintf("%.2fx", pairedRatio(cpu, fc))
		}
		p("| %s | %.0f | %s | %.0f | %.0f | %.3f | %.2f | %s | %s | %.3f + %.3f |\n", s.label, median(rate), ratio,
			median(col(runs, func(e echoResult) float64 { return e.P50us })),
			median(col(runs, func(e echoResult) float64 { return e.P99us })),
			median(col(runs, func(e echoResult) float64 { return e.AllocsPerMsg })),
			median(cpu), cpuRatio, floor,
			median(col(runs, func(e echoResult) float64 { return e.VolCSPerMsg })),
			median(col(runs, func(e echoResult) float64 { return e.InvCSPerMsg })))
	}
	p("\nPer run, messages/s:")
	for _, s := range echoLabels {
		p(" %s %s;", s.key, joinf(col(r.echo[s.key], func(e echoResult) float64 { return e.MsgsPerSec }), "%.0f"))
	}
	p(" ratios run by run: poller ÷ gnet")
	for _, peer := range []string{"gnet", "net"} {
		if peer == "net" {
			p("; poller ÷ net")
		}
		rate := col(r.echo[peer], func(e echoResult) float64 { return e.MsgsPerSec })
		for i := range min(len(pe), len(rate)) {
			p(" %.2f", pe[i]/rate[i])
		}
	}
	p(".\n\n")
}

// echoLabels names the echo servers in table order.
var echoLabels = []struct{ key, label string }{
	{"poller", "poller (examples/echo)"}, {"gnet", "gnet (cmd/gnetecho)"},
	{"net", "package net (cmd/netecho)"}, {"C", "C floor (c/echo.c)"}}

func respLabel(srv string) string {
	if srv == "poller-1" {
		return "1 loop"
	}
	return fmt.Sprintf("%d loops", runtime.GOMAXPROCS(0))
}

func (r *report) respTable(p printer) {
	c := r.cfg
	p("### RESP: redis-benchmark, -c %d, -t ping,set,get\n\n", c.respClients)
	p("examples/resp with one loop (-loops 1: one thread runs the commands, as in redis-server with its ")
	p("defaults), examples/resp with GOMAXPROCS loops (its default), and redis-server answer the same ")
	p("redis-benchmark invocations in turn; -n is sized by a pilot run so that one invocation (its four ")
	p("tests) takes about %.0f s against redis-server. CPU: the server's own CPU time per request ", c.respSeconds)
	p("(/proc/PID/task/*/schedstat) over the invocation; the rest of the machine's two cores goes to ")
	p("redis-benchmark and the kernel's loopback work.\n\n")
	p("| -P | -n | test | redis-server req/s | poller, 1 loop req/s | ÷ redis | poller, %s req/s | ÷ redis |\n",
		respLabel("poller"))
	p("|---:|---:|---|---:|---:|---:|---:|---:|\n")
	for _, pipeline := range []int{1, 16} {
		runs := r.resp.runs[pipeline]
		get := func(srv, test string) []float64 {
			return col(runs[srv], func(m map[string]float64) float64 { return m[test] })
		}
		for _, test := range append(slices.Clone(respTests), "cpu", "cs-vol", "cs-invol") {
			label, format := test, "%.0f"
			switch test {
			case "cpu":
				label, format = "server CPU µs/request (lower is better)", "%.2f"
			case "cs-vol":
				label, format = "server voluntary context switches/request", "%.3f"
			case "cs-invol":
				label, format = "server involuntary context switches/request", "%.3f"
			}
			rd, p1, pn := get("redis", test), get("poller-1", test), get("poller", test)
			p("| %d | %d | %s | "+format+" | "+format+" | %.2fx | "+format+" | %.2fx |\n",
				pipeline, r.resp.requests[pipeline], label, median(rd), median(p1), pairedRatio(p1, rd),
				median(pn), pairedRatio(pn, rd))
		}
	}
	p("\n")
}

func (r *report) waitTable(p printer) {
	p("### Wait overhead\n\n")
	p("n eventfds registered edge-triggered; before each Wait every one is written (a new edge), and only ")
	p("the Wait and a pass over its events are timed (cmd/waitbench). The C loop (c/epollwait.c) and a ")
	p("Go loop on syscall.EpollWait without the library (go-raw) do the same.\n\n")
	p("| ready registrations | poller ns/event | C ns/event | poller ÷ C | go-raw ns/event | go-raw ÷ C |\n")
	p("|---:|---:|---:|---:|---:|---:|\n")
	for _, n := range waitSizes {
		w := r.wait[n]
		p("| %d | %.1f | %.1f | %.2fx | %.1f | %.2fx |\n", n, median(w["poller"]), median(w["C"]),
			pairedRatio(w["poller"], w["C"]), median(w["go-raw"]), pairedRatio(w["go-raw"], w["C"]))
	}
	p("\n")
}

func (r *report) memTable(p printer) {
	c := r.cfg
	p("### Memory: %d idle connections\n\n", c.memConns)
	p("A separate process (cmd/holdconns) opens the connections and leaves them idle; the server reports ")
	p("runtime.MemStats after two collections, before and after. Heap is HeapAlloc; goroutine stacks ")
	p("(StackInuse) are not heap and are shown apart.\n\n")
	p("| server | heap B/conn | stack B/conn | heap + stack B/conn |\n|---|---:|---:|---:|\n")
	for _, s := range []struct{ key, label string }{
		{"poller", "poller (examples/echo)"}, {"gnet", "gnet (cmd/gnetecho)"}, {"net", "package net, goroutine per connection (cmd/netecho)"}} {
		runs := r.mem[s.key]
		h := median(col(runs, func(m memResult) float64 { return m.HeapPerConn }))
		st := median(col(runs, func(m memResult) float64 { return m.StackPerConn }))
		p("| %s | %.0f | %.0f | %.0f |\n", s.label, h, st, h+st)
	}
	ph := col(r.mem["poller"], func(m memResult) float64 { return m.HeapPerConn })
	nh := col(r.mem["net"], func(m memResult) float64 { return m.HeapPerConn })
	ns := col(r.mem["net"], func(m memResult) float64 { return m.HeapPerConn + m.StackPerConn })
	p("\npoller's heap per connection is %.2fx package net's heap, %.2fx its heap + stack.\n\n",
		pairedRatio(ph, nh), pairedRatio(ph, ns))
}

func (r *report) commands(p printer) {
	c := r.cfg
	p("### Commands\n\n```\nmake bench    # installs redis-server and redis-tools when missing, builds, runs all, rewrites this section\n")
	p("# echo, per server and run (the server started with -addr ADDR -stats):\n")
	p("%s\n", strings.Join(append([]string{"echoload"}, echoLoadArgs(c, "ADDR")...), " "))
	p("# RESP, per server, -P and run:\n")
	if r.resp != nil {
		for _, pipeline := range []int{1, 16} {
			p("%s\n", strings.Join(append([]string{"redis-benchmark"}, redisArgs(c, "127.0.0.1:PORT", pipeline, r.resp.requests[pipeline])...), " "))
		}
	}
	p("resp -addr ADDR -loops 1; resp -addr ADDR\n")
	if c.altEnv != "" {
		p("# the same examples/echo and resp -loops 1 again with %s (-alt-env)\n", strings.ReplaceAll(c.altEnv, ",", " "))
	}
	p("redis-server --port PORT --bind 127.0.0.1 --save '' --appendonly no --protected-mode no\n")
	p("# Wait, per n in 1 64 1024 and run:\n")
	for _, impl := range []string{"poller", "go-raw", "C"} {
		name, args := waitCommand(c, impl, 1024)
		p("%s %s\n", strings.TrimPrefix(name, c.bin+"/"), strings.Join(args, " "))
	}
	p("# memory, per server and run:\nholdconns -addr ADDR -n %d\n```\n\n", c.memConns)
}

func joinf(xs []float64, format string) string {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = fmt.Sprintf(format, x)
	}
	return strings.Join(s, " ")
}

// notes is the analysis that goes with the figures: what the profiles
// showed, and what limits us. Figures quoted in it were measured while it
// was written; the tables above are the ones of this run.
const notes = `### What limits us

- **The kernel does most of the work.** perf (cpu-clock sampling: this VM exposes no hardware
  counters) puts about 90% of each server's samples in the kernel during the echo and RESP -P 1
  runs: loopback TCP (tcp_sendmsg, the softirq receive path, wakeups), epoll and context
  switches. The event loops' own code is a few percent. Every echo server here makes the same
  system calls per message, give or take one, so a server is faster only by making fewer or by
  sleeping less. What we did about it: after a read that returns less than asked,
  examples/echo, examples/resp and cmd/echoload skip the read that would only return
  ErrWouldBlock (with epoll and kqueue, data that arrives later is a new edge; not on Windows,
  where that ErrWouldBlock re-arms the socket; tokio does the same), and examples/resp answers
  everything one read brought in one write. The 1.3x over package net is out of reach here for
  this reason: what separates net from us is one EAGAIN read per message and some scheduler
  work, a few percent of the CPU a message costs.
- **Go's runtime around the wait.** With Poll.Wait blocking in epoll_wait (POLLER_WAIT=block),
  per-thread counters during redis-benchmark -P 1 against examples/resp -loops 1 showed the loop
  goroutine moving between three OS threads and sysmon waking about 8,000 times a second; perf
  puts sysmon's usleep at 7% of the server's samples, and it made about 0.25-0.29 voluntary
  context switches per request where redis-server made 0.12-0.16. The netpoll wait mode (below) takes
  sysmon out (its usleep no longer shows in perf) and brings the loop to 0.15-0.25. What is left
  is the sleep and wake-up itself: perf (cpu-clock, resp -loops 1, -P 1 -c 50, load 5-7) puts
  30% of the server's samples in the context switch of epoll_wait going to sleep and waking
  (in runtime.netpoll, called by the scheduler's findRunnable, in the netpoll mode; in
  Poll.Wait's own epoll_wait, 24%, in the blocking mode). At -P 1 with 50 clients the loop
  finds a handful of requests per wake-up, so this is **the single largest remaining cost per
  request**: one sleep and one wake-up of the loop's thread for every 4 to 6 requests. Only
  more requests per wake-up (pipelining, more clients) or a thread that never sleeps (busy
  polling, which costs a core) make it smaller.
- **More loops than free cores.** redis-benchmark is single-threaded and takes one of the two
  cores; examples/resp with two loops then spends 20-45% more CPU per request than with one
  (twice the context switches), so at -P 1 the one-loop configuration is the better one on this
  machine. With cores to spare the GOMAXPROCS default is the one to use.
- **Wait overhead is the library's own bookkeeping now.** At 1 ready registration the C loop's
  figure halves when the machine is quiet (about 200 ns in the make bench run of 2026-12-02,
  about 400-425 ns under a load of 6-8), and the ratio moves with it: with the zero-timeout
  epoll_wait raw (below), poller was 1.11x the C loop under load 6.0-8.5 (the same run with
  syscall.EpollWait: 1.37x) but 1.44x in that make bench run, 286 against 197 ns, where a Go
  loop on syscall.EpollWait made 255 ns. What is left over C is the library: callgrind counts
  some 250 user-space instructions per Wait in Poll.beginWait, endWait (a lock round trip on
  Poll.mu each), Registry.translate (one on the registry lock, the id-to-token lookup),
  waitLoop and sysPoll.wait; at 64 and 1,024 events a Wait they are spread thin (1.14x and
  1.08x). Poll's waiting and closed flags are now one atomic word (try 5 below): some 100
  instructions fewer per Wait, the 1.2x goal still missed; translate (its registry lock and
  lookup) and waitLoop are what is left.
- **Memory.** An idle registered connection holds the registration (56 bytes, allocated as 64:
  the zero-size sysReg field at the end of the struct is padded; placed first it would be 48),
  the socket, the TCPStream, the remote net.TCPAddr and its IP, the registry's map entry and
  slot, and examples/echo's own 32-byte conn. No buffer is held per idle connection: the read
  buffer belongs to the loop.
- **Noise.** The machine is a 2-core VM shared with other work (other builds and Wine test runs
  showed up in perf while these were measured): throughput moves by up to 20% from run to run.
  That is why every ratio is taken within a run, and why a ratio within a few percent of its
  target is no clear verdict either way.

### Tries, and their verdicts

Measured with this driver, one try against the other in the same alternated runs (-alt-env:
examples/echo and examples/resp -loops 1 started a second time with other environment), -runs 3,
-resp-seconds 3, on a machine other sessions were loading: the load averages (1 min) are given
with each figure. CPU per request moved by up to ±30% between such runs; context switches and
instruction counts (valgrind --tool=callgrind, GODEBUG=asyncpreemptoff=1) moved far less.

1. **Park on the runtime's netpoller instead of blocking a thread in epoll_wait: kept, the
   default on Linux** (POLLER_WAIT=netpoll; POLLER_WAIT=block is the old path; kqueue has the
   same mode, built and vetted but not measured, so there block stays the default). A Wait
   polls with a zero timeout first; if that is empty it waits, through os.File and
   RawConn.Read, for the epoll descriptor itself to become readable, and polls again. Default ÷
   block, two runs (load 3.0-5.1, then 8.2-13.7): voluntary context switches per request 0.80x
   and 0.57x at RESP -P 1 (0.248 vs 0.288, 0.163 vs 0.284), 0.56x and 0.06x per echo message;
   RESP -P 1 requests/s 1.05-1.19x and 0.83-1.22x over the four tests; server CPU per request
   1.06x and 0.73x at -P 1, 1.48x and 0.77x at -P 16, 1.00x and 1.08x per echo message. The
   make bench run of 2026-12-02 (-runs 5, load 5.4 at its start, 4.7 at its end), in its table
   above: CPU per request 0.87x at -P 1, 0.88x at -P 16, 0.87x per echo message; voluntary
   context switches 0.53x, 0.71x, 0.23x. Medians of the three: CPU 0.87x, 0.88x, 1.00x. The
   context switches fall in every run, and sysmon (7% of the samples in block mode) drops out
   of the profile; CPU per request falls in two runs of three, by less than this machine's
   noise in the third. A blocked Wait holds no OS thread
   (TestNetpollWaitHoldsNoThread: 24 blocked Waits, fewer than 12 threads more). The old
   verdict that a non-blocking Wait before each blocking one "did not help" stands for that
   alone (it adds a system call where the loop then blocks anyway); what helps is to stop
   blocking in the system call, and the zero-timeout poll first is what keeps a busy loop from
   parking at all.
2. **RawSyscall for the non-blocking socket calls: kept for read and send (socket_raw_linux.go)
   and for the zero-timeout epoll_wait (poller_epoll_raw.go).** They cannot block, so the
   scheduler's entersyscall/exitsyscall around them buys nothing. callgrind: a Read that finds
   nothing costs 441 user-space instructions with syscall.Read, 238 without; cmd/waitbench -n 1
   runs some 410 instructions fewer per Wait (72.2 M to 49.4 M over 55,000 Waits and writes).
   Wall clock: Wait at 1 ready registration 1.11x the C loop against 1.37x in one run (above). Server CPU
   per request, raw ÷ Syscall in one run (load 1.8-7.6): 0.98x per echo message, 0.74x at
   RESP -P 1, 0.80x at -P 16: the same direction as the counts, inside the noise. accept4,
   recvfrom and sendto (UDP) keep package syscall's calls: they need its unexported sockaddr
   conversions and are not on the per-message path of these loads. Only on Linux: OpenBSD
   forbids system calls outside libc, and macOS makes them through libc.
3. **Flush writes once per batch: kept (evloop).** A Conn's Write (and Writev) on the loop
   joins the loop's one output buffer; it goes out with one write when the batch of callbacks
   (one Wait's events, the inbox, the timers) ends, or when another connection writes, or at
   64 KiB; what the socket refuses goes to the backlog as before (backpressure, Close and
   CloseWrite after it, unchanged). One buffer per loop, none per idle connection.
   examples/resp and examples/http already answer a read with one Write, so for them it is
   neutral: resp -loops 1 under redis-benchmark -P 16 -c 50 (-n 400000, three alternated
   pairs, load 2.1-2.2), server CPU 0.355, 0.321, 0.328 µs/request batched against 0.359, 0.327,
   0.330 before; strace -c -f over -n 50000 (200,000 requests): 12,502 sendto either way.
   HTTP (wrk -c 256, pipelining 16, -runs 3, one run each, load 2.9-4.4): 0.310 µs/request
   batched, 0.342 before (0.56x and 0.60x gnet's in the same runs). A handler that writes each
   reply on its own (examples/resp changed, for this measure only, to Write after every
   command) is where it tells: 200,003 sendto for 200,000 requests before, 12,502 batched, and
   server CPU 2.50, 2.30, 2.29 µs/request before against 0.352, 0.325, 0.335 batched (6.9x
   less): a handler no longer needs a scratch buffer of its own to be fast.
4. **Profiles.** perf (cpu-clock; the VM has no hardware counters) of resp -loops 1 under
   redis-benchmark -P 1 -c 50: the kernel has 87% of the server's samples in the netpoll mode,
   92% in block mode; of the user-space rest (13% and 8%), the system-call return path,
   runtime.netpoll, findRunnable and stealWork (the scheduler finding the woken goroutine) lead
   in the netpoll mode, the library's Read, Write, socket reference count and translate are
   below 1% each. Nothing in the library's own code is worth a try after these.
5. **One atomic word for Poll's waiting and closed flags: kept (poller.go).** beginWait and
   endWait set and clear the waiting bit with one compare-and-swap and one add instead of a
   lock round trip on Poll.mu each; Close sets the closed bit with a compare-and-swap (still
   under Poll.mu, which Wake holds around the OS wake so that Close cannot free the descriptor
   under it). callgrind (cmd/waitbench -n 1 -events 55000, GODEBUG=asyncpreemptoff=1, two
   runs each): 54.71 M and 54.78 M instructions before, 49.07 M and 49.04 M after: about 104
   fewer per Wait; beginWait and endWait (2.18 M and 1.75 M, plus their mutex calls) are gone
   from the profile. Wall clock, wait suite -runs 3, two alternated runs (load 1.1-2.0), 1 ready
   registration: 1.38x and 1.48x the C loop after, 1.54x and 1.48x before (281.6 and 291.4 ns
   against 291.2 and 315.3): the same direction, inside this machine's noise. The 1.2x goal is
   missed: translate (4.1 M + 1.3 M, its registry lock and the id-to-token lookup) and waitLoop
   (3.4 M) are now the library's largest shares.
`
