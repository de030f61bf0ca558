package poller

import (
	"errors"
	"fmt"
	"net"
	"syscall"
)

// resolve resolves address for a tcp or udp network ("tcp", "tcp4", "tcp6",
// "udp", ...) and picks the address family: the IPv6 family only for
// "tcp6"/"udp6" or an IPv6 address; an empty host means 0.0.0.0 (or :: for
// the "6" networks).
func resolve(network, address string) (ip net.IP, port int, zone string, family int, err error) {
	switch network {
	case "tcp", "tcp4", "tcp6":
		a, e := net.ResolveTCPAddr(network, address)
		if e != nil {
			return nil, 0, "", 0, addrError(e)
		}
		ip, port, zone = a.IP, a.Port, a.Zone
	case "udp", "udp4", "udp6":
		a, e := net.ResolveUDPAddr(network, address)
		if e != nil {
			return nil, 0, "", 0, addrError(e)
		}
		ip, port, zone = a.IP, a.Port, a.Zone
	default:
		return nil, 0, "", 0, fmt.Errorf("%w: network %q", ErrInvalidAddress, network)
	}
	family = syscall.AF_INET
	if network[len(network)-1] == '6' || (ip != nil && ip.To4() == nil) {
		family = syscall.AF_INET6
	}
	return ip, port, zone, family, nil
}

// addrError makes a malformed address, or one of the wrong family for the
// network (net.AddrError), match ErrInvalidAddress too; a failed name lookup
// stays as it is.
func addrError(err error) error {
	var ae *net.AddrError
	if errors.As(err, &ae) {
		return fmt.Errorf("%w: %w", ErrInvalidAddress, err)
	}
	return err
}

// toSockaddr builds the OS address for ip:port in the given family. A port
// outside 0-65535 is ErrInvalidAddress on every OS (Windows would otherwise
// keep its low 16 bits).
func toSockaddr(family int, ip net.IP, port int, zone string) (syscall.Sockaddr, error) {
	if port < 0 || port > 0xFFFF {
		return nil, fmt.Errorf("%w: port %d out of range", ErrInvalidAddress, port)
	}
	if family == syscall.AF_INET {
		sa := &syscall.SockaddrInet4{Port: port}
		if ip != nil {
			ip4 := ip.To4()
			if ip4 == nil {
				return nil, fmt.Errorf("%w: %v is not IPv4", ErrInvalidAddress, ip)
			}
			copy(sa.Addr[:], ip4)
		}
		return sa, nil
	}
	sa := &syscall.SockaddrInet6{Port: port, ZoneId: zoneIndex(zone)}
	if ip != nil {
		copy(sa.Addr[:], ip.To16())
	}
	return sa, nil
}

func zoneIndex(zone string) uint32 {
	if zone == "" {
		return 0
	}
	if ifi, err := net.InterfaceByName(zone); err == nil {
		return uint32(ifi.Index)
	}
	return 0
}

// tcpAddr and udpAddr convert an OS address; nil for unknown families.
func tcpAddr(sa syscall.Sockaddr) net.Addr {
	ip, port, ok := sockaddrIP(sa)
	if !ok {
		return nil
	}
	return &net.TCPAddr{IP: ip, Port: port}
}

func udpAddr(sa syscall.Sockaddr) *net.UDPAddr {
	ip, port, ok := sockaddrIP(sa)
	if !ok {
		return nil
	}
	return &net.UDPAddr{IP: ip, Port: port}
}

func sockaddrIP(sa syscall.Sockaddr) (net.IP, int, bool) {
	switch sa := sa.(type) {
	case *syscall.SockaddrInet4:
		return net.IP(append([]byte(nil), sa.Addr[:]...)), sa.Port, true
	case *syscall.SockaddrInet6:
		return net.IP(append([]byte(nil), sa.Addr[:]...)), sa.Port, true
	}
	return nil, 0, false
}
