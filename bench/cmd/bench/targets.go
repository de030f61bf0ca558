package main

// The Targets table: each performance goal, as a ratio (or a count)
// measured side by side in this run.

func (r *report) targets(p printer) {
	c := r.cfg
	p("### Targets\n\n| target | measured | |\n|---|---|---|\n")
	if r.echo != nil {
		cpu := func(k string) []float64 { return col(r.echo[k], func(e echoResult) float64 { return e.CPUusPerMsg }) }
		rate := func(k string) []float64 { return col(r.echo[k], func(e echoResult) float64 { return e.MsgsPerSec }) }
		f := pairedRatio(cpu("poller"), cpu("C"))
		p("| echo, %d conns, %d B: server CPU per message ≤ 1.15x the C floor | %.2fx | %s |\n", c.echoConns, c.echoSize, f, holds(f <= 1.15))
		n := pairedRatio(cpu("poller"), cpu("net"))
		p("| echo: server CPU per message ≤ 0.80x package net | %.2fx | %s |\n", n, holds(n <= 0.80))
		g := pairedRatio(rate("poller"), rate("gnet"))
		p("| echo: messages/s ≥ 1.10x gnet | %.2fx | %s |\n", g, holds(g >= 1.10))
	}
	if r.resp != nil {
		runs := r.resp.runs[1]
		get := func(srv, test string) []float64 {
			return col(runs[srv], func(m map[string]float64) float64 { return m[test] })
		}
		for _, test := range respTests {
			ratio := pairedRatio(get("poller-1", test), get("redis", test))
			p("| RESP -P 1 %s, 1 loop: requests/s ≥ 1.0x redis-server | %.2fx | %s |\n", test, ratio, holds(ratio >= 1.0))
		}
		ratio := pairedRatio(get("poller-1", "cpu"), get("redis", "cpu"))
		p("| RESP -P 1, 1 loop: server CPU per request ≤ 1.0x redis-server | %.2fx | %s |\n", ratio, holds(ratio <= 1.0))
	}
	if r.http != nil {
		rate := func(k string) []float64 { return col(r.http[k], func(h httpResult) float64 { return h.ReqPerSec }) }
		g := pairedRatio(rate("poller"), rate("gnet"))
		p("| HTTP plaintext (wrk -c %d, pipelining %d): requests/s ≥ 1.0x gnet | %.2fx | %s |\n", c.httpConns, c.httpPipeline, g, holds(g >= 1.0))
	}
	if r.wait != nil {
		w := r.wait[1]
		ratio := pairedRatio(w["poller"], w["C"])
		p("| Wait, 1 ready registration: ≤ 1.2x the C epoll_wait loop | %.2fx | %s |\n", ratio, holds(ratio <= 1.2))
	}
	if r.echo != nil {
		a := median(col(r.echo["poller"], func(e echoResult) float64 { return e.AllocsPerMsg }))
		p("| allocations per echoed message: zero | %.4f | %s |\n", a, holds(a < 0.001))
	}
	if r.wait != nil {
		var worst float64
		for _, n := range waitSizes {
			worst = max(worst, median(r.wait[n]["poller-allocs"]))
		}
		p("| allocations per Wait (cmd/waitbench, worst of 1, 64, 1,024 ready): zero | %.4f | %s |\n", worst, holds(worst < 0.001))
	}
	if r.mem != nil {
		h := median(col(r.mem["poller"], func(m memResult) float64 { return m.HeapPerConn }))
		p("| ≤ 512 B of Go heap per idle registered connection | %.0f B | %s |\n", h, holds(h <= 512))
	}
	p("\n")
}
