package poller

import (
	"runtime"
	"testing"
	"unsafe"
)

// TestGoCoreLayouts checks the pure-Go core's kernel structures against the
// sizes and offsets of the Windows SDK's on this architecture: a wrong
// OVERLAPPED_ENTRY stride makes every packet after the first one garbage,
// and a wrong IO_STATUS_BLOCK or AFD_POLL_INFO lets the kernel write past
// what the core reads.
func TestGoCoreLayouts(t *testing.T) {
	type layout struct{ iosb, info, handleInfo, entry, entryBytes uintptr }
	want := map[string]layout{
		"386":   {iosb: 8, info: 32, handleInfo: 12, entry: 16, entryBytes: 12},
		"amd64": {iosb: 16, info: 32, handleInfo: 16, entry: 32, entryBytes: 24},
		"arm64": {iosb: 16, info: 32, handleInfo: 16, entry: 32, entryBytes: 24},
	}[runtime.GOARCH]
	got := layout{
		iosb:       unsafe.Sizeof(ioStatusBlock{}),
		info:       unsafe.Sizeof(afdPollInfo{}),
		handleInfo: unsafe.Sizeof(afdPollHandleInfo{}),
		entry:      unsafe.Sizeof(overlappedEntry{}),
		entryBytes: unsafe.Offsetof(overlappedEntry{}.bytes),
	}
	if want.iosb == 0 {
		t.Fatalf("no reference layout for GOARCH %s", runtime.GOARCH)
	}
	if got != want {
		t.Fatalf("layouts on %s: got %+v, want %+v", runtime.GOARCH, got, want)
	}
}

// TestGoCoreWakeID64 posts wakes with ids that use all 64 bits through the
// pure-Go core and gets them back intact: the wake packet's encoding must
// fit 32-bit completion keys on 386.
func TestGoCoreWakeID64(t *testing.T) {
	p := newPollWith(t, newGoCore)
	g := p.sys.core.(*goCore)
	ids := []uint64{wakeID, 0xDEADBEEF_00000007, 1<<63 | 5, 0x1_FFFFFFFF}
	for _, id := range ids {
		if err := g.wake(id); err != nil {
			t.Fatal(err)
		}
	}
	out := make([]rawEvent, 8)
	var got []uint64
	for len(got) < len(ids) {
		n, err := g.wait(nil, out, 5000)
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			t.Fatalf("got %d of %d wakes", len(got), len(ids))
		}
		for _, ev := range out[:n] {
			got = append(got, ev.id)
		}
	}
	for i := range ids {
		if got[i] != ids[i] {
			t.Fatalf("wake ids: got %#x, want %#x", got, ids)
		}
	}
}
