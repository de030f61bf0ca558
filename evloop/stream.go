package evloop

import (
	"net"
	"strings"

	"github.com/evpoll/poller"
)

// stream is a connection's socket: a *poller.TCPStream or a
// *poller.UnixStream.
type stream interface {
	poller.Source
	Read(p []byte) (int, error)
	Write(p []byte) (int, error)
	Writev(bufs [][]byte) (int64, error)
	CloseWrite() error
	Close() error
	LocalAddr() net.Addr
	RemoteAddr() net.Addr
	TakeError() error
}

// dialStream starts the connect of Loop.Dial: TCP, or a Unix-domain
// stream for "unix" (address is the path).
func dialStream(network, address string) (stream, error) {
	if network == "unix" {
		st, err := poller.DialUnix(network, address)
		if err != nil {
			return nil, err
		}
		return st, nil
	}
	st, err := poller.DialTCP(network, address)
	if err != nil {
		return nil, err
	}
	return st, nil
}

// sock returns c's socket. A TCP connection keeps its stream in Conn
// itself (an idle Conn stays 32 bytes); any other kind in its connExt.
func (c *Conn) sock() stream {
	if c.stream != nil {
		return c.stream
	}
	return c.ext.other
}

// read reads c's socket; the TCP case is called directly, as it is the
// common one.
func (c *Conn) read(b []byte) (int, error) {
	if st := c.stream; st != nil {
		return st.Read(b)
	}
	return c.ext.other.Read(b)
}

// writev writes bufs to c's socket, the TCP case directly.
func (c *Conn) writev(bufs [][]byte) (int64, error) {
	if st := c.stream; st != nil {
		return st.Writev(bufs)
	}
	return c.ext.other.Writev(bufs)
}

// listenAddr splits a Server.Addrs entry into its network and address:
// "host:port" and "tcp://host:port" (also tcp4://, tcp6://) are TCP,
// "unix://path" a Unix-domain stream socket ("unix://@name" an abstract
// name on Linux), as in gnet.
func listenAddr(addr string) (network, address string) {
	if n, a, ok := strings.Cut(addr, "://"); ok {
		return n, a
	}
	return "tcp", addr
}

// listen makes the listener of one Server.Addrs entry.
func (s *Server) listen(addr string) (*listener, error) {
	network, address := listenAddr(addr)
	switch network {
	case "unix":
		ln, err := poller.ListenUnix(network, address)
		if err != nil {
			return nil, err
		}
		return &listener{ln: ln, accept: func() (stream, error) {
			st, _, err := ln.Accept()
			if err != nil {
				return nil, err
			}
			return st, nil
		}}, nil
	case "tcp", "tcp4", "tcp6":
		ln, err := poller.ListenTCP(network, address)
		if err != nil {
			return nil, err
		}
		return &listener{ln: ln, accept: func() (stream, error) {
			st, err := s.acceptTCP(ln)
			if err != nil {
				return nil, err
			}
			st.SetNoDelay(true)
			return st, nil
		}}, nil
	}
	return nil, &net.OpError{Op: "listen", Net: network, Err: net.UnknownNetworkError(network)}
}

func (s *Server) acceptTCP(ln *poller.TCPListener) (*poller.TCPStream, error) {
	if s.acceptFn != nil {
		return s.acceptFn(ln)
	}
	st, _, err := ln.Accept()
	return st, err
}
