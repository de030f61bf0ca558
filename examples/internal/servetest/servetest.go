// Package servetest runs an example's server for a test, as httptest does
// for net/http.
package servetest

import (
	"context"
	"errors"
	"testing"

	"github.com/evpoll/poller/evloop"
)

// Start listens with srv (whose address should be a free loopback port),
// serves until t's cleanup, and returns the address it listens on. The
// cleanup closes srv and fails t unless Serve then returned
// evloop.ErrServerClosed.
func Start(t testing.TB, srv *evloop.Server) string {
	t.Helper()
	if err := srv.Listen(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(context.Background()) }()
	t.Cleanup(func() {
		srv.Close()
		if err := <-done; !errors.Is(err, evloop.ErrServerClosed) {
			t.Errorf("Serve: %v", err)
		}
	})
	return srv.ListenerAddrs()[0].String()
}
