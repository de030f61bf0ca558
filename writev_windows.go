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

// sysSendv is the primitive of Writev: WSASend of several buffers, or, for
// a socket registered on the overlapped engine, its send: the engine copies
// what it sends into a buffer of its own, one send at a time, so the
// buffers are joined (up to writevChunk bytes) and sent as one Write
// would. The rest waits for the send's completion, the next Writable
// (ErrWouldBlock from the engine: no re-arm).
func (s *socket) sysSendv(first []byte, rest [][]byte) (int, error) {
	if s.ovlReg() == nil {
		return sysWritev(s.fd, first, rest)
	}
	bp := writevScratch.Get().(*[]byte)
	defer writevScratch.Put(bp)
	k := copy(*bp, first)
	for _, b := range rest {
		if k == len(*bp) {
			break
		}
		k += copy((*bp)[k:], b)
	}
	if n, ran, err := s.ovlSend((*bp)[:k], nil); ran {
		return n, err
	}
	return sysWritev(s.fd, first, rest) // deregistered meanwhile
}
