//go:build windows && 386

package poller

// The pure-Go core's kernel structures on windows/386: 4-byte pointers,
// ULONG_PTRs and HANDLEs. TestGoCoreLayouts checks the sizes against the
// Windows SDK's.

// ioStatusBlock is IO_STATUS_BLOCK: a union of NTSTATUS and PVOID, then
// ULONG_PTR Information (8 bytes).
type ioStatusBlock struct {
	status      int32
	information uintptr
}

// afdPollInfo is AFD_POLL_INFO. Its LARGE_INTEGER makes C align the
// structure to 8, which Go does not do for an int64 on 386: the tail
// padding gives it C's size, 32 bytes.
type afdPollInfo struct {
	timeout         int64
	numberOfHandles uint32
	exclusive       uint32
	handles         [1]afdPollHandleInfo
	_               uint32
}

// overlappedEntry is OVERLAPPED_ENTRY (16 bytes, no padding). The
// overlapped pointer stays a uintptr: it may name memory of any kind, never
// the Go heap.
type overlappedEntry struct {
	key        uintptr
	overlapped uintptr
	internal   uintptr
	bytes      uint32
}
