package main

import (
	"bytes"
	"errors"
	"strconv"
	"sync"

	"github.com/evpoll/poller/evloop"
)

// Limits on what a client may send, as a guard against unbounded buffers.
const (
	maxArgs      = 1 << 20
	maxBulkLen   = 512 << 20
	maxInlineLen = 64 << 10
)

var (
	errBadCount  = errors.New("invalid multibulk length")
	errBadBulk   = errors.New("invalid bulk length")
	errExpectBlk = errors.New("expected '$'")
	errBadEnd    = errors.New("bulk not followed by CRLF")
	errInline    = errors.New("too big inline request")
)

// parseCommand parses one command at the start of b, a multibulk
// (*N\r\n$len\r\narg\r\n...) or an inline line (PING\r\n). It appends the
// arguments, slices of b, to args and returns them with the bytes consumed;
// 0 bytes means the command is not complete yet (and appends nothing). An empty command (an empty
// line, *0) consumes its bytes and returns no arguments.
func parseCommand(b []byte, args [][]byte) ([][]byte, int, error) {
	if b[0] != '*' {
		return parseInline(b, args)
	}
	start := len(args)
	count, pos, err := parseLength(b, 1, maxArgs, errBadCount)
	if pos == 0 || err != nil {
		return args, 0, err
	}
	for i := 0; i < count; i++ {
		if pos >= len(b) {
			return args[:start], 0, nil
		}
		if b[pos] != '$' {
			return args[:start], 0, errExpectBlk
		}
		n, next, err := parseLength(b, pos+1, maxBulkLen, errBadBulk)
		if next == 0 || err != nil {
			return args[:start], 0, err
		}
		if n < 0 {
			return args[:start], 0, errBadBulk
		}
		end := next + n
		if end+2 > len(b) {
			return args[:start], 0, nil
		}
		if b[end] != '\r' || b[end+1] != '\n' {
			return args[:start], 0, errBadEnd
		}
		args = append(args, b[next:end])
		pos = end + 2
	}
	return args, pos, nil
}

// parseLength reads a decimal number from b[i:] up to CRLF, and returns it
// with the position after the CRLF, or 0 if the line is not complete.
func parseLength(b []byte, i, limit int, bad error) (n, next int, err error) {
	neg := false
	if i < len(b) && b[i] == '-' {
		neg = true
		i++
	}
	digits := 0
	for ; i < len(b); i++ {
		c := b[i]
		if c == '\r' {
			if i+1 >= len(b) {
				return 0, 0, nil
			}
			if b[i+1] != '\n' || digits == 0 {
				return 0, 0, bad
			}
			if neg {
				n = -n
			}
			return n, i + 2, nil
		}
		if c < '0' || c > '9' || digits > 10 {
			return 0, 0, bad
		}
		n = n*10 + int(c-'0')
		if n > limit {
			return 0, 0, bad
		}
		digits++
	}
	return 0, 0, nil
}

// parseInline parses a line of words separated by spaces.
func parseInline(b []byte, args [][]byte) ([][]byte, int, error) {
	nl := bytes.IndexByte(b, '\n')
	if nl < 0 {
		if len(b) > maxInlineLen {
			return args, 0, errInline
		}
		return args, 0, nil
	}
	line := b[:nl]
	if len(line) > 0 && line[len(line)-1] == '\r' {
		line = line[:len(line)-1]
	}
	for len(line) > 0 {
		i := 0
		for i < len(line) && (line[i] == ' ' || line[i] == '\t') {
			i++
		}
		line = line[i:]
		j := 0
		for j < len(line) && line[j] != ' ' && line[j] != '\t' {
			j++
		}
		if j > 0 {
			args = append(args, line[:j])
		}
		line = line[j:]
	}
	return args, nl + 1, nil
}

// is reports whether the command name equals upper, an upper-case ASCII
// word, ignoring case.
func is(name []byte, upper string) bool {
	if len(name) != len(upper) {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if 'a' <= c && c <= 'z' {
			c -= 'a' - 'A'
		}
		if c != upper[i] {
			return false
		}
	}
	return true
}

// exec runs one command and appends its reply to out.
func (s *store) exec(out []byte, args [][]byte, c *session) []byte {
	name := args[0]
	switch {
	case is(name, "PING"):
		switch len(args) {
		case 1:
			return append(out, "+PONG\r\n"...)
		case 2:
			return appendBulk(out, args[1])
		}
	case is(name, "ECHO"):
		if len(args) == 2 {
			return appendBulk(out, args[1])
		}
	case is(name, "SET"):
		if len(args) == 3 {
			s.set(args[1], args[2])
			return append(out, "+OK\r\n"...)
		}
		if len(args) > 3 {
			return append(out, "-ERR syntax error\r\n"...)
		}
	case is(name, "GET"):
		if len(args) == 2 {
			return s.appendGet(out, args[1])
		}
	case is(name, "DEL"):
		if len(args) >= 2 {
			n := 0
			for _, k := range args[1:] {
				if s.del(k) {
					n++
				}
			}
			return appendInt(out, ':', n)
		}
	case is(name, "CONFIG"):
		// redis-benchmark asks for "save" and "appendonly" when it starts.
		if len(args) == 3 && is(args[1], "GET") {
			switch {
			case is(args[2], "SAVE"):
				return append(out, "*2\r\n$4\r\nsave\r\n$0\r\n\r\n"...)
			case is(args[2], "APPENDONLY"):
				return append(out, "*2\r\n$10\r\nappendonly\r\n$2\r\nno\r\n"...)
			}
			return append(out, "*0\r\n"...)
		}
	case is(name, "COMMAND"):
		return append(out, "*0\r\n"...)
	case is(name, "SELECT"):
		if len(args) == 2 {
			if string(args[1]) == "0" {
				return append(out, "+OK\r\n"...)
			}
			return append(out, "-ERR DB index is out of range\r\n"...)
		}
	case is(name, "QUIT"):
		c.quit = true
		return append(out, "+OK\r\n"...)
	default:
		out = append(out, "-ERR unknown command '"...)
		out = appendSafe(out, name)
		return append(out, "'\r\n"...)
	}
	out = append(out, "-ERR wrong number of arguments for '"...)
	out = appendSafe(out, name)
	return append(out, "' command\r\n"...)
}

// appendSafe appends at most 64 bytes of b with CR and LF replaced, for
// error lines.
func appendSafe(out, b []byte) []byte {
	if len(b) > 64 {
		b = b[:64]
	}
	for _, c := range b {
		if c == '\r' || c == '\n' {
			c = ' '
		}
		out = append(out, c)
	}
	return out
}

func appendInt(out []byte, kind byte, n int) []byte {
	out = append(out, kind)
	out = strconv.AppendInt(out, int64(n), 10)
	return append(out, '\r', '\n')
}

func appendBulk(out, b []byte) []byte {
	out = appendInt(out, '$', len(b))
	out = append(out, b...)
	return append(out, '\r', '\n')
}

// store is the key space: shards chosen by a hash of the key, each a map
// under its own lock. A value is held by pointer so that SET on an existing
// key rewrites it in place, without allocating, when it fits.
type store struct {
	shards [64]shard
}

type shard struct {
	mu sync.RWMutex
	m  map[string]*value
	_  [40]byte // keep neighbouring locks off one cache line
}

type value struct{ b []byte }

func (s *store) init() {
	for i := range s.shards {
		s.shards[i].m = make(map[string]*value)
	}
}

func (s *store) shard(key []byte) *shard {
	h := uint32(2166136261) // FNV-1a
	for _, c := range key {
		h ^= uint32(c)
		h *= 16777619
	}
	return &s.shards[h%uint32(len(s.shards))]
}

func (s *store) set(key, val []byte) {
	sh := s.shard(key)
	sh.mu.Lock()
	if v, ok := sh.m[string(key)]; ok {
		if cap(v.b) >= len(val) && cap(v.b) <= 2*len(val)+64 {
			v.b = append(v.b[:0], val...)
		} else {
			v.b = append([]byte(nil), val...)
		}
	} else {
		sh.m[string(key)] = &value{b: append([]byte(nil), val...)}
	}
	sh.mu.Unlock()
}

func (s *store) appendGet(out, key []byte) []byte {
	sh := s.shard(key)
	sh.mu.RLock()
	v, ok := sh.m[string(key)]
	if ok {
		out = appendBulk(out, v.b)
	}
	sh.mu.RUnlock()
	if !ok {
		out = append(out, "$-1\r\n"...)
	}
	return out
}

func (s *store) del(key []byte) bool {
	sh := s.shard(key)
	sh.mu.Lock()
	_, ok := sh.m[string(key)]
	if ok {
		delete(sh.m, string(key))
	}
	sh.mu.Unlock()
	return ok
}

// session is the state of one connection. in keeps the start of a command
// that has not fully arrived.
type session struct {
	in   []byte
	quit bool // QUIT seen: close once the replies are out
}

// handler is the protocol, shared by the loops; its scratch buffers are
// per loop, in the loop's Value, and serve one read at a time.
type handler struct {
	evloop.BaseHandler
	store *store
}

// scratch is one loop's.
type scratch struct {
	out  []byte   // replies to the commands of one read
	args [][]byte // arguments of the command being run, into data or session.in
}

// OnOpen gives the connection its session.
func (h *handler) OnOpen(c *evloop.Conn) { c.SetValue(new(session)) }

// OnData runs the commands completed by data and writes their replies.
func (h *handler) OnData(c *evloop.Conn, data []byte) {
	sess := c.Value().(*session)
	sc, _ := c.Loop().Value().(*scratch)
	if sc == nil {
		sc = &scratch{out: make([]byte, 0, evloop.ReadBufSize)}
		c.Loop().SetValue(sc)
	}
	if len(sess.in) > 0 {
		sess.in = append(sess.in, data...)
		data = sess.in
	}
	out := sc.out[:0]
	pos := 0
	var perr error
	for pos < len(data) && !sess.quit {
		args, n, err := parseCommand(data[pos:], sc.args[:0])
		if err != nil {
			perr = err
			break
		}
		if n == 0 {
			break // incomplete: wait for more
		}
		sc.args = args[:0]
		pos += n
		if len(args) > 0 {
			out = h.store.exec(out, args, sess)
		}
	}
	if perr != nil {
		out = append(out, "-ERR Protocol error: "...)
		out = append(out, perr.Error()...)
		out = append(out, "\r\n"...)
		sess.quit = true
	}
	// Keep the unparsed tail; copy handles data aliasing sess.in.
	rest := len(data) - pos
	if sess.quit {
		rest = 0
	}
	if cap(sess.in) < rest {
		sess.in = make([]byte, rest, 2*rest)
	}
	sess.in = sess.in[:rest]
	copy(sess.in, data[pos:])
	if rest == 0 && cap(sess.in) > evloop.ReadBufSize {
		sess.in = nil
	}
	sc.out = out[:0]
	c.Write(out)
	if sess.quit {
		c.Close() // once the replies are out
	}
}
