// Command delay is the IOCP chapter's delay-server demo on poller: five
// requests whose answers are delayed 500, 400, 300, 200 and 100 ms are sent
// in that order over five non-blocking streams registered with tokens 0-4;
// one event loop collects the responses, which must arrive in reverse order.
// It exits non-zero if they do not.
package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/evpoll/poller"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "delay:", err)
		os.Exit(1)
	}
}

// delayServer answers GET /{delay_ms}/{msg} with msg after the delay.
func delayServer() (addr string, stop func(), err error) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{delay}/{msg}", func(w http.ResponseWriter, r *http.Request) {
		ms, err := strconv.Atoi(r.PathValue("delay"))
		if err != nil || ms < 0 {
			http.Error(w, "bad delay", http.StatusBadRequest)
			return
		}
		time.Sleep(time.Duration(ms) * time.Millisecond)
		io.WriteString(w, r.PathValue("msg"))
	})
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{Handler: mux}
	go srv.Serve(ln)
	return ln.Addr().String(), func() { srv.Close() }, nil
}

type request struct {
	stream *poller.TCPStream
	delay  int
	sent   bool
	resp   bytes.Buffer
	done   bool
}

func run() error {
	addr, stop, err := delayServer()
	if err != nil {
		return err
	}
	defer stop()
	p, err := poller.New()
	if err != nil {
		return err
	}
	defer p.Close()

	delays := []int{500, 400, 300, 200, 100}
	reqs := make([]*request, len(delays))
	for i, d := range delays {
		s, err := poller.DialTCP("tcp4", addr)
		if err != nil {
			return err
		}
		defer s.Close()
		reqs[i] = &request{stream: s, delay: d}
		if err := p.Registry().Register(s, poller.Token(i), poller.Readable|poller.Writable); err != nil {
			return err
		}
	}

	start := time.Now()
	var order []int
	events := poller.NewEvents(16)
	buf := make([]byte, 4096)
	for len(order) < len(reqs) {
		if err := p.Wait(events, 30*time.Second); err != nil {
			return err
		}
		if events.Len() == 0 {
			return errors.New("no event for 30 s")
		}
		for ev := range events.All() {
			i := int(ev.Token())
			r := reqs[i]
			fmt.Printf("event  token=%d readable=%v writable=%v read_closed=%v at %4d ms\n",
				i, ev.IsReadable(), ev.IsWritable(), ev.IsReadClosed(), time.Since(start).Milliseconds())
			if ev.IsWritable() && !r.sent {
				if err := send(r, i); err != nil {
					return err
				}
			}
			if ev.IsReadable() && !r.done {
				if err := receive(r, buf); err != nil {
					return err
				}
				if r.done {
					order = append(order, i)
					fmt.Printf("body   token=%d %q at %d ms\n", i, body(r.resp.Bytes()), time.Since(start).Milliseconds())
				}
			}
		}
	}
	for k, i := range order {
		if i != len(reqs)-1-k {
			return fmt.Errorf("responses arrived in order %v, want reverse order of sending", order)
		}
	}
	fmt.Printf("all %d responses arrived in reverse order: %v\n", len(order), order)
	return nil
}

func send(r *request, i int) error {
	if err := r.stream.TakeError(); err != nil {
		return err
	}
	req := fmt.Sprintf("GET /%d/request-%d HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n", r.delay, i)
	if _, err := r.stream.Write([]byte(req)); err != nil {
		return err // a small request fits the empty send buffer at once
	}
	r.sent = true
	return nil
}

// receive reads until ErrWouldBlock or EOF; EOF marks the response done.
func receive(r *request, buf []byte) error {
	for {
		n, err := r.stream.Read(buf)
		r.resp.Write(buf[:n])
		switch {
		case errors.Is(err, poller.ErrWouldBlock):
			return nil
		case err == io.EOF:
			r.done = true
			return nil
		case err != nil:
			return err
		}
	}
}

func body(resp []byte) string {
	if i := bytes.Index(resp, []byte("\r\n\r\n")); i >= 0 {
		return string(resp[i+4:])
	}
	return string(resp)
}
