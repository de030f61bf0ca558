package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/evpoll/poller/examples/internal/servetest"
)

// start serves the RESP server on a free loopback port with n loops until
// t's cleanup, and returns its address.
func start(t *testing.T, n int) string {
	t.Helper()
	return servetest.Start(t, newServer("127.0.0.1:0", n))
}

// The tests drive the server over real loopback sockets with a small RESP
// client of their own; where redis-benchmark is installed, also with it.

type client struct {
	t *testing.T
	c net.Conn
	r *bufio.Reader
}

func dial(t *testing.T, srv string) *client {
	t.Helper()
	c, err := net.DialTimeout("tcp", srv, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(20 * time.Second))
	return &client{t: t, c: c, r: bufio.NewReader(c)}
}

// command encodes args as a RESP multibulk.
func command(args ...string) []byte {
	b := fmt.Appendf(nil, "*%d\r\n", len(args))
	for _, a := range args {
		b = fmt.Appendf(b, "$%d\r\n%s\r\n", len(a), a)
	}
	return b
}

func (c *client) send(b []byte) {
	c.t.Helper()
	if _, err := c.c.Write(b); err != nil {
		c.t.Fatal(err)
	}
}

// reply reads one reply and renders it: "+OK", "-ERR ...", ":1", "$hello"
// for a bulk, "$nil" for a null bulk, "*[a b]" for an array.
func (c *client) reply() string {
	c.t.Helper()
	line, err := c.r.ReadString('\n')
	if err != nil {
		c.t.Fatalf("reading reply: %v", err)
	}
	line = strings.TrimSuffix(line, "\r\n")
	switch line[0] {
	case '+', '-', ':':
		return line
	case '$':
		n, err := strconv.Atoi(line[1:])
		if err != nil {
			c.t.Fatalf("bad bulk header %q", line)
		}
		if n < 0 {
			return "$nil"
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(c.r, buf); err != nil {
			c.t.Fatal(err)
		}
		return "$" + string(buf[:n])
	case '*':
		n, err := strconv.Atoi(line[1:])
		if err != nil {
			c.t.Fatalf("bad array header %q", line)
		}
		var elems []string
		for i := 0; i < n; i++ {
			elems = append(elems, strings.TrimPrefix(c.reply(), "$"))
		}
		return "*[" + strings.Join(elems, " ") + "]"
	}
	c.t.Fatalf("unexpected reply %q", line)
	return ""
}

func (c *client) do(want string, args ...string) {
	c.t.Helper()
	c.send(command(args...))
	if got := c.reply(); got != want {
		c.t.Errorf("%v: got %q, want %q", args, got, want)
	}
}

func TestSetGetDel(t *testing.T) {
	srv := start(t, 2)
	c := dial(t, srv)
	c.do("$nil", "GET", "k")
	c.do("+OK", "SET", "k", "hello world")
	c.do("$hello world", "GET", "k")
	c.do("+OK", "set", "k", "hi") // shorter: rewritten in place
	c.do("$hi", "get", "k")
	c.do("+OK", "SET", "k", strings.Repeat("v", 1000))
	c.do("$"+strings.Repeat("v", 1000), "GET", "k")
	c.do("+OK", "SET", "empty", "")
	c.do("$", "GET", "empty")
	c.do(":2", "DEL", "k", "empty", "missing")
	c.do("$nil", "GET", "k")
	c.do("+PONG", "PING")
	c.do("$hey", "PING", "hey")
	c.do("$a\r\nb", "ECHO", "a\r\nb")
	c.do("*[save ]", "CONFIG", "GET", "save")
	c.do("+OK", "SELECT", "0")
	c.do("-ERR unknown command 'NOPE'", "NOPE")
	c.do("-ERR wrong number of arguments for 'GET' command", "GET")

	// Another connection, likely on another loop, sees the same keys.
	d := dial(t, srv)
	c.do("+OK", "SET", "shared", "1")
	d.do("$1", "GET", "shared")
}

// Thousands of pipelined PINGs in one write, inline and multibulk mixed,
// are all answered, in order.
func TestPipelinedPings(t *testing.T) {
	srv := start(t, 2)
	c := dial(t, srv)
	const n = 20000
	var b []byte
	for i := 0; i < n; i++ {
		switch i % 3 {
		case 0:
			b = append(b, command("PING")...)
		case 1:
			b = append(b, "PING\r\n"...)
		default:
			b = append(b, command("PING", strconv.Itoa(i))...)
		}
	}
	go c.c.Write(b) // the replies may fill the buffers before it returns
	for i := 0; i < n; i++ {
		want := "+PONG"
		if i%3 == 2 {
			want = "$" + strconv.Itoa(i)
		}
		if got := c.reply(); got != want {
			t.Fatalf("reply %d: got %q, want %q", i, got, want)
		}
	}
}

// Commands cut at every byte boundary are put back together.
func TestSplitCommands(t *testing.T) {
	srv := start(t, 1)
	c := dial(t, srv)
	stream := append(command("SET", "split", "value"), command("GET", "split")...)
	stream = append(stream, "PING\r\n"...)
	for i := range stream {
		c.send(stream[i : i+1])
		time.Sleep(time.Millisecond / 4)
	}
	for _, want := range []string{"+OK", "$value", "+PONG"} {
		if got := c.reply(); got != want {
			t.Fatalf("got %q, want %q", got, want)
		}
	}
}

// A large value: the request spans many reads, the reply many writes.
func TestLargeValue(t *testing.T) {
	srv := start(t, 2)
	c := dial(t, srv)
	val := strings.Repeat("0123456789abcdef", 256<<10) // 4 MiB
	c.do("+OK", "SET", "big", val)
	c.send(command("GET", "big"))
	if got := c.reply(); got != "$"+val {
		t.Fatalf("GET big: %d bytes back, want %d", len(got)-1, len(val))
	}
}

func TestProtocolErrorAndQuit(t *testing.T) {
	srv := start(t, 1)
	c := dial(t, srv)
	c.send([]byte("*1\r\n+PING\r\n"))
	if got := c.reply(); !strings.HasPrefix(got, "-ERR Protocol error") {
		t.Fatalf("got %q", got)
	}
	if _, err := c.r.ReadByte(); err != io.EOF {
		t.Fatalf("connection not closed after a protocol error: %v", err)
	}
	d := dial(t, srv)
	d.send(append(command("QUIT"), command("PING")...))
	if got := d.reply(); got != "+OK" {
		t.Fatalf("QUIT: %q", got)
	}
	if _, err := d.r.ReadByte(); err != io.EOF {
		t.Fatalf("connection not closed after QUIT: %v", err)
	}
}

// A client nobody here wrote: redis-benchmark, when it is installed.
func TestRedisBenchmark(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("redis-benchmark runs on Linux here")
	}
	path, err := exec.LookPath("redis-benchmark")
	if err != nil {
		t.Skip("redis-benchmark not installed (Debian package redis-tools)")
	}
	srv := start(t, 0)
	_, port, _ := net.SplitHostPort(srv)
	for _, pipeline := range []string{"1", "16"} {
		cmd := exec.Command(path, "-h", "127.0.0.1", "-p", port, "-c", "20", "-n", "20000",
			"-P", pipeline, "-t", "ping,set,get", "--csv")
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("redis-benchmark -P %s: %v\n%s%s", pipeline, err, out, stderr.Bytes())
		}
		if strings.Contains(stderr.String(), "rror") || strings.Contains(string(out), "rror") {
			t.Fatalf("redis-benchmark -P %s reported errors:\n%s%s", pipeline, out, stderr.Bytes())
		}
		for _, test := range []string{"PING_INLINE", "PING_MBULK", "SET", "GET"} {
			if !strings.Contains(string(out), `"`+test+`"`) {
				t.Errorf("redis-benchmark -P %s: no result for %s:\n%s", pipeline, test, out)
			}
		}
	}
}

func FuzzParseCommand(f *testing.F) {
	for _, s := range []string{"*1\r\n$4\r\nPING\r\n", "PING\r\n", "*2\r\n$3\r\nGET\r\n$1\r\nk\r\n",
		"*-1\r\n", "*0\r\n", "\r\n", "*1\r\n$-1\r\n", "*99999999999\r\n", "*1\r\n$3\r\nab"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) == 0 {
			return
		}
		args, n, err := parseCommand(b, nil)
		if err != nil {
			return
		}
		if n < 0 || n > len(b) {
			t.Fatalf("consumed %d of %d bytes", n, len(b))
		}
		if n == 0 && len(args) != 0 {
			t.Fatalf("incomplete command returned arguments")
		}
	})
}
