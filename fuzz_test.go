package poller

// FuzzRegistry drives random sequences of register, reregister,
// deregister, write, peer write, read, close, peer close, wake and wait on
// real sockets, checking each result and each event against a model of the
// contract:
//
//   - every call returns what the model predicts (nil or the documented
//     error);
//   - every event names a token registered now, with a direction its
//     interest allows; none comes after Deregister or Close;
//   - a wake event comes only after a Wake, once per run of Wakes;
//   - at the end, every registered source still reports: a readable event
//     after new data, a writable event after Reregister, the pending wake;
//   - nothing leaks (leak_test.go).
//
// `go test` runs the seeds in testdata/fuzz/FuzzRegistry and below;
// `make fuzz` fuzzes for a bounded time.

import (
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

// Operations: one byte each (modulo fuzzOps), followed by up to three
// argument bytes.
const (
	opRegister = iota
	opReregister
	opDeregister
	opWrite
	opPeerWrite
	opRead
	opClose
	opPeerClose
	opWake
	opWait
	fuzzOps
)

const (
	fuzzStreams          = 3
	fuzzMaxOps           = 400
	fuzzWakeToken  Token = 1 << 40
	fuzzSendBudget       = 32 << 10 // bytes either side may send unread
)

func FuzzRegistry(f *testing.F) {
	requireAFD(f, "its streams are accepted before they are registered")
	// A few seeds in code; more in testdata/fuzz/FuzzRegistry.
	f.Add([]byte{opRegister, 0, 1, 3, opPeerWrite, 0, 10, opWait, 0, opRead, 0, opWait, 0})
	f.Add([]byte{opRegister, 1, 2, 1, opPeerWrite, 1, 5, opDeregister, 1, opWait, 1, opPeerWrite, 1, 5, opWait, 1})
	f.Add([]byte{opWake, opWake, opWait, 0, opWait, 0, opWake, opWait, 1})
	f.Fuzz(func(t *testing.T, ops []byte) {
		m := newFuzzModel(t)
		m.run(ops)
		m.finish()
	})
}

// fuzzStream is the model of one of our streams and its peer.
type fuzzStream struct {
	s          *TCPStream
	peer       net.Conn
	open       bool // our stream not closed
	peerOpen   bool
	registered bool
	token      Token
	interest   Interest
	peerSent   int // bytes the peer sent (bounded by fuzzSendBudget)
	sent       int // bytes we sent, likewise: no buffer ever fills
}

type fuzzModel struct {
	t           *testing.T
	p           *Poll
	w           *Waker
	events      *Events
	streams     [fuzzStreams]*fuzzStream
	wakePending bool
	buf         []byte
	step        int
}

// fuzzListener is one listener for every run in the process: a listener
// per run takes a port per run, and at a few hundred runs a second the
// TIME_WAIT connections of earlier runs leave no free port to bind.
var (
	fuzzListenerOnce sync.Once
	fuzzListener     net.Listener
	fuzzListenerErr  error
)

func newFuzzModel(t *testing.T) *fuzzModel {
	fuzzListenerOnce.Do(func() { fuzzListener, fuzzListenerErr = net.Listen("tcp4", "127.0.0.1:0") })
	if fuzzListenerErr != nil {
		t.Fatal(fuzzListenerErr)
	}
	ln := fuzzListener
	checkLeaks(t)
	m := &fuzzModel{t: t, p: newPoll(t), events: NewEvents(4), buf: make([]byte, 4096)}
	w, err := NewWaker(m.p.Registry(), fuzzWakeToken)
	if err != nil {
		t.Fatal(err)
	}
	m.w = w
	for i := range m.streams {
		s, err := DialTCP("tcp4", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		peer := acceptPeer(t, ln, s)
		t.Cleanup(func() { s.Close(); peer.Close() })
		m.streams[i] = &fuzzStream{s: s, peer: peer, open: true, peerOpen: true}
	}
	return m
}

// acceptPeer accepts the peer of s, closing connections a failed earlier
// run left in the queue.
func acceptPeer(t *testing.T, ln net.Listener, s *TCPStream) net.Conn {
	for {
		peer, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		if peer.RemoteAddr().String() == s.LocalAddr().String() {
			return peer
		}
		peer.Close()
	}
}

func (m *fuzzModel) fatalf(format string, args ...any) {
	m.t.Helper()
	m.t.Fatalf("step %d: "+format, append([]any{m.step}, args...)...)
}

// expect checks a call's error against the model's prediction.
func (m *fuzzModel) expect(what string, err, want error) {
	m.t.Helper()
	if want == nil && err != nil || want != nil && !errors.Is(err, want) {
		m.fatalf("%s = %v, want %v", what, err, want)
	}
}

func (m *fuzzModel) run(ops []byte) {
	arg := func(k int) byte {
		if k < len(ops) {
			return ops[k]
		}
		return 0
	}
	for k := 0; k < len(ops) && m.step < fuzzMaxOps; m.step++ {
		op := int(ops[k]) % fuzzOps
		a, b, c := arg(k+1), arg(k+2), arg(k+3)
		k++
		fs := m.streams[int(a)%fuzzStreams]
		i := int(a) % fuzzStreams
		switch op {
		case opRegister:
			k += 3
			tok, in := Token(i)<<8|Token(b), Interest(c%5) // 0 and 4 are invalid
			err := m.p.Registry().Register(fs.s, tok, in)
			want := m.registerErr(fs, in, false)
			m.expect(fmt.Sprintf("Register(%d, %d, %v)", i, tok, in), err, want)
			if want == nil {
				fs.registered, fs.token, fs.interest = true, tok, in
			}
		case opReregister:
			k += 3
			tok, in := Token(i)<<8|Token(b), Interest(c%5)
			err := m.p.Registry().Reregister(fs.s, tok, in)
			want := m.registerErr(fs, in, true)
			m.expect(fmt.Sprintf("Reregister(%d, %d, %v)", i, tok, in), err, want)
			if want == nil {
				fs.token, fs.interest = tok, in
			}
		case opDeregister:
			k++
			err := m.p.Registry().Deregister(fs.s)
			var want error
			switch {
			case !fs.open:
				want = net.ErrClosed
			case !fs.registered:
				want = ErrNotRegistered
			}
			m.expect(fmt.Sprintf("Deregister(%d)", i), err, want)
			fs.registered = false
		case opWrite:
			k += 2
			if fs.sent+1+int(b) > fuzzSendBudget {
				break
			}
			n, err := fs.s.Write(m.buf[:1+int(b)])
			fs.sent += n
			switch {
			case !fs.open:
				m.expect(fmt.Sprintf("Write(%d) on a closed stream", i), err, net.ErrClosed)
			case err == nil || errors.Is(err, ErrWouldBlock):
			case !fs.peerOpen && isConnBroken(err):
			default:
				m.fatalf("Write(%d) = %d, %v", i, n, err)
			}
		case opPeerWrite:
			k += 2
			n := 1 + int(b)
			if !fs.peerOpen || fs.peerSent+n > fuzzSendBudget {
				break
			}
			fs.peer.SetWriteDeadline(time.Now().Add(eventTimeout))
			if _, err := fs.peer.Write(m.buf[:n]); err != nil && fs.open {
				m.fatalf("peer Write(%d): %v", i, err)
			}
			fs.peerSent += n
		case opRead:
			k++
			m.drain(i, fs)
		case opClose:
			k++
			m.expect(fmt.Sprintf("Close(%d)", i), fs.s.Close(), m.closedErr(fs))
			fs.open, fs.registered = false, false
		case opPeerClose:
			k++
			if fs.peerOpen {
				fs.peer.Close()
				fs.peerOpen = false
			}
		case opWake:
			m.expect("Wake", m.w.Wake(), nil)
			m.wakePending = true
		case opWait:
			k++
			var timeout time.Duration
			if a%4 == 3 {
				timeout = time.Millisecond
			}
			m.expect("Wait", m.p.Wait(m.events, timeout), nil)
			m.check(nil)
		}
	}
}

func (m *fuzzModel) closedErr(fs *fuzzStream) error {
	if !fs.open {
		return net.ErrClosed
	}
	return nil
}

// registerErr predicts Register (or Reregister) in the order the contract
// checks: interest, closed socket, registration state.
func (m *fuzzModel) registerErr(fs *fuzzStream, in Interest, re bool) error {
	switch {
	case in == 0 || in&^allInterests != 0:
		return ErrInvalidInterest
	case !fs.open:
		return net.ErrClosed
	case !re && fs.registered:
		return ErrAlreadyRegistered
	case re && !fs.registered:
		return ErrNotRegistered
	}
	return nil
}

// drain reads stream i until ErrWouldBlock, the end of the stream or an
// error the model allows.
func (m *fuzzModel) drain(i int, fs *fuzzStream) {
	for {
		_, err := fs.s.Read(m.buf)
		switch {
		case err == nil:
			continue
		case !fs.open:
			m.expect(fmt.Sprintf("Read(%d) on a closed stream", i), err, net.ErrClosed)
		case errors.Is(err, ErrWouldBlock):
		case err == io.EOF && !fs.peerOpen:
		case isConnBroken(err) && !fs.peerOpen:
		default:
			m.fatalf("Read(%d): %v", i, err)
		}
		return
	}
}

// check validates the events of the last Wait against the model; seen, if
// not nil, records the readable and writable events per stream.
func (m *fuzzModel) check(seen map[int]Event) {
	m.t.Helper()
	for ev := range m.events.All() {
		if ev.Token() == fuzzWakeToken {
			if !m.wakePending {
				m.fatalf("wake event %v without a Wake since the last one", ev)
			}
			m.wakePending = false
			continue
		}
		i := int(ev.Token() >> 8)
		if i >= fuzzStreams {
			m.fatalf("event %v: unknown token", ev)
		}
		fs := m.streams[i]
		if !fs.registered || fs.token != ev.Token() {
			m.fatalf("event %v for stream %d, which is not registered with that token (registered=%v token=%d open=%v)",
				ev, i, fs.registered, fs.token, fs.open)
		}
		if ev.IsReadable() && fs.interest&Readable == 0 || ev.IsWritable() && fs.interest&Writable == 0 {
			m.fatalf("event %v outside the interest %v", ev, fs.interest)
		}
		if seen != nil {
			old := seen[i]
			old.flags |= ev.flags
			seen[i] = old
		}
	}
}

// finish checks that every registered source still reports, then closes
// everything (the leak check runs at cleanup).
func (m *fuzzModel) finish() {
	m.step = -1
	wantRead, wantWrite := map[int]bool{}, map[int]bool{}
	for i, fs := range m.streams {
		if !fs.registered || !fs.peerOpen {
			continue
		}
		m.drain(i, fs)
		// Polled afresh, as after a Register.
		m.expect("final Reregister", m.p.Registry().Reregister(fs.s, fs.token, fs.interest), nil)
		if fs.interest&Readable != 0 {
			fs.peer.SetWriteDeadline(time.Now().Add(eventTimeout))
			if _, err := fs.peer.Write([]byte("!")); err != nil {
				m.fatalf("final peer Write(%d): %v", i, err)
			}
			wantRead[i] = true
		}
		if fs.interest&Writable != 0 {
			wantWrite[i] = true
		}
	}
	wantWake := m.wakePending
	seen := map[int]Event{}
	deadline := time.Now().Add(eventTimeout)
	for {
		missing := wantWake && m.wakePending
		for i := range wantRead {
			missing = missing || !seen[i].IsReadable()
		}
		for i := range wantWrite {
			missing = missing || !seen[i].IsWritable()
		}
		if !missing {
			break
		}
		if time.Now().After(deadline) {
			m.fatalf("after %v: readable wanted %v, writable wanted %v, wake pending %v; seen %v",
				eventTimeout, wantRead, wantWrite, m.wakePending, seen)
		}
		m.expect("final Wait", m.p.Wait(m.events, 50*time.Millisecond), nil)
		m.check(seen)
	}
	for _, fs := range m.streams {
		// Peers reset (linger 0): no TIME_WAIT piles up over many runs.
		fs.peer.(tcpPeer).SetLinger(0)
		fs.peer.Close()
		if fs.open {
			m.expect("final Close", fs.s.Close(), nil)
		}
	}
	m.expect("Poll Close", m.p.Close(), nil)
}
