package poller

// Tests of issue 10's smaller holes (items 5 to 7) that hold on every OS:
// they run unchanged on Linux, the BSDs and Windows (under Wine: C core,
// pure-Go core and the overlapped engine).

import (
	"errors"
	"net"
	"sync"
	"testing"
)

// TestRegisterRaceTwoPolls registers one stream with two Polls from two
// goroutines at once, 1,000 times: exactly one Register wins each round, the
// loser gets ErrRegisteredElsewhere (or, where the overlapped engine binds
// the socket to the winner's port first, ErrBoundElsewhere), and the loser's
// registry is left without the stream.
func TestRegisterRaceTwoPolls(t *testing.T) {
	checkLeaks(t)
	polls := [2]*Poll{newPoll(t), newPoll(t)}
	ln := netListener(t)
	go func() { // keep the backlog empty; the accepted peers are not used
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	rounds := 1000
	if testing.Short() {
		rounds = 100
	}
	for round := 0; round < rounds; round++ {
		s, err := DialTCP("tcp4", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		var errs [2]error
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range polls {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				errs[i] = polls[i].Registry().Register(s, Token(i+1), Readable|Writable)
			}()
		}
		close(start)
		wg.Wait()
		won := -1
		for i, err := range errs {
			switch {
			case err == nil && won < 0:
				won = i
			case err == nil:
				t.Fatalf("round %d: both Registers succeeded", round)
			case !errors.Is(err, ErrRegisteredElsewhere) && !errors.Is(err, ErrBoundElsewhere):
				t.Fatalf("round %d: Register with poll %d: %v, want ErrRegisteredElsewhere", round, i, err)
			}
		}
		if won < 0 {
			t.Fatalf("round %d: no Register succeeded: %v, %v", round, errs[0], errs[1])
		}
		if n := registeredCount(polls[1-won]); n != 0 {
			t.Fatalf("round %d: the losing registry holds %d registrations", round, n)
		}
		if err := polls[1-won].Registry().Deregister(s); !errors.Is(err, ErrRegisteredElsewhere) {
			t.Fatalf("round %d: Deregister through the loser: %v, want ErrRegisteredElsewhere", round, err)
		}
		if err := polls[won].Registry().Deregister(s); err != nil {
			t.Fatalf("round %d: Deregister through the winner: %v", round, err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// registeredCount is the number of registrations p's registry holds.
func registeredCount(p *Poll) int {
	r := p.Registry()
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.byHandle)
}

var _ = net.ErrClosed
