package poller

// Load: a one-goroutine poller echo server against many clients, in this
// process or a child one. Scaled down by default; -poller.stress (or
// POLLER_STRESS=1, make stress) runs it full size: 10,000 connections on
// Linux and 500 on Windows echoing 1 MB each. It ends with a leak check
// (leak_test.go).

import (
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math/rand"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// echoServer is a one-goroutine poller echo loop: it accepts until
// ErrWouldBlock, echoes every byte back, keeps what a Write did not take
// and stops reading a connection until it is written, and closes a
// connection once its peer has finished and everything is echoed.
type echoServer struct {
	p     *Poll
	ln    *TCPListener
	stop  *Waker
	conns map[Token]*echoConn
	next  Token
	buf   []byte

	accepted, closed, peak int
	bytes                  int64
}

type echoConn struct {
	s   *TCPStream
	out []byte // read, not yet echoed
}

const (
	echoListener Token = 0
	echoStop     Token = 1
)

func newEchoServer(t testing.TB) *echoServer {
	t.Helper()
	p := newPoll(t)
	ln, err := ListenTCP("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	if err := p.Registry().Register(ln, echoListener, Readable); err != nil {
		t.Fatal(err)
	}
	stop, err := NewWaker(p.Registry(), echoStop)
	if err != nil {
		t.Fatal(err)
	}
	return &echoServer{p: p, ln: ln, stop: stop, conns: map[Token]*echoConn{}, next: 2, buf: make([]byte, 64<<10)}
}

// run serves until the stop Waker fires; it returns the first error. Either
// way it closes every connection, so that clients never wait for ever.
func (e *echoServer) run() error {
	defer func() {
		for _, c := range e.conns {
			c.s.Close()
		}
	}()
	events := NewEvents(1024)
	for {
		if err := e.p.Wait(events, -1); err != nil {
			return err
		}
		for ev := range events.All() {
			switch ev.Token() {
			case echoStop:
				return nil
			case echoListener:
				if err := e.accept(); err != nil {
					return err
				}
			default:
				c := e.conns[ev.Token()]
				if c == nil {
					return fmt.Errorf("event %v for no connection", ev)
				}
				if err := e.serve(ev.Token(), c); err != nil {
					return fmt.Errorf("connection %d: %w", ev.Token(), err)
				}
			}
		}
	}
}

func (e *echoServer) accept() error {
	for {
		s, _, err := e.ln.Accept()
		if errors.Is(err, ErrWouldBlock) {
			return nil
		}
		if err != nil {
			return err
		}
		tok := e.next
		e.next++
		e.conns[tok] = &echoConn{s: s}
		if err := e.p.Registry().Register(s, tok, Readable|Writable); err != nil {
			return err
		}
		e.accepted++
		if open := e.accepted - e.closed; open > e.peak {
			e.peak = open
		}
	}
}

// serve flushes what is pending, then reads until ErrWouldBlock (or until
// a Write would block: the Writable event resumes it).
func (e *echoServer) serve(tok Token, c *echoConn) error {
	for {
		if len(c.out) > 0 {
			n, err := c.s.Write(c.out)
			e.bytes += int64(n)
			c.out = c.out[n:]
			if errors.Is(err, ErrWouldBlock) {
				return nil
			}
			if err != nil {
				return err
			}
			c.out = nil
		}
		n, err := c.s.Read(e.buf)
		if n > 0 {
			w, werr := c.s.Write(e.buf[:n])
			e.bytes += int64(w)
			if w < n {
				c.out = append([]byte(nil), e.buf[w:n]...)
			}
			if werr != nil && !errors.Is(werr, ErrWouldBlock) {
				return werr
			}
		}
		switch {
		case err == io.EOF:
			if len(c.out) > 0 {
				return fmt.Errorf("EOF with %d bytes not echoed", len(c.out))
			}
			delete(e.conns, tok)
			e.closed++
			return c.s.Close() // all echoed: the FIN follows the data
		case errors.Is(err, ErrWouldBlock):
			return nil
		case err != nil:
			return err
		}
	}
}

// loadResult is what the client side of a load test found.
type loadResult struct {
	Conns    int
	Bytes    int64 // echoed bytes received
	Failed   int
	Errs     []string // the first few failures
	Connect  time.Duration
	Transfer time.Duration
}

// loadWindow bounds how far a client's writes may run ahead of the echo it
// has read. Without it the echo piles up in the server's send buffers (Linux
// grows them up to tcp_wmem's 4 MB each) and 10,000 connections exhaust the
// kernel's TCP memory (tcp_mem): the kernel then stalls sockets, which looks
// like lost events on both sides.
const loadWindow = 64 << 10

// loadClients opens conns connections to addr with package net, all of them
// before any sends, then each sends perConn bytes in random-sized writes (1
// byte to 16 KiB) while reading the echo, at most loadWindow ahead of it,
// and checks length and CRC-32 of what came back.
func loadClients(addr string, conns, perConn int) loadResult {
	// One random buffer; connection i sends perConn bytes of it from its own
	// offset, so bytes crossing between connections would be caught.
	data := make([]byte, 2*perConn+65536)
	rand.New(rand.NewSource(1)).Read(data)
	offset := func(i int) int { return (i * 7919) % (perConn + 65536) }

	res := loadResult{Conns: conns}
	var mu sync.Mutex
	fail := func(err error) {
		mu.Lock()
		defer mu.Unlock()
		res.Failed++
		if len(res.Errs) < 10 {
			res.Errs = append(res.Errs, err.Error())
		}
	}
	var total atomic.Int64
	start := time.Now()
	var connected, wg sync.WaitGroup
	connected.Add(conns)
	begin := make(chan struct{})
	dialSlots := make(chan struct{}, 64)
	for i := 0; i < conns; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			dialSlots <- struct{}{}
			c, err := net.Dial("tcp4", addr)
			<-dialSlots
			connected.Done()
			if err != nil {
				fail(fmt.Errorf("conn %d: dial: %w", i, err))
				return
			}
			defer c.Close()
			<-begin
			want := data[offset(i) : offset(i)+perConn]
			var echoed atomic.Int64
			progress := make(chan struct{}, 1)
			readDone := make(chan struct{})
			wrote := make(chan error, 1)
			go func() {
				rng := rand.New(rand.NewSource(int64(i)))
				sent := 0
				for sent < len(want) {
					n := min(1+rng.Intn(16<<10), len(want)-sent)
					for int64(sent+n)-echoed.Load() > loadWindow {
						select {
						case <-progress:
						case <-readDone:
							wrote <- fmt.Errorf("echo ended after %d of %d bytes sent", sent, len(want))
							return
						}
					}
					if _, err := c.Write(want[sent : sent+n]); err != nil {
						wrote <- err
						return
					}
					sent += n
				}
				wrote <- c.(*net.TCPConn).CloseWrite()
			}()
			crc := crc32.NewIEEE()
			buf := make([]byte, 16<<10)
			var n int64
			for {
				m, rerr := c.Read(buf)
				crc.Write(buf[:m])
				n += int64(m)
				echoed.Store(n)
				select {
				case progress <- struct{}{}:
				default:
				}
				if rerr == io.EOF {
					break
				}
				if rerr != nil {
					err = rerr
					break
				}
			}
			close(readDone)
			if werr := <-wrote; werr != nil && err == nil {
				err = werr
			}
			total.Add(n)
			switch {
			case err != nil:
				err = fmt.Errorf("conn %d: %w", i, err)
			case n != int64(perConn):
				err = fmt.Errorf("conn %d: echoed %d bytes, sent %d", i, n, perConn)
			case crc.Sum32() != crc32.ChecksumIEEE(want):
				err = fmt.Errorf("conn %d: echo differs from what was sent (CRC-32)", i)
			}
			if err != nil {
				fail(err)
			}
		}()
	}
	connected.Wait()
	res.Connect = time.Since(start)
	close(begin)
	wg.Wait()
	res.Transfer = time.Since(start) - res.Connect
	res.Bytes = total.Load()
	return res
}

// The client side can run in a child process (the test binary again), so
// that each process holds one end of every connection: at 10,000
// connections both ends in one process need more descriptors than a hard
// limit of 20,000 allows, and raising the hard limit needs privileges.
const (
	loadChildEnv   = "POLLER_LOAD_CHILD" // "addr conns perConn"
	loadChildProto = "LOAD-PROTO "
)

// loadClientsChild runs loadClients in a child process.
func loadClientsChild(t *testing.T, addr string, conns, perConn int) loadResult {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestLoadEcho$", "-test.v", "-test.count=1", "-test.timeout=30m")
	cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%s %d %d", loadChildEnv, addr, conns, perConn))
	out, err := cmd.CombinedOutput()
	var res loadResult
	found := false
	for _, line := range strings.Split(string(out), "\n") {
		if i := strings.Index(line, loadChildProto); i >= 0 {
			if err := json.Unmarshal([]byte(line[i+len(loadChildProto):]), &res); err != nil {
				t.Fatalf("child result %q: %v", line, err)
			}
			found = true
		}
	}
	if err != nil || !found {
		t.Fatalf("client process: %v\n%s", err, out)
	}
	return res
}

// runLoadChild is the child's side of loadClientsChild.
func runLoadChild(t *testing.T, spec string) {
	var addr string
	var conns, perConn int
	if _, err := fmt.Sscanf(spec, "%s %d %d", &addr, &conns, &perConn); err != nil {
		t.Fatalf("%s=%q: %v", loadChildEnv, spec, err)
	}
	if err := raiseOpenFiles(conns + 256); err != nil {
		t.Fatal(err)
	}
	res := loadClients(addr, conns, perConn)
	b, _ := json.Marshal(res)
	fmt.Printf("%s%s\n", loadChildProto, b)
}

// loadEcho serves conns connections of perConn bytes each with the poller
// echo loop, the clients in this process or, if asked or if the descriptor
// limit is too low for both ends, in a child process; it checks every byte
// and returns the server and the clients' result.
func loadEcho(t *testing.T, conns, perConn int, child bool) (*echoServer, loadResult) {
	if !child && raiseOpenFiles(2*conns+256) != nil {
		child = true
	}
	if child {
		if err := raiseOpenFiles(conns + 256); err != nil {
			t.Fatal(err)
		}
	}
	checkLeaks(t)
	e := newEchoServer(t)
	served := make(chan error, 1)
	go func() { served <- e.run() }()
	clients := make(chan loadResult, 1)
	go func() {
		if child {
			clients <- loadClientsChild(t, e.ln.Addr().String(), conns, perConn)
		} else {
			clients <- loadClients(e.ln.Addr().String(), conns, perConn)
		}
	}()
	var res loadResult
	select {
	case res = <-clients:
		e.stop.Wake()
		if err := <-served; err != nil {
			t.Fatalf("echo loop: %v", err)
		}
	case err := <-served:
		t.Errorf("echo loop ended before the clients: %v", err)
		// The loop closed every connection it had accepted; closing the
		// listener ends the clients not accepted yet too.
		e.ln.Close()
		<-clients
		t.FailNow()
	}
	for _, err := range res.Errs {
		t.Error(err)
	}
	if res.Failed > 0 {
		t.Fatalf("%d of %d connections failed", res.Failed, conns)
	}
	want := int64(conns) * int64(perConn)
	if res.Bytes != want || e.bytes != want {
		t.Fatalf("echoed %d bytes (server wrote %d), want %d", res.Bytes, e.bytes, want)
	}
	if e.accepted != conns || e.closed != conns {
		t.Fatalf("server accepted %d and closed %d connections, want %d", e.accepted, e.closed, conns)
	}
	where := "in this process"
	if child {
		where = "in a child process"
	}
	stressLog(t, "load: %d connections (peak %d open at once, clients %s), %d bytes each way (%d per connection), 0 lost or corrupted; connect %v, transfer %v",
		conns, e.peak, where, want, perConn, res.Connect.Round(time.Millisecond), res.Transfer.Round(time.Millisecond))
	return e, res
}

// TestLoadEcho: many concurrent connections, all open at once, each sending
// a stream of random-sized writes to the poller echo loop and checking the
// echo byte for byte (length and CRC-32).
func TestLoadEcho(t *testing.T) {
	if spec := os.Getenv(loadChildEnv); spec != "" {
		runLoadChild(t, spec)
		return
	}
	conns, perConn := size(200, 100, 10000, 500), size(256<<10, 256<<10, 1<<20, 1<<20)
	// For investigations: POLLER_LOAD="connections bytes-per-connection".
	if v := os.Getenv("POLLER_LOAD"); v != "" {
		if _, err := fmt.Sscanf(v, "%d %d", &conns, &perConn); err != nil {
			t.Fatalf("POLLER_LOAD=%q: %v", v, err)
		}
	}
	loadEcho(t, conns, perConn, false)
}

// TestLoadEchoClientProcess runs a small load with the clients in a child
// process, the way the full-size load runs where descriptors are short.
func TestLoadEchoClientProcess(t *testing.T) {
	loadEcho(t, size(50, 20, 50, 20), 64<<10, true)
}
