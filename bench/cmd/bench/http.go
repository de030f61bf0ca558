package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// ---- http: wrk against examples/http, gnet and net/http ----

type httpResult struct {
	ReqPerSec   float64
	CPUusPerReq float64 // the server's CPU time per request
	VolCSPerReq float64 // the server's voluntary context switches per request
	InvCSPerReq float64 // and its involuntary ones
}

// httpRuns[server][run]
type httpRuns map[string][]httpResult

func httpServers(c *config) []echoServer {
	return []echoServer{
		{name: "poller", bin: c.binary("http")},
		{name: "gnet", bin: c.binary("gnethttp")},
		{name: "net/http", bin: c.binary("nethttp")},
	}
}

// wrkPipeline is the wrk script: the requests of one write, pipelined.
const wrkPipeline = `local depth = tonumber(os.getenv("PIPELINE") or "1")
init = function(args)
  local r = {}
  for i = 1, depth do r[i] = wrk.format(nil, "/plaintext") end
  req = table.concat(r)
end
request = function() return req end
`

var wrkRate = regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`)

func runHTTP(c *config) (httpRuns, error) {
	dir, err := os.MkdirTemp("", "bench-http")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	script := filepath.Join(dir, "pipeline.lua")
	if err := os.WriteFile(script, []byte(wrkPipeline), 0o644); err != nil {
		return nil, err
	}
	res := httpRuns{}
	for r := 0; r < c.runs; r++ {
		for _, s := range rotate(httpServers(c), r) {
			hr, err := httpOnce(c, s, script)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", s.name, err)
			}
			logf("http run %d %-8s %9.0f req/s  %.3f CPU µs/req", r+1, s.name, hr.ReqPerSec, hr.CPUusPerReq)
			res[s.name] = append(res[s.name], hr)
		}
	}
	return res, nil
}

func wrkArgs(c *config, script, addr string) []string {
	return []string{"-t", "2", "-c", strconv.Itoa(c.httpConns), "-d", c.httpDuration.String(),
		"-s", script, "http://" + addr + "/plaintext"}
}

func httpOnce(c *config, s echoServer, script string) (httpResult, error) {
	var hr httpResult
	addr, err := freeAddr()
	if err != nil {
		return hr, err
	}
	srv, err := startServer(s.bin, "-addr", addr)
	if err != nil {
		return hr, err
	}
	defer srv.stop()
	if err := waitDial(addr, 10*time.Second); err != nil {
		return hr, err
	}
	os.Setenv("PIPELINE", strconv.Itoa(c.httpPipeline))
	u1 := srv.usage()
	out, err := output(c.wrk, wrkArgs(c, script, addr)...)
	u2 := srv.usage()
	if err != nil {
		return hr, fmt.Errorf("wrk: %w\n%s", err, out)
	}
	if strings.Contains(out, "Socket errors") || strings.Contains(out, "Non-2xx") {
		return hr, fmt.Errorf("wrk saw failed requests:\n%s", out)
	}
	m := wrkRate.FindStringSubmatch(out)
	if m == nil {
		return hr, fmt.Errorf("no Requests/sec in wrk's output:\n%s", out)
	}
	hr.ReqPerSec, _ = strconv.ParseFloat(m[1], 64)
	hr.CPUusPerReq, hr.VolCSPerReq, hr.InvCSPerReq = u1.per(u2, hr.ReqPerSec*c.httpDuration.Seconds())
	return hr, nil
}

func (r *report) httpTable(p printer) {
	c := r.cfg
	p("### HTTP plaintext: wrk -c %d, pipelining %d\n\n", c.httpConns, c.httpPipeline)
	p("wrk (Debian's) sends GET /plaintext, %d requests per write, over %d connections for %v per run, ", c.httpPipeline, c.httpConns, c.httpDuration)
	p("against examples/http (evloop), gnet's HTTP-server shape (cmd/gnethttp) and package net/http (cmd/nethttp). ")
	p("Server CPU: its CPU time (/proc/PID/task/*/schedstat) over the wrk run, per request; context switches ")
	p("likewise (/proc/PID/task/*/status).\n\n")
	p("| server | requests/s | poller ÷ this | server CPU µs/request | poller ÷ this | context switches/request (vol + invol) |\n")
	p("|---|---:|---:|---:|---:|---:|\n")
	pr := col(r.http["poller"], func(h httpResult) float64 { return h.ReqPerSec })
	pc := col(r.http["poller"], func(h httpResult) float64 { return h.CPUusPerReq })
	for _, s := range httpLabels {
		rate := col(r.http[s.key], func(h httpResult) float64 { return h.ReqPerSec })
		cpu := col(r.http[s.key], func(h httpResult) float64 { return h.CPUusPerReq })
		ratio, cpuRatio := "—", "—"
		if s.key != "poller" {
			ratio = fmt.Sprintf("%.2fx", pairedRatio(pr, rate))
			cpuRatio = fmt.Sprintf("%.2fx", pairedRatio(pc, cpu))
		}
		p("| %s | %.0f | %s | %.3f | %s | %.4f + %.4f |\n", s.label, median(rate), ratio, median(cpu), cpuRatio,
			median(col(r.http[s.key], func(h httpResult) float64 { return h.VolCSPerReq })),
			median(col(r.http[s.key], func(h httpResult) float64 { return h.InvCSPerReq })))
	}
	p("\n")
}

// httpLabels names the HTTP servers in table order.
var httpLabels = []struct{ key, label string }{
	{"poller", "poller (examples/http)"}, {"gnet", "gnet (cmd/gnethttp)"}, {"net/http", "net/http (cmd/nethttp)"}}
