//go:build linux

package upstream

import (
	"fmt"
	"syscall"

	"golang.org/x/sys/unix"
)

// transparentSupported: Linux has IP_TRANSPARENT / IPV6_TRANSPARENT.
const transparentSupported = true

// transparentControl returns the net.Dialer.Control hook for a transparent dial in mode
// ("clientip" or "client"). It runs after socket() and before Go's bind() to the client
// address, in HAProxy's order (its proto_tcp.c): IP_TRANSPARENT (or
// IPV6_TRANSPARENT) so the non-local client address can be bound, SO_REUSEADDR, and for
// clientip IP_BIND_ADDRESS_NO_PORT so the port is chosen at connect() time from the full
// 4-tuple instead of reserving one per client IP at bind() time.
func transparentControl(mode string) func(network, address string, c syscall.RawConn) error {
	noPort := mode == SourceClientIP
	return func(network, _ string, c syscall.RawConn) error {
		ipv6 := network == "tcp6"
		var optErr error // the error from inside Control, returned after Control's own
		if err := c.Control(func(fd uintptr) { optErr = setTransparentOptions(int(fd), ipv6, noPort) }); err != nil {
			return fmt.Errorf("transparent socket options: %w", err)
		}
		return optErr
	}
}

// setTransparentOptions applies the option sequence to fd; each error names its option.
func setTransparentOptions(fd int, ipv6, noPort bool) error {
	if ipv6 {
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_TRANSPARENT, 1); err != nil {
			return fmt.Errorf("setsockopt(IPPROTO_IPV6, IPV6_TRANSPARENT, 1): %w", err)
		}
	} else {
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_TRANSPARENT, 1); err != nil {
			return fmt.Errorf("setsockopt(IPPROTO_IP, IP_TRANSPARENT, 1): %w", err)
		}
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); err != nil {
		return fmt.Errorf("setsockopt(SOL_SOCKET, SO_REUSEADDR, 1): %w", err)
	}
	if noPort {
		// IPPROTO_IP level also applies to IPv6 TCP sockets (the kernel passes SOL_IP on).
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_BIND_ADDRESS_NO_PORT, 1); err != nil {
			return fmt.Errorf("setsockopt(IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, 1): %w", err)
		}
	}
	return nil
}
