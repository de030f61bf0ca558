// Package serve is the main of the examples' servers: listen, print the
// line bench/ waits for ("listening on ADDR with N loops"), and serve until
// an interrupt.
package serve

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"os/signal"

	"github.com/evpoll/poller/evloop"
)

// Run listens on srv's addresses, prints where, starts each of also on a
// goroutine of its own (stop ends the server), and serves until an
// interrupt or stop. It exits the program through log.Fatal on failure;
// name prefixes the log lines.
func Run(name string, srv *evloop.Server, also ...func(srv *evloop.Server, stop func())) {
	log.SetPrefix(name + ": ")
	log.SetFlags(0)
	if err := srv.Listen(); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("listening on %s with %d loops\n", srv.ListenerAddrs()[0], srv.NumLoops())
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	for _, f := range also {
		go f(srv, stop)
	}
	if err := srv.Serve(ctx); !errors.Is(err, evloop.ErrServerClosed) {
		log.Fatal(err)
	}
}
