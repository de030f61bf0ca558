package main

import (
	"bytes"
	"strconv"
	"time"

	"github.com/evpoll/poller/evloop"
)

// Limits on what a client may send.
const (
	maxHeaderBytes = 8 << 10
	maxBodyBytes   = 1 << 20
)

// dateFormat is the IMF-fixdate of HTTP's Date header.
const dateFormat = "Mon, 02 Jan 2006 15:04:05 GMT"

const helloBody = "Hello, World!"

// plaintext is the protocol: every GET, HEAD or POST is answered with
// "Hello, World!", TechEmpower-plaintext style. Requests may be pipelined;
// connections are kept alive unless the client says otherwise (or speaks
// HTTP/1.0 without keep-alive).
type plaintext struct{}

// session is a connection's: the start of a request not fully arrived.
type session struct{ in []byte }

// loopScratch is a loop's: its replies buffer and its Date header, which
// OnTick renews every second.
type loopScratch struct {
	out  []byte
	date []byte
}

func scratchOf(l *evloop.Loop) *loopScratch {
	sc, _ := l.Value().(*loopScratch)
	if sc == nil {
		sc = &loopScratch{out: make([]byte, 0, evloop.ReadBufSize)}
		sc.date = time.Now().UTC().AppendFormat(sc.date, dateFormat)
		l.SetValue(sc)
	}
	return sc
}

// OnTick renews the loop's Date header every second.
func (plaintext) OnTick(l *evloop.Loop) time.Duration {
	sc := scratchOf(l)
	sc.date = time.Now().UTC().AppendFormat(sc.date[:0], dateFormat)
	return time.Second
}

// OnOpen gives the connection its session.
func (plaintext) OnOpen(c *evloop.Conn) { c.SetValue(new(session)) }

// OnClose has nothing to release.
func (plaintext) OnClose(*evloop.Conn, error) {}

// OnData answers every request data completes, in one write.
func (plaintext) OnData(c *evloop.Conn, data []byte) {
	sess := c.Value().(*session)
	sc := scratchOf(c.Loop())
	if len(sess.in) > 0 {
		sess.in = append(sess.in, data...)
		data = sess.in
	}
	out := sc.out[:0]
	pos, closing := 0, false
	for pos < len(data) && !closing {
		n, reply, last := parseRequest(data[pos:])
		if n == 0 && reply == nil {
			break // incomplete: wait for more
		}
		pos += n
		out = appendResponse(out, reply, last, sc.date)
		closing = last
	}
	rest := len(data) - pos
	if closing {
		rest = 0
	}
	if cap(sess.in) < rest {
		sess.in = make([]byte, rest, 2*rest)
	}
	sess.in = sess.in[:rest]
	copy(sess.in, data[pos:]) // copy handles data aliasing sess.in
	if rest == 0 && cap(sess.in) > evloop.ReadBufSize {
		sess.in = nil
	}
	sc.out = out[:0]
	c.Write(out)
	if closing {
		c.Close() // once the replies are out
	}
}

// reply is what a request gets.
type reply struct {
	status string // "200 OK"
	body   bool   // send the body (not for HEAD and errors)
}

var (
	replyOK       = &reply{"200 OK", true}
	replyHead     = &reply{"200 OK", false}
	replyBad      = &reply{"400 Bad Request", false}
	replyMethod   = &reply{"405 Method Not Allowed", false}
	replyTooLarge = &reply{"413 Content Too Large", false}
	replyHeaders  = &reply{"431 Request Header Fields Too Large", false}
	replyChunked  = &reply{"501 Not Implemented", false}
	replyVersion  = &reply{"505 HTTP Version Not Supported", false}
)

// parseRequest parses the request at the start of b. It returns the bytes
// it takes (head and body), the reply, and whether the connection closes
// after it; n == 0 with a nil reply means the request is not complete.
// Errors take no bytes and close.
func parseRequest(b []byte) (n int, r *reply, last bool) {
	end := bytes.Index(b, []byte("\r\n\r\n"))
	if end < 0 {
		if len(b) > maxHeaderBytes {
			return 0, replyHeaders, true
		}
		return 0, nil, false
	}
	if end > maxHeaderBytes {
		return 0, replyHeaders, true
	}
	head := b[:end]
	line, headers, _ := bytes.Cut(head, []byte("\r\n"))
	method, rest, ok1 := bytes.Cut(line, []byte(" "))
	target, version, ok2 := bytes.Cut(rest, []byte(" "))
	if !ok1 || !ok2 || len(method) == 0 || len(target) == 0 {
		return 0, replyBad, true
	}
	keepAlive := true
	switch string(version) { // no allocation: compared in place
	case "HTTP/1.1":
	case "HTTP/1.0":
		keepAlive = false
	default:
		return 0, replyVersion, true
	}
	length := 0
	for len(headers) > 0 {
		var h []byte
		h, headers, _ = bytes.Cut(headers, []byte("\r\n"))
		name, value, ok := bytes.Cut(h, []byte(":"))
		if !ok {
			return 0, replyBad, true
		}
		value = bytes.TrimSpace(value)
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			v, err := strconv.ParseUint(string(value), 10, 31)
			if err != nil {
				return 0, replyBad, true
			}
			length = int(v)
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			return 0, replyChunked, true
		case bytes.EqualFold(name, []byte("Connection")):
			if bytes.EqualFold(value, []byte("close")) {
				keepAlive = false
			} else if bytes.EqualFold(value, []byte("keep-alive")) {
				keepAlive = true
			}
		}
	}
	if length > maxBodyBytes {
		return 0, replyTooLarge, true
	}
	total := end + 4 + length
	if total > len(b) {
		return 0, nil, false // the body has not all arrived
	}
	switch string(method) {
	case "GET", "POST":
		r = replyOK
	case "HEAD":
		r = replyHead
	default:
		r = replyMethod
	}
	return total, r, !keepAlive
}

// appendResponse appends the response to r.
func appendResponse(out []byte, r *reply, last bool, date []byte) []byte {
	out = append(out, "HTTP/1.1 "...)
	out = append(out, r.status...)
	out = append(out, "\r\nServer: evloop\r\nDate: "...)
	out = append(out, date...)
	if r == replyMethod {
		out = append(out, "\r\nAllow: GET, HEAD, POST"...)
	}
	if last {
		out = append(out, "\r\nConnection: close"...)
	}
	if r.status[0] != '2' {
		return append(out, "\r\nContent-Length: 0\r\n\r\n"...)
	}
	out = append(out, "\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n\r\n"...)
	if r.body {
		out = append(out, helloBody...)
	}
	return out
}

// newServer returns the HTTP server for addr with n loops (n < 1:
// GOMAXPROCS).
func newServer(addr string, n int) *evloop.Server {
	return &evloop.Server{Handler: plaintext{}, Addrs: []string{addr}, Loops: n}
}
