package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/evpoll/poller/examples/internal/servetest"
)

// start serves the HTTP server on a free loopback port with n loops until
// t's cleanup, and returns its address.
func start(t *testing.T, n int) string {
	t.Helper()
	return servetest.Start(t, newServer("127.0.0.1:0", n))
}

// net/http's client: GET and POST, over one kept-alive connection.
func TestGoClient(t *testing.T) {
	addr := start(t, 2)
	tr := &http.Transport{MaxConnsPerHost: 1}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	for i := range 6 {
		var resp *http.Response
		var err error
		if i%2 == 0 {
			resp, err = client.Get("http://" + addr + "/plaintext")
		} else {
			resp, err = client.Post("http://"+addr+"/", "text/plain", strings.NewReader(strings.Repeat("b", 100000)))
		}
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != 200 || string(body) != helloBody {
			t.Fatalf("request %d: %d %q %v", i, resp.StatusCode, body, err)
		}
		if resp.Header.Get("Date") == "" || resp.Header.Get("Content-Type") != "text/plain" {
			t.Fatalf("headers %v", resp.Header)
		}
	}
}

// readResponse reads one response from r: status code, whether it says
// "Connection: close", and body.
func readResponse(t *testing.T, r *bufio.Reader) (code int, closing bool, body string) {
	t.Helper()
	resp, err := http.ReadResponse(r, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Close, string(b)
}

// Pipelined requests in one write, POST bodies among them, one cut in two
// writes: every request is answered, in order, and the connection stays
// open until "Connection: close".
func TestPipelining(t *testing.T) {
	addr := start(t, 1)
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	post := func(body string) string {
		return fmt.Sprintf("POST /p HTTP/1.1\r\nHost: x\r\ncontent-length: %d\r\n\r\n%s", len(body), body)
	}
	get := "GET /plaintext HTTP/1.1\r\nHost: x\r\n\r\n"
	stream := strings.Repeat(get, 20) + post("GET / HTTP/1.1\r\n\r\n") + get + post(strings.Repeat("z", 70000)) +
		"HEAD / HTTP/1.1\r\n\r\nDELETE / HTTP/1.1\r\n\r\n" + get + "GET / HTTP/1.1\r\nConnection: close\r\n\r\n" + get
	half := len(stream) / 2
	go func() {
		c.Write([]byte(stream[:half]))
		time.Sleep(20 * time.Millisecond) // most likely two reads on the server: not needed for correctness
		c.Write([]byte(stream[half:]))
	}()
	r := bufio.NewReader(c)
	type want struct {
		code int
		body string
	}
	var wants []want
	for range 23 {
		wants = append(wants, want{200, helloBody})
	}
	wants = append(wants, want{200, ""}, want{405, ""}, want{200, helloBody}, want{200, helloBody})
	for i, w := range wants {
		var code int
		var body string
		if i == 23 { // HEAD: ReadResponse must be told there is no body
			resp, err := http.ReadResponse(r, &http.Request{Method: "HEAD"})
			if err != nil {
				t.Fatal(err)
			}
			code = resp.StatusCode
			resp.Body.Close()
		} else {
			code, _, body = readResponse(t, r)
		}
		if code != w.code || body != w.body {
			t.Fatalf("response %d: %d %q, want %d %q", i, code, body, w.code, w.body)
		}
	}
	if _, err := r.ReadByte(); err != io.EOF {
		t.Fatalf("after Connection: close: %v, want EOF (and no answer to the request after it)", err)
	}
}

// Bad requests get their error and a close.
func TestBadRequests(t *testing.T) {
	addr := start(t, 1)
	for _, tc := range []struct {
		req  string
		code int
	}{
		{"GARBAGE\r\n\r\n", 400},
		{"GET / HTTP/2.0\r\n\r\n", 505},
		{"POST / HTTP/1.1\r\nContent-Length: x\r\n\r\n", 400},
		{"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", 501},
		{"POST / HTTP/1.1\r\nContent-Length: 99999999\r\n\r\n", 413},
		{"GET / HTTP/1.1\r\nX: " + strings.Repeat("a", 9000) + "\r\n\r\n", 431},
		{"GET / HTTP/1.0\r\n\r\n", 200},
	} {
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(20 * time.Second))
		c.Write([]byte(tc.req))
		r := bufio.NewReader(c)
		code, closing, _ := readResponse(t, r)
		if code != tc.code || !closing {
			t.Errorf("%.30q: %d, Connection: close %v; want %d, true", tc.req, code, closing, tc.code)
		}
		if _, err := r.ReadByte(); err != io.EOF {
			t.Errorf("%.30q: connection not closed: %v", tc.req, err)
		}
		c.Close()
	}
}

var wrkBad = regexp.MustCompile(`bad=(\d+) replies=(\d+)`)

// wrk, a client nobody here wrote, without and with pipelining: every
// reply is a 200 with the body, and no request fails.
func TestWrk(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("wrk runs on Linux here")
	}
	path, err := exec.LookPath("wrk")
	if err != nil {
		t.Skip("wrk not installed (Debian package wrk; make test-deps installs it)")
	}
	addr := start(t, 0)
	for _, depth := range []int{1, 16} {
		cmd := exec.Command(path, "-t", "2", "-c", "32", "-d", "1s", "-s", "testdata/check.lua", "http://"+addr+"/plaintext")
		cmd.Env = append(os.Environ(), "PIPELINE="+strconv.Itoa(depth))
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("wrk: %v\n%s", err, out)
		}
		s := string(out)
		m := wrkBad.FindStringSubmatch(s)
		if m == nil {
			t.Fatalf("pipeline %d: no summary from the script:\n%s", depth, s)
		}
		if m[1] != "0" || m[2] == "0" {
			t.Errorf("pipeline %d: %s bad of %s replies:\n%s", depth, m[1], m[2], s)
		}
		if strings.Contains(s, "Socket errors") || strings.Contains(s, "Non-2xx") {
			t.Errorf("pipeline %d: wrk saw failures:\n%s", depth, s)
		}
		if !strings.Contains(s, "requests in") {
			t.Errorf("pipeline %d: no request count:\n%s", depth, s)
		}
	}
}
