package poller

// writev writes bufs in order with as few system calls as it can (writev
// on Unix, WSASend with several WSABUFs on Windows; through the overlapped
// engine's send when the socket is registered on it), as Write does p: it
// returns the bytes written, with ErrWouldBlock (re-arming Writable on
// Windows) when the socket takes no more now.
func (s *socket) writev(bufs [][]byte) (int64, error) {
	if err := s.acquire(); err != nil {
		return 0, err
	}
	defer s.release()
	var total int64
	i, off := 0, 0 // the next byte to send is bufs[i][off]
	for {
		for i < len(bufs) && off == len(bufs[i]) {
			i, off = i+1, 0
		}
		if i == len(bufs) {
			return total, nil
		}
		n, err := s.sysSendv(bufs[i][off:], bufs[i+1:])
		switch {
		case err == nil && n > 0:
			total += int64(n)
			i, off = advanceBufs(bufs, i, off, n)
			continue
		case err == nil: // nothing taken, nothing refused: as would-block
		case isInterrupted(err):
			continue
		case err == ErrWouldBlock:
			return total + int64(n), ErrWouldBlock // its event is on the way: no re-arm
		case !isWouldBlock(err):
			return total, sysError("writev", s.connectFailure(err))
		}
		s.wouldBlock(flagWritable)
		return total, ErrWouldBlock
	}
}

// advanceBufs moves the position (i, off) in bufs on by n bytes.
func advanceBufs(bufs [][]byte, i, off, n int) (int, int) {
	for n > 0 {
		if k := len(bufs[i]) - off; n < k {
			return i, off + n
		} else {
			n -= k
			i, off = i+1, 0
		}
	}
	return i, off
}

// maxWritevBufs is the most buffers one system call is given; the rest go
// in the next call, in the same Writev. It bounds the array on the stack
// (no allocation per call) and is below every OS's IOV_MAX.
const maxWritevBufs = 64
