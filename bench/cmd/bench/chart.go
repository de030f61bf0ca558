package main

import (
	"fmt"
	"html"
	"os"
	"strings"
)

// The chart beside BENCHMARKS.md: server CPU time per request of every
// server in the echo, HTTP and RESP tables, one panel per table, each with its own
// scale; the echo panel draws the C floor as a line. Written as plain SVG.

type bar struct {
	label string
	value float64
	floor bool // the C floor's own bar, drawn grey
}

type panel struct {
	title string
	bars  []bar
	floor float64 // a vertical line at this value (0: none)
}

const (
	chartWidth  = 760
	labelWidth  = 210
	barHeight   = 20
	barGap      = 6
	titleHeight = 30
	panelGap    = 18
)

// chartPanels gathers what the chart shows from the report's tables.
func (r *report) chartPanels() []panel {
	var ps []panel
	if r.echo != nil {
		pn := panel{title: fmt.Sprintf("Echo, %d connections, %d B: server CPU µs per message", r.cfg.echoConns, r.cfg.echoSize)}
		for _, s := range echoLabels {
			v := median(col(r.echo[s.key], func(e echoResult) float64 { return e.CPUusPerMsg }))
			if s.key == "C" {
				pn.floor = v
			}
			pn.bars = append(pn.bars, bar{s.label, v, s.key == "C"})
		}
		ps = append(ps, pn)
	}
	if r.http != nil {
		pn := panel{title: fmt.Sprintf("HTTP plaintext, wrk -c %d, pipelining %d: server CPU µs per request", r.cfg.httpConns, r.cfg.httpPipeline)}
		for _, s := range httpLabels {
			v := median(col(r.http[s.key], func(h httpResult) float64 { return h.CPUusPerReq }))
			pn.bars = append(pn.bars, bar{label: s.label, value: v})
		}
		ps = append(ps, pn)
	}
	if r.resp != nil {
		for _, pipeline := range []int{1, 16} {
			pn := panel{title: fmt.Sprintf("RESP, redis-benchmark -P %d: server CPU µs per request", pipeline)}
			for _, s := range []struct{ key, label string }{
				{"poller-1", "poller, 1 loop"}, {"poller", "poller, " + respLabel("poller")}, {"redis", "redis-server"}} {
				v := median(col(r.resp.runs[pipeline][s.key], func(m map[string]float64) float64 { return m["cpu"] }))
				pn.bars = append(pn.bars, bar{label: s.label, value: v})
			}
			ps = append(ps, pn)
		}
	}
	return ps
}

// svg draws the panels.
func svg(panels []panel) string {
	var b strings.Builder
	height := 10
	for _, pn := range panels {
		height += titleHeight + len(pn.bars)*(barHeight+barGap) + panelGap
	}
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="12">`+"\n", chartWidth, height)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	y := 10
	for _, pn := range panels {
		fmt.Fprintf(&b, `<text x="4" y="%d" font-size="14" font-weight="bold">%s</text>`+"\n", y+18, html.EscapeString(pn.title))
		y += titleHeight
		top := y
		scale := 0.0
		for _, br := range pn.bars {
			scale = max(scale, br.value)
		}
		scale *= 1.2
		if scale == 0 {
			scale = 1
		}
		span := float64(chartWidth - labelWidth - 20)
		for _, br := range pn.bars {
			w := br.value / scale * span
			fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="end">%s</text>`+"\n", labelWidth-6, y+14, html.EscapeString(br.label))
			fill := "#4a7bb7"
			if br.floor {
				fill = "#999999"
			}
			fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%.1f" height="%d" fill="%s"/>`+"\n", labelWidth, y, w, barHeight, fill)
			fmt.Fprintf(&b, `<text x="%.1f" y="%d">%.2f</text>`+"\n", float64(labelWidth)+w+4, y+14, br.value)
			y += barHeight + barGap
		}
		if pn.floor > 0 {
			x := float64(labelWidth) + pn.floor/scale*span
			fmt.Fprintf(&b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#c0392b" stroke-width="2" stroke-dasharray="5,3"/>`+"\n",
				x, top-4, x, y-barGap+4)
			fmt.Fprintf(&b, `<text x="%.1f" y="%d" fill="#c0392b">C floor</text>`+"\n", x+4, top-6)
		}
		y += panelGap
	}
	b.WriteString("</svg>\n")
	return b.String()
}

// writeChart writes the chart to path.
func (r *report) writeChart(path string) error {
	return os.WriteFile(path, []byte(svg(r.chartPanels())), 0o644)
}
