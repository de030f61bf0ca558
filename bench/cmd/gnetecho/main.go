// Command gnetecho is the gnet v2 peer of examples/echo: gnet's own echo
// server shape (OnTraffic: Next(-1), Write) with its default options plus
// multicore, so it runs one event loop per CPU as examples/echo does.
package main

import (
	"flag"
	"fmt"
	"log"
	"sync"
	"sync/atomic"

	"github.com/panjf2000/gnet/v2"

	"github.com/evpoll/poller/bench/internal/stats"
)

type server struct {
	gnet.BuiltinEventEngine
	addr      string
	withStats bool

	mu     sync.Mutex
	live   map[*conn]struct{}
	closed int64
}

type conn struct{ echoed atomic.Int64 }

func (s *server) OnBoot(gnet.Engine) gnet.Action {
	fmt.Printf("listening on %s\n", s.addr)
	if s.withStats {
		go stats.Serve(s.counters)
	}
	return gnet.None
}

func (s *server) OnOpen(c gnet.Conn) ([]byte, gnet.Action) {
	st := &conn{}
	c.SetContext(st)
	s.mu.Lock()
	s.live[st] = struct{}{}
	s.mu.Unlock()
	return nil, gnet.None
}

func (s *server) OnClose(c gnet.Conn, _ error) gnet.Action {
	if st, ok := c.Context().(*conn); ok {
		s.mu.Lock()
		delete(s.live, st)
		s.closed += st.echoed.Load()
		s.mu.Unlock()
	}
	return gnet.None
}

func (s *server) OnTraffic(c gnet.Conn) gnet.Action {
	buf, _ := c.Next(-1)
	c.Context().(*conn).echoed.Add(int64(len(buf)))
	c.Write(buf)
	return gnet.None
}

func (s *server) counters() (echoed, n int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	echoed = s.closed
	for c := range s.live {
		echoed += c.echoed.Load()
	}
	return echoed, int64(len(s.live))
}

func main() {
	addr := flag.String("addr", "127.0.0.1:7009", "address to listen on")
	withStats := flag.Bool("stats", false, "answer each line on stdin with counters")
	flag.Parse()
	s := &server{addr: *addr, withStats: *withStats, live: map[*conn]struct{}{}}
	log.Fatal(gnet.Run(s, "tcp://"+*addr, gnet.WithMulticore(true)))
}
