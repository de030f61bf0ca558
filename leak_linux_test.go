package poller

import (
	"os"
	"sort"
	"strconv"
	"strings"
	"testing"
)

const handleKind = "descriptors"

// openHandles counts the process's open descriptors in /proc/self/fd (less
// the one reading it).
func openHandles(t testing.TB) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatalf("reading /proc/self/fd: %v", err)
	}
	return len(ents) - 1
}

func liveAllocsOrZero() int64 { return 0 }
func threadsCreated() int     { return 0 }

// Descriptors are exact on Linux: no slack.
func handleSlack(base, now leakSnapshot) int { return 0 }

// leakDetail lists what the open descriptors point to.
func leakDetail() string {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return ""
	}
	kinds := map[string]int{}
	for _, e := range ents {
		target, err := os.Readlink("/proc/self/fd/" + e.Name())
		if err != nil {
			continue
		}
		if i := strings.IndexByte(target, ':'); i > 0 {
			target = target[:i]
		}
		kinds[target]++
	}
	var parts []string
	for k := range kinds {
		parts = append(parts, k)
	}
	sort.Strings(parts)
	for i, k := range parts {
		parts[i] = k + "=" + strconv.Itoa(kinds[k])
	}
	return " (" + strings.Join(parts, " ") + ")"
}
