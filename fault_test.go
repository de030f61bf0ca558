package poller

// After a failed Accept, Read or ReadFrom (not would-block: EMFILE, ENOBUFS
// and the like) the source keeps reporting: the next connection, data or
// datagram brings an event. The failure is injected (injectFault).

import (
	"errors"
	"net"
	"syscall"
	"testing"
)

// injectFault makes the next Accept, Read or ReadFrom fail with the OS's
// ENOBUFS (WSAENOBUFS on Windows).
func injectFault(t *testing.T) {
	t.Helper()
	err := errNoBufs
	injectedFault.Store(&err)
	t.Cleanup(func() { injectedFault.Store(nil) })
}

func wantNoBufs(t *testing.T, op string, err error) {
	t.Helper()
	if !errors.Is(err, syscall.ENOBUFS) {
		t.Fatalf("%s with the injected fault = %v, want ENOBUFS", op, err)
	}
}

func TestAcceptKeepsReportingAfterFailure(t *testing.T) {
	p := newPoll(t)
	ln, err := ListenTCP("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if err := p.Registry().Register(ln, 1, Readable); err != nil {
		t.Fatal(err)
	}
	events := NewEvents(8)
	var clients []net.Conn
	defer func() {
		for _, c := range clients {
			c.Close()
		}
	}()
	dial := func() {
		c, err := net.Dial("tcp4", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		clients = append(clients, c)
	}
	dial()
	waitEvent(t, p, events, 1, readable)
	injectFault(t)
	_, _, err = ln.Accept()
	wantNoBufs(t, "Accept", err)
	dial()
	waitEvent(t, p, events, 1, readable)
	accepted := 0
	for {
		s, _, err := ln.Accept()
		if errors.Is(err, ErrWouldBlock) {
			break
		}
		if err != nil {
			t.Fatalf("Accept: %v", err)
		}
		s.Close()
		accepted++
	}
	if accepted == 0 {
		t.Fatal("the event after the failure brought no connection")
	}
}

func TestReadKeepsReportingAfterFailure(t *testing.T) {
	p := newPoll(t)
	s, peer := streamPair(t)
	if err := p.Registry().Register(s, 2, Readable); err != nil {
		t.Fatal(err)
	}
	awaitPeer(t, peer)
	events := NewEvents(8)
	peer.Write([]byte("one"))
	waitEvent(t, p, events, 2, readable)
	injectFault(t)
	_, err := s.Read(make([]byte, 16))
	wantNoBufs(t, "Read", err)
	peer.Write([]byte("two"))
	waitEvent(t, p, events, 2, readable)
	got := string(drain(t, s))
	for got != "onetwo" {
		if len(got) >= len("onetwo") {
			t.Fatalf("read %q, want %q", got, "onetwo")
		}
		waitEvent(t, p, events, 2, readable)
		got += string(drain(t, s))
	}
}

func TestReadFromKeepsReportingAfterFailure(t *testing.T) {
	p := newPoll(t)
	u := listenUDP(t)
	defer u.Close()
	sender := listenUDP(t)
	defer sender.Close()
	if err := p.Registry().Register(u, 3, Readable); err != nil {
		t.Fatal(err)
	}
	events := NewEvents(8)
	send := func(msg string) {
		if _, err := sender.WriteTo([]byte(msg), u.LocalAddr()); err != nil {
			t.Fatal(err)
		}
	}
	send("one")
	waitEvent(t, p, events, 3, readable)
	injectFault(t)
	_, _, err := u.ReadFrom(make([]byte, 16))
	wantNoBufs(t, "ReadFrom", err)
	send("two")
	waitEvent(t, p, events, 3, readable)
	buf := make([]byte, 16)
	var got []string
	for len(got) < 2 {
		n, _, err := u.ReadFrom(buf)
		if errors.Is(err, ErrWouldBlock) {
			waitEvent(t, p, events, 3, readable)
			continue
		}
		if err != nil {
			t.Fatalf("ReadFrom: %v", err)
		}
		got = append(got, string(buf[:n]))
	}
	if got[0] != "one" || got[1] != "two" {
		t.Fatalf("datagrams %q, want one, two", got)
	}
}
