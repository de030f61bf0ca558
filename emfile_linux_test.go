package poller

// Accept when the process has no descriptor left (EMFILE). The test
// re-executes its own binary: the child lowers RLIMIT_NOFILE, fills the
// descriptor table, and serves connections the parent makes, talking to it
// by lines on stdout. Linux only: Windows has no descriptor limit to hit.

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

const (
	emfileChildEnv = "POLLER_EMFILE_CHILD"
	emfileProto    = "EMFILE-PROTO "
)

func TestFaultAcceptEMFILE(t *testing.T) {
	if os.Getenv(emfileChildEnv) == "1" {
		emfileChild(t)
		return
	}
	checkLeaks(t)
	cmd := exec.Command(os.Args[0], "-test.run=^TestFaultAcceptEMFILE$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), emfileChildEnv+"=1")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 64)
	var transcript strings.Builder
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			line := sc.Text()
			transcript.WriteString(line + "\n")
			if strings.HasPrefix(line, emfileProto) {
				lines <- strings.TrimPrefix(line, emfileProto)
			}
		}
		close(lines)
	}()
	fail := func(format string, args ...any) {
		t.Helper()
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf(format+"\nchild output:\n%s%s", append(args, transcript.String(), stderr.String())...)
	}
	next := func() string {
		t.Helper()
		select {
		case l, ok := <-lines:
			if !ok {
				fail("child ended early")
			}
			return l
		case <-time.After(eventTimeout):
			fail("child silent for %v", eventTimeout)
		}
		return ""
	}
	// exchange dials, sends msg and expects it back in upper case.
	exchange := func(addr, msg string) {
		t.Helper()
		c, err := net.Dial("tcp4", addr)
		if err != nil {
			fail("dial: %v", err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(eventTimeout))
		if _, err := c.Write([]byte(msg)); err != nil {
			fail("write: %v", err)
		}
		buf := make([]byte, len(msg))
		if _, err := io.ReadFull(c, buf); err != nil || string(buf) != strings.ToUpper(msg) {
			fail("read %q, %v; want %q", buf, err, strings.ToUpper(msg))
		}
	}
	l := next()
	addr, ok := strings.CutPrefix(l, "LISTEN ")
	if !ok {
		fail("unexpected line %q", l)
	}
	exchange(addr, "one") // accepted only after EMFILE was reported
	if l := next(); l != "AGAIN" {
		fail("unexpected line %q", l)
	}
	exchange(addr, "two") // the listener keeps working
	l = next()
	if !strings.HasPrefix(l, "DONE") {
		fail("unexpected line %q", l)
	}
	for range lines {
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("child: %v\n%s%s", err, transcript.String(), stderr.String())
	}
	t.Logf("child: %s", l)
}

// emfileChild runs in the re-executed test binary.
func emfileChild(t *testing.T) {
	say := func(format string, args ...any) { fmt.Printf(emfileProto+format+"\n", args...) }
	// The first Poll of the process in the netpoll wait mode starts the
	// runtime's netpoller, which keeps descriptors of its own: start it
	// before counting.
	if p, err := New(); err == nil {
		p.Close()
	}
	base := openHandles(t)
	p, err := New()
	if err != nil {
		t.Fatal(err)
	}
	ln, err := ListenTCP("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Registry().Register(ln, 1, Readable); err != nil {
		t.Fatal(err)
	}
	// Lower the limit to just above what is open, then fill the table.
	before := openHandles(t)
	lim := syscall.Rlimit{Cur: uint64(before + 16), Max: uint64(before + 16)}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatalf("setrlimit: %v", err)
	}
	var fillers []int
	for {
		fd, err := syscall.Open("/dev/null", syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
		if err == syscall.EMFILE {
			break
		}
		if err != nil {
			t.Fatalf("filling the descriptor table: %v", err)
		}
		fillers = append(fillers, fd)
		if len(fillers) > 1000 {
			t.Fatal("RLIMIT_NOFILE not enforced")
		}
	}
	release := func(n int) {
		for ; n > 0 && len(fillers) > 0; n-- {
			syscall.Close(fillers[len(fillers)-1])
			fillers = fillers[:len(fillers)-1]
		}
	}
	events := NewEvents(8)
	say("LISTEN %s", ln.Addr())

	// The connection arrives with no descriptor to give it.
	waitEvent(t, p, events, 1, readable)
	for i := 0; i < 3; i++ {
		s, _, err := ln.Accept()
		if !errors.Is(err, syscall.EMFILE) {
			t.Fatalf("Accept with a full table = %v, %v; want EMFILE", s, err)
		}
	}
	if err := p.Wait(events, 0); err != nil {
		t.Fatalf("Wait after EMFILE: %v", err)
	}
	// Free descriptors and accept again without waiting: the edge was not
	// consumed, the connection is still queued.
	release(2)
	s1, _, err := ln.Accept()
	if err != nil {
		t.Fatalf("Accept after freeing descriptors: %v", err)
	}
	if _, _, err := ln.Accept(); !errors.Is(err, ErrWouldBlock) {
		t.Fatalf("second Accept = %v, want ErrWouldBlock", err)
	}
	echoUpper(t, p, events, s1, 2)
	say("AGAIN")

	// A new connection is a new edge on the listener.
	waitEvent(t, p, events, 1, readable)
	s2, _, err := ln.Accept()
	if err != nil {
		t.Fatalf("Accept of the next connection: %v", err)
	}
	echoUpper(t, p, events, s2, 3)

	s1.Close()
	s2.Close()
	ln.Close()
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	release(len(fillers))
	if after := openHandles(t); after != base {
		t.Fatalf("descriptors: %d before New, %d at the end", base, after)
	}
	say("DONE limit %d, 3 Accepts reported EMFILE, 2 connections served after it", lim.Cur)
}

// echoUpper registers s, reads one short message and writes it back in
// upper case.
func echoUpper(t *testing.T, p *Poll, events *Events, s *TCPStream, tok Token) {
	t.Helper()
	if err := p.Registry().Register(s, tok, Readable); err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, p: p, events: events}
	msg := f.read(s, tok, 3)
	if n, err := s.Write([]byte(strings.ToUpper(string(msg)))); n != len(msg) || err != nil {
		t.Fatalf("Write = %d, %v", n, err)
	}
}
