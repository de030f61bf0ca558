// Package stats is the line protocol by which the benchmark driver reads a
// server's counters: each line on the server's standard input is answered on
// its standard output with one "stats key=value ..." line; the line "gc"
// collects garbage first. examples/echo speaks it too (-stats).
package stats

import (
	"bufio"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
)

// Serve answers stdin until it closes. counters returns the bytes echoed and
// the connections open.
func Serve(counters func() (echoed, live int64)) {
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		if strings.TrimSpace(in.Text()) == "gc" {
			runtime.GC()
			runtime.GC()
		}
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		echoed, live := counters()
		fmt.Printf("stats echoed=%d conns=%d heap=%d stack=%d mallocs=%d goroutines=%d\n",
			echoed, live, m.HeapAlloc, m.StackInuse, m.Mallocs, runtime.NumGoroutine())
	}
}

// Line is a parsed stats line.
type Line map[string]int64

// Parse parses a "stats key=value ..." line.
func Parse(s string) (Line, error) {
	f := strings.Fields(s)
	if len(f) == 0 || f[0] != "stats" {
		return nil, fmt.Errorf("not a stats line: %q", s)
	}
	l := Line{}
	for _, kv := range f[1:] {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return nil, fmt.Errorf("bad field %q in %q", kv, s)
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("bad field %q in %q", kv, s)
		}
		l[k] = n
	}
	return l, nil
}
