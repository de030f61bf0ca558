//go:build windows && (amd64 || arm64)

package poller

// The pure-Go core's kernel structures on 64-bit Windows (amd64, arm64):
// 8-byte pointers, ULONG_PTRs and HANDLEs. TestGoCoreLayouts checks the
// sizes against the Windows SDK's.

// ioStatusBlock is IO_STATUS_BLOCK: a union of NTSTATUS and PVOID (the
// status in its low 4 bytes: little-endian), then ULONG_PTR Information.
type ioStatusBlock struct {
	status      int32
	_           uint32
	information uintptr
}

// afdPollInfo is AFD_POLL_INFO (32 bytes).
type afdPollInfo struct {
	timeout         int64
	numberOfHandles uint32
	exclusive       uint32
	handles         [1]afdPollHandleInfo
}

// overlappedEntry is OVERLAPPED_ENTRY (32 bytes). The overlapped pointer
// stays a uintptr: it may name memory of any kind, never the Go heap.
type overlappedEntry struct {
	key        uintptr
	overlapped uintptr
	internal   uintptr
	bytes      uint32
	_          uint32
}
