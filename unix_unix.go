//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package poller

import "syscall"

// unixSocket creates a non-blocking, close-on-exec Unix-domain socket of typ.
func unixSocket(typ int) (uintptr, error) { return sysSocket(syscall.AF_UNIX, typ) }
