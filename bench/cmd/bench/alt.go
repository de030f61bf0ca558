package main

import "fmt"

// The alternative table: examples/echo and examples/resp -loops 1 with the
// library's defaults and with the -alt-env environment (by default
// POLLER_WAIT=block, the other wait mode), side by side in the same runs.

func (r *report) altTable(p printer) {
	c := r.cfg
	if c.altEnv == "" || (r.echo[altKey] == nil && r.resp == nil) {
		return
	}
	p("### The defaults beside %s\n\n", c.altEnv)
	p("The same poller servers, the second started with %s, in the same alternated runs as the ", c.altEnv)
	p("tables above (the clients keep the defaults). Ratio: default ÷ %s, the median of the run-by-run ratios.\n\n", c.altEnv)
	p("| load | figure | default | %s | default ÷ %s |\n|---|---|---:|---:|---:|\n", c.altEnv, c.altEnv)
	row := func(load, label, format string, a, b []float64) {
		p("| %s | %s | "+format+" | "+format+" | %.2fx |\n", load, label, median(a), median(b), pairedRatio(a, b))
	}
	if e, alt := r.echo["poller"], r.echo[altKey]; e != nil && alt != nil {
		load := fmt.Sprintf("echo, %d conns", c.echoConns)
		for _, f := range []struct {
			label, format string
			get           func(echoResult) float64
		}{
			{"messages/s", "%.0f", func(e echoResult) float64 { return e.MsgsPerSec }},
			{"server CPU µs/message", "%.2f", func(e echoResult) float64 { return e.CPUusPerMsg }},
			{"voluntary context switches/message", "%.3f", func(e echoResult) float64 { return e.VolCSPerMsg }},
			{"involuntary context switches/message", "%.3f", func(e echoResult) float64 { return e.InvCSPerMsg }},
		} {
			row(load, f.label, f.format, col(e, f.get), col(alt, f.get))
		}
	}
	if r.resp != nil {
		for _, pipeline := range []int{1, 16} {
			runs := r.resp.runs[pipeline]
			if runs["poller-1-alt"] == nil {
				continue
			}
			get := func(srv, test string) []float64 {
				return col(runs[srv], func(m map[string]float64) float64 { return m[test] })
			}
			load := fmt.Sprintf("RESP -P %d, 1 loop", pipeline)
			for _, test := range append(append([]string{}, respTests...), "cpu", "cs-vol", "cs-invol") {
				label, format := test+" req/s", "%.0f"
				switch test {
				case "cpu":
					label, format = "server CPU µs/request", "%.2f"
				case "cs-vol":
					label, format = "voluntary context switches/request", "%.3f"
				case "cs-invol":
					label, format = "involuntary context switches/request", "%.3f"
				}
				row(load, label, format, get("poller-1", test), get("poller-1-alt", test))
			}
		}
	}
	p("\n")
}
