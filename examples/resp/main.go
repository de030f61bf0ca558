// Command resp is a small Redis-protocol (RESP2) server on poller: PING,
// ECHO, SET, GET, DEL and pipelining, plus the few commands clients send on
// connecting (CONFIG GET, COMMAND, SELECT 0, QUIT). It is enough for
// redis-benchmark -t ping,set,get and redis-cli:
//
//	go run ./examples/resp -addr 127.0.0.1:6380
//	redis-benchmark -p 6380 -t ping,set,get -P 16
//
// The loops are examples/internal/loops, shared with examples/echo: one Poll
// per loop goroutine, as many loops as GOMAXPROCS (or -loops), connections
// dealt out by loop 0. This file and proto.go are the protocol: each read is
// parsed in place; the replies to every command it completes go out in one
// write. Keys live in a store shared by the loops, in shards with a lock
// each.
package main

import (
	"flag"
	"log"

	"github.com/evpoll/poller/examples/internal/loops"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:6380", "address to listen on")
	nloops := flag.Int("loops", 0, "event loops (0: GOMAXPROCS)")
	flag.Parse()
	log.SetPrefix("resp: ")
	log.SetFlags(0)

	srv, err := Listen(*addr, *nloops)
	if err != nil {
		log.Fatal(err)
	}
	if err := srv.Run(); err != nil {
		log.Fatal(err)
	}
}

// Server is the RESP server.
type Server = loops.Server[session]

// Listen binds addr and prepares n loops (n < 1: GOMAXPROCS) around one
// key store.
func Listen(addr string, n int) (*Server, error) {
	st := new(store)
	st.init()
	return loops.Listen(addr, n, func() loops.Handler[session] {
		return &handler{store: st, out: make([]byte, 0, loops.ReadBufSize)}
	})
}

// session is the state of one connection. in keeps the start of a command
// that has not fully arrived.
type session struct {
	in   []byte
	quit bool // QUIT seen: close once the replies are out
}

// handler is one loop's: its scratch buffers serve one read at a time.
type handler struct {
	store *store
	out   []byte   // replies to the commands of one read
	args  [][]byte // arguments of the command being run, into data or session.in
}

// OnData runs the commands completed by data and writes their replies.
func (h *handler) OnData(c *loops.Conn[session], data []byte) {
	sess := &c.State
	if len(sess.in) > 0 {
		sess.in = append(sess.in, data...)
		data = sess.in
	}
	out := h.out[:0]
	pos := 0
	var perr error
	for pos < len(data) && !sess.quit {
		args, n, err := parseCommand(data[pos:], h.args[:0])
		if err != nil {
			perr = err
			break
		}
		if n == 0 {
			break // incomplete: wait for more
		}
		h.args = args[:0]
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
	if rest == 0 && cap(sess.in) > loops.ReadBufSize {
		sess.in = nil
	}
	h.out = out[:0]
	c.Write(out)
	if sess.quit {
		c.Close() // once the replies are out
	}
}
