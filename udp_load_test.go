package poller

import (
	"encoding/binary"
	"errors"
	"hash/crc32"
	"net/netip"
	"runtime"
	"syscall"
	"testing"
	"time"
)

// TestUDPLoad: 1,000 UDP peers (100 under Windows, whose Winsock calls
// under Wine are 10-100 times slower) each send 100 datagrams to one
// server socket and get each back, all on one Poll driven by one loop,
// in the spirit of wepoll's UDP pinger test. Every datagram carries the
// peer's number, its sequence number and a CRC-32 of its payload, checked
// at both ends; none may be lost, reordered or corrupted, and the totals
// must be exact. Sending is paced: each peer has at most 2 datagrams in
// flight, and all peers together no more than the server's receive buffer
// holds (SO_RCVBUF raised and read back), so that loopback drops nothing.
func TestUDPLoad(t *testing.T) {
	peers, rounds, window := 1000, 100, 2
	if runtime.GOOS == "windows" {
		peers = 100
	}
	if testing.Short() {
		peers = 50
	}
	r := newUDPRig(t)
	srv := r.listen("udp4", "127.0.0.1:0")
	srvAP := addrPortOfSocket(t, srv)
	if err := srv.SetReadBuffer(4 << 20); err != nil { // capped by the system
		t.Fatal(err)
	}
	rcvbuf, err := srv.getOpt(syscall.SOL_SOCKET, syscall.SO_RCVBUF)
	if err != nil {
		t.Fatal(err)
	}
	// A small datagram takes up to ~2 KiB of a Linux receive buffer
	// (skb overhead); Wine's sockets are Linux sockets.
	budget := min(max(rcvbuf/2048, 16), peers*window)

	type peer struct {
		u                     *UDPSocket
		sent, acked, inflight int
		ready                 bool // in the ready queue
	}
	ps := make([]*peer, peers)
	byAddr := make(map[netip.AddrPort]int, peers)
	for i := range ps {
		u, err := ListenUDP("udp4", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("peer %d: %v", i, err)
		}
		t.Cleanup(func() { u.Close() })
		if err := r.p.Registry().Register(u, Token(i+1), Readable|Writable); err != nil {
			t.Fatal(err)
		}
		ps[i] = &peer{u: u}
		byAddr[addrPortOfSocket(t, u)] = i
	}
	if err := r.p.Registry().Reregister(srv, 0, Readable|Writable); err != nil {
		t.Fatal(err)
	}

	// datagram lays out datagram seq of peer id: id, seq, CRC-32 of the
	// payload, then 16 to 195 bytes of payload.
	datagram := func(b []byte, id, seq int) []byte {
		n := 12 + 16 + (id*7+seq*13)%180
		b = b[:n]
		binary.BigEndian.PutUint32(b[0:], uint32(id))
		binary.BigEndian.PutUint32(b[4:], uint32(seq))
		for k := 12; k < n; k++ {
			b[k] = byte(id*31 + seq*17 + k)
		}
		binary.BigEndian.PutUint32(b[8:], crc32.ChecksumIEEE(b[12:n]))
		return b
	}
	// check verifies a datagram's checksum and returns its id and seq.
	check := func(b []byte) (int, int) {
		if len(b) < 12 || binary.BigEndian.Uint32(b[8:]) != crc32.ChecksumIEEE(b[12:]) {
			t.Fatalf("a datagram of %d bytes with a bad checksum", len(b))
		}
		return int(binary.BigEndian.Uint32(b[0:])), int(binary.BigEndian.Uint32(b[4:]))
	}

	var (
		ready           []int // peers that may send
		inflight        int
		srvGot, peerGot int
		echoes          [][]byte // the server's echoes waiting for room
		echoTo          []netip.AddrPort
		buf             = make([]byte, 2048)
		out             = make([]byte, 2048)
	)
	for i := range ps {
		ps[i].ready = true
		ready = append(ready, i)
	}
	total := peers * rounds
	deadline := time.Now().Add(5 * time.Minute)
	for peerGot < total {
		// The server's echoes that did not go out yet.
		for len(echoes) > 0 {
			_, err := srv.WriteToAddrPort(echoes[0], echoTo[0])
			if errors.Is(err, ErrWouldBlock) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			echoes, echoTo = echoes[1:], echoTo[1:]
		}
		// Peers send while the budget allows.
		for len(ready) > 0 && inflight < budget {
			p := ps[ready[0]]
			_, err := p.u.WriteToAddrPort(datagram(out, ready[0], p.sent), srvAP)
			if errors.Is(err, ErrWouldBlock) {
				ready = append(ready[1:], ready[0]) // try another; this one's event comes
				if len(ready) == 1 {
					break
				}
				continue
			}
			if err != nil {
				t.Fatal(err)
			}
			p.sent++
			p.inflight++
			inflight++
			if p.sent == rounds || p.inflight == window {
				p.ready = false
				ready = ready[1:]
			}
		}
		if err := r.p.Wait(r.events, 10*time.Second); err != nil {
			t.Fatal(err)
		}
		if r.events.Len() == 0 || time.Now().After(deadline) {
			t.Fatalf("stuck: server got %d, peers got %d of %d; %d in flight: datagrams lost", srvGot, peerGot, total, inflight)
		}
		for ev := range r.events.All() {
			if ev.Token() == 0 {
				for {
					n, from, err := srv.ReadFromAddrPort(buf)
					if errors.Is(err, ErrWouldBlock) {
						break
					}
					if err != nil {
						t.Fatal(err)
					}
					id, _ := check(buf[:n])
					if i, ok := byAddr[from]; !ok || i != id {
						t.Fatalf("datagram of peer %d from %v (peer %d, %v)", id, from, i, ok)
					}
					srvGot++
					if _, err := srv.WriteToAddrPort(buf[:n], from); errors.Is(err, ErrWouldBlock) {
						echoes = append(echoes, append([]byte(nil), buf[:n]...))
						echoTo = append(echoTo, from)
					} else if err != nil {
						t.Fatal(err)
					}
				}
				continue
			}
			id := int(ev.Token()) - 1
			p := ps[id]
			for {
				n, from, err := p.u.ReadFromAddrPort(buf)
				if errors.Is(err, ErrWouldBlock) {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				gotID, seq := check(buf[:n])
				if from != srvAP || gotID != id || seq != p.acked {
					t.Fatalf("peer %d got datagram %d of peer %d from %v, want %d from %v", id, seq, gotID, from, p.acked, srvAP)
				}
				if want := datagram(out, id, seq); string(want) != string(buf[:n]) {
					t.Fatalf("peer %d: datagram %d changed on the way", id, seq)
				}
				p.acked++
				p.inflight--
				inflight--
				peerGot++
				if !p.ready && p.sent < rounds {
					p.ready = true
					ready = append(ready, id)
				}
			}
		}
	}
	if srvGot != total || peerGot != total || inflight != 0 {
		t.Fatalf("server got %d, peers got %d, %d in flight; want %d, %d, 0", srvGot, peerGot, inflight, total, total)
	}
	for i, p := range ps {
		if p.sent != rounds || p.acked != rounds {
			t.Fatalf("peer %d sent %d, got back %d; want %d each", i, p.sent, p.acked, rounds)
		}
	}
	t.Logf("%d peers x %d datagrams each way, none lost; at most %d in flight (server SO_RCVBUF %d)", peers, rounds, budget, rcvbuf)
}
