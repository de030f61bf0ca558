package poller

import (
	"sync"
	"syscall"
	"unsafe"
)

var procWSASend = ws2.NewProc("WSASend")

// sysWritev is one non-overlapped WSASend of first and then rest (as many
// buffers as fit in maxWritevBufs and, together, in maxIOLen).
func sysWritev(fd uintptr, first []byte, rest [][]byte) (int, error) {
	var wb [maxWritevBufs]syscall.WSABuf
	n, room := 0, maxIOLen
	for b := first; ; {
		if len(b) > room {
			b = b[:room]
		}
		if len(b) > 0 {
			wb[n] = syscall.WSABuf{Len: uint32(len(b)), Buf: &b[0]}
			room -= len(b)
			n++
		}
		if n == len(wb) || room == 0 || len(rest) == 0 {
			break
		}
		b, rest = rest[0], rest[1:]
	}
	var sent uint32
	r, _, e := syscall.Syscall9(procWSASend.Addr(), 7, fd, uintptr(unsafe.Pointer(&wb[0])), uintptr(n),
		uintptr(unsafe.Pointer(&sent)), 0, 0, 0, 0, 0)
	if int32(r) == -1 {
		return 0, errnoErr(e)
	}
	return int(sent), nil
}

// writevChunk is the most bytes one Writev copies into one send of the
// overlapped engine; writevScratch keeps the copy buffers.
const writevChunk = 64 << 10

var writevScratch = sync.Pool{New: func() any { b := make([]byte, writevChunk); return &b }}

// engineWritev writes bufs through the overlapped engine's send when the
// socket is registered on it: the engine copies what it sends into a
// buffer of its own, one send at a time, so Writev joins the buffers (up to
// writevChunk bytes) and sends them as one Write would. The rest waits for
// the send's completion, the next Writable.
func (s *socket) engineWritev(bufs [][]byte) (int64, error, bool) {
	if s.engineReg() == nil {
		return 0, nil, false
	}
	bp := writevScratch.Get().(*[]byte)
	defer writevScratch.Put(bp)
	var total int64
	i, off := 0, 0
	for {
		k := 0
		for j, o := i, off; j < len(bufs) && k < writevChunk; j, o = j+1, 0 {
			k += copy((*bp)[k:], bufs[j][o:])
		}
		if k == 0 {
			return total, nil, true
		}
		n, err, done := s.engineWrite((*bp)[:k], nil)
		if !done {
			// Deregistered meanwhile: the plain path takes the rest.
			if total == 0 {
				return 0, nil, false
			}
			return total, ErrWouldBlock, true
		}
		total += int64(n)
		i, off = advanceBufs(bufs, i, off, n)
		if err != nil {
			return total, err, true
		}
	}
}
