package main

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// ---- echo ----

type echoServer struct {
	name, bin string
	env       []string // added to the driver's environment
}

func echoServers(c *config) []echoServer {
	s := []echoServer{
		{"poller", c.binary("echo"), nil},
		{"gnet", c.binary("gnetecho"), nil},
		{"net", c.binary("netecho"), nil},
		{"C", c.binary("cecho"), nil},
	}
	if c.altEnv != "" {
		s = append(s, echoServer{altKey, c.binary("echo"), strings.Split(c.altEnv, ",")})
	}
	return s
}

// altKey names poller's echo server run with the -alt-env environment.
const altKey = "poller-alt"

type echoResult struct {
	MsgsPerSec   float64 `json:"msgs_per_sec"`
	P50us        float64 `json:"p50_us"`
	P99us        float64 `json:"p99_us"`
	Errors       int     `json:"errors"`
	AllocsPerMsg float64 `json:"-"`
	CPUusPerMsg  float64 `json:"-"` // the server's CPU time per message
	VolCSPerMsg  float64 `json:"-"` // the server's voluntary context switches per message
	InvCSPerMsg  float64 `json:"-"` // and its involuntary ones
}

// echoRuns[server][run]
type echoRuns map[string][]echoResult

func runEcho(c *config) (echoRuns, error) {
	res := echoRuns{}
	servers := echoServers(c)
	for r := 0; r < c.runs; r++ {
		for _, s := range rotate(servers, r) {
			er, err := echoOnce(c, s)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", s.name, err)
			}
			logf("echo run %d %-6s %9.0f msg/s  p50 %6.0f µs  p99 %6.0f µs  %.3f allocs/msg  %.2f CPU µs/msg  %.3f+%.3f cs/msg",
				r+1, s.name, er.MsgsPerSec, er.P50us, er.P99us, er.AllocsPerMsg, er.CPUusPerMsg, er.VolCSPerMsg, er.InvCSPerMsg)
			res[s.name] = append(res[s.name], er)
		}
	}
	return res, nil
}

func echoLoadArgs(c *config, addr string) []string {
	return []string{"-addr", addr, "-conns", strconv.Itoa(c.echoConns), "-size", strconv.Itoa(c.echoSize),
		"-warmup", c.echoWarmup.String(), "-duration", c.echoDuration.String()}
}

func echoOnce(c *config, s echoServer) (echoResult, error) {
	var er echoResult
	addr, err := freeAddr()
	if err != nil {
		return er, err
	}
	srv, err := startServerEnv(s.env, s.bin, "-addr", addr, "-stats")
	if err != nil {
		return er, err
	}
	defer srv.stop()
	// What one stats request allocates by itself, to take off below.
	a, err := srv.stats(false)
	if err != nil {
		return er, err
	}
	b, err := srv.stats(false)
	if err != nil {
		return er, err
	}
	statsCost := b["mallocs"] - a["mallocs"]
	load, err := start(c.binary("echoload"), echoLoadArgs(c, addr)...)
	if err != nil {
		return er, err
	}
	defer load.stop()
	// Allocation counters over the middle of the counted window.
	margin := c.echoDuration / 10
	time.Sleep(c.echoWarmup + margin)
	u1 := srv.usage()
	s1, err := srv.stats(false)
	if err != nil {
		return er, err
	}
	time.Sleep(c.echoDuration - 2*margin)
	s2, err := srv.stats(false)
	if err != nil {
		return er, err
	}
	u2 := srv.usage()
	line, err := load.expect("{", c.echoWarmup+c.echoDuration+60*time.Second)
	if err != nil {
		return er, err
	}
	if err := json.Unmarshal([]byte(line), &er); err != nil {
		return er, err
	}
	if er.Errors > 0 {
		return er, fmt.Errorf("echoload reported %d errors", er.Errors)
	}
	if msgs := float64(s2["echoed"]-s1["echoed"]) / float64(c.echoSize); msgs > 0 {
		// The second stats request's own allocations are not the echo's.
		er.AllocsPerMsg = float64(max(s2["mallocs"]-s1["mallocs"]-statsCost, 0)) / msgs
		er.CPUusPerMsg, er.VolCSPerMsg, er.InvCSPerMsg = u1.per(u2, msgs)
	}
	return er, nil
}

// ---- resp ----

var respTests = []string{"PING_INLINE", "PING_MBULK", "SET", "GET"}

func redisArgs(c *config, addr string, pipeline, n int) []string {
	host, port, _ := strings.Cut(addr, ":")
	return []string{"-h", host, "-p", port, "-c", strconv.Itoa(c.respClients), "-P", strconv.Itoa(pipeline),
		"-n", strconv.Itoa(n), "-t", "ping,set,get", "--csv"}
}

// redisBenchmark runs redis-benchmark and returns requests/s per test.
func redisBenchmark(c *config, addr string, pipeline, n int) (map[string]float64, error) {
	out, err := output(c.redisBench, redisArgs(c, addr, pipeline, n)...)
	if err != nil {
		return nil, err
	}
	if strings.Contains(out, "rror") {
		return nil, fmt.Errorf("redis-benchmark reported errors:\n%s", out)
	}
	recs, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if err != nil {
		return nil, fmt.Errorf("redis-benchmark output: %v\n%s", err, out)
	}
	rps := map[string]float64{}
	for _, rec := range recs {
		if len(rec) < 2 || rec[0] == "test" {
			continue
		}
		v, err := strconv.ParseFloat(rec[1], 64)
		if err != nil {
			return nil, fmt.Errorf("redis-benchmark output %q: %v", rec, err)
		}
		rps[rec[0]] = v
	}
	for _, t := range respTests {
		if rps[t] == 0 {
			return nil, fmt.Errorf("redis-benchmark printed no %s result:\n%s", t, out)
		}
	}
	return rps, nil
}

// respServer is one RESP server under test.
type respServer struct {
	name, addr string
	p          *proc
}

func startRespServers(c *config) ([]*respServer, func(), error) {
	var servers []*respServer
	stop := func() {
		for _, s := range servers {
			s.p.stop()
		}
	}
	type variant struct {
		name, loops string
		env         []string
	}
	variants := []variant{{"poller-1", "1", nil}, {"poller", "0", nil}}
	if c.altEnv != "" {
		variants = append(variants, variant{"poller-1-alt", "1", strings.Split(c.altEnv, ",")})
	}
	for _, v := range variants {
		addr, err := freeAddr()
		if err != nil {
			return nil, stop, err
		}
		p, err := startServerEnv(v.env, c.binary("resp"), "-addr", addr, "-loops", v.loops)
		if err != nil {
			return nil, stop, err
		}
		servers = append(servers, &respServer{v.name, addr, p})
	}
	addr, err := freeAddr()
	if err != nil {
		return nil, stop, err
	}
	_, port, _ := strings.Cut(addr, ":")
	p, err := start(c.redisServer, "--port", port, "--bind", "127.0.0.1", "--save", "",
		"--appendonly", "no", "--protected-mode", "no", "--daemonize", "no", "--loglevel", "warning",
		"--dir", c.bin)
	if err != nil {
		return nil, stop, err
	}
	servers = append(servers, &respServer{"redis", addr, p})
	if err := waitDial(addr, 10*time.Second); err != nil {
		return nil, stop, err
	}
	return servers, stop, nil
}

// respRuns[pipeline][server][run][test] = requests/s; test "cpu" holds the
// server's CPU µs per request over the invocation, "cs-vol" and "cs-invol"
// its voluntary and involuntary context switches per request.
type respRuns struct {
	requests map[int]int // -n per pipeline depth
	runs     map[int]map[string][]map[string]float64
}

func runResp(c *config) (*respRuns, error) {
	servers, stop, err := startRespServers(c)
	defer stop()
	if err != nil {
		return nil, err
	}
	redis := servers[len(servers)-1]
	rr := &respRuns{requests: map[int]int{}, runs: map[int]map[string][]map[string]float64{}}
	for _, pipeline := range []int{1, 16} {
		// Size -n from a short pilot against redis-server so one
		// invocation (four tests) takes about respSeconds there.
		pilot, err := redisBenchmark(c, redis.addr, pipeline, 20000*pipeline)
		if err != nil {
			return nil, err
		}
		var perTest float64
		for _, t := range respTests {
			perTest += 1 / pilot[t]
		}
		n := max(int(c.respSeconds/perTest/10000+0.5)*10000, 10000)
		rr.requests[pipeline] = n
		rr.runs[pipeline] = map[string][]map[string]float64{}
		for r := 0; r < c.runs; r++ {
			for _, s := range rotate(servers, r) {
				u0 := s.p.usage()
				rps, err := redisBenchmark(c, s.addr, pipeline, n)
				if err != nil {
					return nil, fmt.Errorf("%s -P %d: %w", s.name, pipeline, err)
				}
				rps["cpu"], rps["cs-vol"], rps["cs-invol"] = u0.per(s.p.usage(), float64(n*len(respTests)))
				logf("resp -P %-2d run %d %-8s %s  %.2f CPU µs/req  %.3f+%.3f cs/req", pipeline, r+1, s.name,
					fmtRPS(rps), rps["cpu"], rps["cs-vol"], rps["cs-invol"])
				rr.runs[pipeline][s.name] = append(rr.runs[pipeline][s.name], rps)
			}
		}
	}
	return rr, nil
}

func fmtRPS(rps map[string]float64) string {
	var b strings.Builder
	for _, t := range respTests {
		fmt.Fprintf(&b, " %s %.0f", t, rps[t])
	}
	return b.String()
}

// ---- wait ----

var waitSizes = []int{1, 64, 1024}

// waitRuns[n][impl][run] = ns per event; impl "poller-allocs" holds
// poller's allocations per Wait.
type waitRuns map[int]map[string][]float64

func waitCommand(c *config, impl string, n int) (string, []string) {
	args := []string{"-n", strconv.Itoa(n), "-events", strconv.Itoa(c.waitEvents)}
	switch impl {
	case "C":
		return c.binary("epollwait"), args
	case "go-raw":
		return c.binary("waitbench"), append([]string{"-raw"}, args...)
	}
	return c.binary("waitbench"), args
}

func runWait(c *config) (waitRuns, error) {
	impls := []string{"poller", "C", "go-raw"}
	res := waitRuns{}
	for _, n := range waitSizes {
		res[n] = map[string][]float64{}
		for r := 0; r < c.runs; r++ {
			for _, impl := range rotate(impls, r) {
				name, args := waitCommand(c, impl, n)
				out, err := output(name, args...)
				if err != nil {
					return nil, err
				}
				v, err := field(out, "ns_per_event")
				if err != nil {
					return nil, err
				}
				res[n][impl] = append(res[n][impl], v)
				if impl == "poller" {
					a, err := field(out, "allocs_per_wait")
					if err != nil {
						return nil, err
					}
					res[n]["poller-allocs"] = append(res[n]["poller-allocs"], a)
				}
			}
			logf("wait n=%-4d run %d poller %.1f  C %.1f  go-raw %.1f ns/event", n, r+1,
				res[n]["poller"][r], res[n]["C"][r], res[n]["go-raw"][r])
		}
	}
	return res, nil
}

// field finds key=value in out.
func field(out, key string) (float64, error) {
	for _, f := range strings.Fields(out) {
		if v, ok := strings.CutPrefix(f, key+"="); ok {
			return strconv.ParseFloat(v, 64)
		}
	}
	return 0, fmt.Errorf("no %s in %q", key, out)
}

// ---- mem ----

type memResult struct {
	HeapPerConn  float64
	StackPerConn float64
}

// memRuns[server][run]
type memRuns map[string][]memResult

func runMem(c *config) (memRuns, error) {
	res := memRuns{}
	// The C floor holds no Go heap: nothing to compare; the wait mode
	// changes no memory figure.
	servers := slices.DeleteFunc(echoServers(c), func(s echoServer) bool { return s.name == "C" || s.name == altKey })
	for r := 0; r < c.runs; r++ {
		for _, s := range rotate(servers, r) {
			m, err := memOnce(c, s)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", s.name, err)
			}
			logf("mem run %d %-6s heap %.0f B/conn  stack %.0f B/conn", r+1, s.name, m.HeapPerConn, m.StackPerConn)
			res[s.name] = append(res[s.name], m)
		}
	}
	return res, nil
}

func memOnce(c *config, s echoServer) (memResult, error) {
	var m memResult
	addr, err := freeAddr()
	if err != nil {
		return m, err
	}
	srv, err := startServer(s.bin, "-addr", addr, "-stats")
	if err != nil {
		return m, err
	}
	defer srv.stop()
	before, err := srv.stats(true)
	if err != nil {
		return m, err
	}
	hold, err := start(c.binary("holdconns"), "-addr", addr, "-n", strconv.Itoa(c.memConns))
	if err != nil {
		return m, err
	}
	defer hold.stop()
	if _, err := hold.expect("held", 60*time.Second); err != nil {
		return m, err
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		st, err := srv.stats(false)
		if err != nil {
			return m, err
		}
		if st["conns"] == int64(c.memConns) {
			break
		}
		if time.Now().After(deadline) {
			return m, fmt.Errorf("server sees %d connections, want %d", st["conns"], c.memConns)
		}
		time.Sleep(50 * time.Millisecond)
	}
	after, err := srv.stats(true)
	if err != nil {
		return m, err
	}
	n := float64(c.memConns)
	m.HeapPerConn = float64(after["heap"]-before["heap"]) / n
	m.StackPerConn = float64(after["stack"]-before["stack"]) / n
	if err := hold.finish(30 * time.Second); err != nil {
		return m, err
	}
	return m, nil
}
