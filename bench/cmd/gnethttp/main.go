// Command gnethttp is the gnet v2 peer of examples/http: gnet's own
// HTTP-server shape (OnTraffic: Next(-1), one reply per request head
// found, written at once) with multicore, as gnet's TechEmpower plaintext
// entry does. It reads request heads only (no bodies): enough for wrk's
// GET requests.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"log"
	"sync/atomic"
	"time"

	"github.com/panjf2000/gnet/v2"
)

type server struct {
	gnet.BuiltinEventEngine
	addr string
	date atomic.Pointer[[]byte]
}

// conn keeps the start of a request head not fully arrived.
type conn struct{ in []byte }

const dateFormat = "Mon, 02 Jan 2006 15:04:05 GMT"

func (s *server) OnBoot(gnet.Engine) gnet.Action {
	fmt.Printf("listening on %s\n", s.addr)
	return gnet.None
}

func (s *server) OnTick() (time.Duration, gnet.Action) {
	d := time.Now().UTC().AppendFormat(nil, dateFormat)
	s.date.Store(&d)
	return time.Second, gnet.None
}

func (s *server) OnOpen(c gnet.Conn) ([]byte, gnet.Action) {
	c.SetContext(&conn{})
	return nil, gnet.None
}

var headEnd = []byte("\r\n\r\n")

func (s *server) OnTraffic(c gnet.Conn) gnet.Action {
	st := c.Context().(*conn)
	buf, _ := c.Next(-1)
	data := buf
	if len(st.in) > 0 {
		st.in = append(st.in, buf...)
		data = st.in
	}
	var out []byte
	date := *s.date.Load()
	for {
		i := bytes.Index(data, headEnd)
		if i < 0 {
			break
		}
		data = data[i+4:]
		out = append(out, "HTTP/1.1 200 OK\r\nServer: gnet\r\nDate: "...)
		out = append(out, date...)
		out = append(out, "\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n\r\nHello, World!"...)
	}
	st.in = append(st.in[:0], data...)
	if len(out) > 0 {
		c.Write(out)
	}
	return gnet.None
}

func main() {
	addr := flag.String("addr", "127.0.0.1:8082", "address to listen on")
	flag.Parse()
	s := &server{addr: *addr}
	d := time.Now().UTC().AppendFormat(nil, dateFormat)
	s.date.Store(&d)
	log.Fatal(gnet.Run(s, "tcp://"+*addr, gnet.WithMulticore(true), gnet.WithTicker(true)))
}
