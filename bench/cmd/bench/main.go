// Command bench is the benchmark driver behind `make bench`: it runs poller's
// servers and their peers side by side on this machine, alternating which
// goes first from run to run, and writes the "Linux" section of
// BENCHMARKS.md (between <!-- linux:begin --> and <!-- linux:end -->,
// leaving the rest of the file as it is), and the chart BENCHMARKS.svg
// beside it (server CPU per request, every server of the echo, HTTP and
// RESP tables).
//
//   - echo: examples/echo, package net (cmd/netecho), gnet (cmd/gnetecho) and
//     the C floor (c/echo.c) under cmd/echoload; messages/s, p50/p99
//     latency, allocations, server CPU and context switches per message.
//   - http: wrk (-c 256, pipelining 16) against examples/http, gnet
//     (cmd/gnethttp) and net/http (cmd/nethttp); requests/s, server CPU.
//   - resp: redis-benchmark against examples/resp and redis-server.
//   - wait: ns per event of Poll.Wait against a C epoll_wait loop.
//   - mem: heap bytes per idle connection at 10,000 connections.
//
// Every figure is the median of -runs runs; a ratio is the median of the
// ratios taken run by run, each between figures of the same run.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/evpoll/poller/internal/benchmd"
)

type config struct {
	bin          string
	out          string
	chart        string
	runs         int
	suites       []string
	echoConns    int
	echoSize     int
	echoWarmup   time.Duration
	echoDuration time.Duration
	respSeconds  float64
	respClients  int
	waitEvents   int
	memConns     int
	redisServer  string
	redisBench   string
	altEnv       string // environment of a second run of poller's servers, "" for none
	wrk          string
	httpConns    int
	httpPipeline int
	httpDuration time.Duration
}

func main() {
	var c config
	var suites string
	flag.StringVar(&c.bin, "bin", "build/bench/bin", "directory of the built benchmark binaries")
	flag.StringVar(&c.out, "out", "BENCHMARKS.md", "file whose Linux section is rewritten")
	flag.StringVar(&c.chart, "chart", "", "SVG chart of server CPU per request (default: BENCHMARKS.svg beside -out)")
	flag.IntVar(&c.runs, "runs", 5, "alternated runs per figure")
	flag.StringVar(&suites, "suites", "echo,http,resp,wait,mem", "suites to run")
	flag.IntVar(&c.echoConns, "echo-conns", 1000, "echo connections")
	flag.IntVar(&c.echoSize, "echo-size", 1024, "echo message size")
	flag.DurationVar(&c.echoWarmup, "echo-warmup", time.Second, "echo warm-up per run")
	flag.DurationVar(&c.echoDuration, "echo-duration", 3*time.Second, "echo time counted per run")
	flag.Float64Var(&c.respSeconds, "resp-seconds", 5, "target seconds per redis-benchmark invocation (4 tests)")
	flag.IntVar(&c.respClients, "resp-clients", 50, "redis-benchmark -c")
	flag.IntVar(&c.waitEvents, "wait-events", 1_000_000, "events timed per wait run")
	flag.IntVar(&c.memConns, "mem-conns", 10000, "idle connections for the memory figure")
	flag.StringVar(&c.redisServer, "redis-server", "redis-server", "redis-server binary")
	flag.StringVar(&c.redisBench, "redis-benchmark", "redis-benchmark", "redis-benchmark binary")
	flag.StringVar(&c.altEnv, "alt-env", "POLLER_WAIT=block", "KEY=VALUE,... of a second run of examples/echo and examples/resp -loops 1 beside the default (\"\": none)")
	flag.StringVar(&c.wrk, "wrk", "wrk", "wrk binary")
	flag.IntVar(&c.httpConns, "http-conns", 256, "wrk -c for the HTTP plaintext suite")
	flag.IntVar(&c.httpPipeline, "http-pipeline", 16, "requests per write (pipelining) of the HTTP suite")
	flag.DurationVar(&c.httpDuration, "http-duration", 5*time.Second, "wrk -d per run of the HTTP suite")
	flag.Parse()
	c.suites = strings.Split(suites, ",")
	if c.chart == "" {
		c.chart = filepath.Join(filepath.Dir(c.out), "BENCHMARKS.svg")
	}
	if err := run(&c); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func (c *config) binary(name string) string { return filepath.Join(c.bin, name) }

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench: "+format+"\n", args...)
}

// rotate returns xs rotated left by r: run r starts with a different peer.
func rotate[T any](xs []T, r int) []T {
	r %= len(xs)
	return append(slices.Clone(xs[r:]), xs[:r]...)
}

func run(c *config) error {
	begin := time.Now()
	rep := &report{cfg: c}
	if err := rep.machine(); err != nil {
		return err
	}
	for _, s := range c.suites {
		t0 := time.Now()
		var err error
		switch s {
		case "echo":
			rep.echo, err = runEcho(c)
		case "http":
			rep.http, err = runHTTP(c)
		case "resp":
			rep.resp, err = runResp(c)
		case "wait":
			rep.wait, err = runWait(c)
		case "mem":
			rep.mem, err = runMem(c)
		default:
			err = fmt.Errorf("unknown suite %q", s)
		}
		if err != nil {
			return fmt.Errorf("%s: %w", s, err)
		}
		logf("%s done in %v", s, time.Since(t0).Round(time.Second))
	}
	rep.elapsed = time.Since(begin)
	if err := rep.writeChart(c.chart); err != nil {
		return err
	}
	text := rep.markdown()
	fmt.Print(text)
	return benchmd.Replace(c.out, "linux", text)
}
