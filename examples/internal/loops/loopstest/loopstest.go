// Package loopstest runs a loops.Server for the examples' tests. It is a
// package of its own so that the examples' commands do not link package
// testing.
package loopstest

import (
	"testing"
	"time"

	"github.com/evpoll/poller/examples/internal/loops"
)

// Start calls listen (an example's Listen) on a free loopback port with n
// loops, failing t if that fails, and serves the server until t's cleanup,
// which closes it and checks that Serve returns, without error, within 10
// seconds.
func Start[S any](t testing.TB, listen func(addr string, n int) (*loops.Server[S], error), n int) *loops.Server[S] {
	t.Helper()
	srv, err := listen("127.0.0.1:0", n)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve() }()
	t.Cleanup(func() {
		srv.Close()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Serve: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("Serve did not return after Close")
		}
	})
	return srv
}
