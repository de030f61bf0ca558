package poller_test

import (
	"errors"
	"fmt"
	"log"
	"net"
	"net/netip"
	"time"

	"github.com/evpoll/poller"
)

// A UDP echo server on one Poll: ReadFromAddrPort until ErrWouldBlock,
// WriteToAddrPort each datagram back to its sender, with no allocation per
// datagram. The client is a connected socket (DialUDP) on the same Poll.
func ExampleUDPSocket_ReadFromAddrPort() {
	p, err := poller.New()
	if err != nil {
		log.Fatal(err)
	}
	defer p.Close()
	srv, err := poller.ListenUDP("udp4", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	client, err := poller.DialUDP("udp4", srv.LocalAddr().String())
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()
	const srvTok, clientTok = 1, 2
	if err := p.Registry().Register(srv, srvTok, poller.Readable); err != nil {
		log.Fatal(err)
	}
	if err := p.Registry().Register(client, clientTok, poller.Readable|poller.Writable); err != nil {
		log.Fatal(err)
	}

	events := poller.NewEvents(16)
	buf := make([]byte, 1500)
	sent, got := false, ""
	for got == "" {
		if !sent {
			// Writable comes first; on Windows' overlapped engine a
			// send in flight says ErrWouldBlock until it does.
			if _, err := client.Write([]byte("hello")); err == nil {
				sent = true
			} else if !errors.Is(err, poller.ErrWouldBlock) {
				log.Fatal(err)
			}
		}
		if err := p.Wait(events, 10*time.Second); err != nil {
			log.Fatal(err)
		}
		for ev := range events.All() {
			switch ev.Token() {
			case srvTok:
				for {
					n, from, err := srv.ReadFromAddrPort(buf)
					if errors.Is(err, poller.ErrWouldBlock) {
						break
					}
					if err != nil {
						log.Fatal(err)
					}
					srv.WriteToAddrPort(buf[:n], from) // echo
				}
			case clientTok:
				for {
					n, err := client.Read(buf)
					if errors.Is(err, poller.ErrWouldBlock) {
						break
					}
					if err != nil {
						log.Fatal(err)
					}
					got = string(buf[:n])
				}
			}
		}
	}
	fmt.Println("echoed:", got)
	fmt.Println("client's peer is the server:", client.RemoteAddr().String() == srv.LocalAddr().String())
	// Output:
	// echoed: hello
	// client's peer is the server: true
}

// WriteTo on a connected socket fails as in package net; Write on one
// that is not connected has no destination.
func ExampleDialUDP() {
	srv, err := poller.ListenUDP("udp4", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	c, err := poller.DialUDP("udp4", srv.LocalAddr().String())
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	_, err = c.WriteToAddrPort([]byte("x"), netip.MustParseAddrPort("127.0.0.1:9"))
	fmt.Println(errors.Is(err, net.ErrWriteToConnected))
	fmt.Println(srv.RemoteAddr() == nil)
	// Output:
	// true
	// true
}

// Joining a multicast group on an interface, with the options a sender
// sets: a TTL of 1 keeps datagrams on the local network, and loopback
// delivers them to this host's members too.
func ExampleUDPSocket_JoinGroup() {
	u, err := poller.ListenUDP("udp4", "0.0.0.0:5353")
	if err != nil {
		log.Fatal(err)
	}
	defer u.Close()
	ifi, err := net.InterfaceByName("eth0")
	if err != nil {
		log.Fatal(err)
	}
	group := netip.MustParseAddr("224.0.0.251")
	if err := u.JoinGroup(ifi, group); err != nil {
		log.Fatal(err)
	}
	defer u.LeaveGroup(ifi, group)
	u.SetMulticastTTL(1)
	u.SetMulticastLoopback(true)
	u.WriteToAddrPort([]byte("query"), netip.AddrPortFrom(group, 5353))
}
