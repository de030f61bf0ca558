//go:build windows && !cgo

package poller

// Builds without cgo (CGO_ENABLED=0, no MinGW needed) have only the pure-Go
// core (core_go_windows.go).

// cCoreNew is nil: there is no C core without cgo.
var cCoreNew func() (core, error)

// defaultCore is the pure-Go core in builds without cgo.
func defaultCore() (core, error) { return newGoCore() }

// coreLiveAllocs is the live allocation count of the cores in this build.
func coreLiveAllocs() int64 { return goLiveAllocs() }

// coreBadSubmits counts polls submitted for a state Go had deleted or
// retired: 0 unless a bug.
func coreBadSubmits() int64 { return goBadSubmits.Load() }

// ovlDialing is false: the overlapped engine needs the C core, so a new
// stream connects at once (and, if the engine is forced, Register answers
// ErrOverlappedUnsupported).
func ovlDialing(fd uintptr) bool { return false }
