//go:build linux

package netns

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"syscall"
	"time"

	"github.com/pires/go-proxyproto"
	"golang.org/x/sys/unix"
)

// dialTimeout bounds every dial the lab's helpers make.
const dialTimeout = 5 * time.Second

// TransparentDialer dials from the foreign address from with a kernel-chosen
// port, the way `source: clientip` (HAProxy's `usesrc clientip`) does:
// IP_TRANSPARENT lets it bind an address the host does not own, and
// IP_BIND_ADDRESS_NO_PORT defers the port choice to connect().
func TransparentDialer(from netip.Addr) *net.Dialer {
	return &net.Dialer{
		Timeout:   dialTimeout,
		LocalAddr: net.TCPAddrFromAddrPort(netip.AddrPortFrom(from, 0)),
		Control: func(_, _ string, rc syscall.RawConn) error {
			var sockErr error
			if err := rc.Control(func(fd uintptr) {
				if err := unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_TRANSPARENT, 1); err != nil {
					sockErr = fmt.Errorf("setsockopt(IPPROTO_IP, IP_TRANSPARENT, 1): %w", err)
					return
				}
				if err := unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_BIND_ADDRESS_NO_PORT, 1); err != nil {
					sockErr = fmt.Errorf("setsockopt(IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, 1): %w", err)
				}
			}); err != nil {
				return fmt.Errorf("raw conn control: %w", err)
			}
			return sockErr
		},
	}
}

// DialIn dials addr over TCP from inside ns with d (nil: a plain dialer).
func DialIn(ctx context.Context, ns NS, d *net.Dialer, addr string) (net.Conn, error) {
	if d == nil {
		d = &net.Dialer{Timeout: dialTimeout}
	}
	var conn net.Conn
	err := ns.Do(func() error {
		var err error
		conn, err = d.DialContext(ctx, "tcp", addr)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("dial %s in %s: %w", addr, ns.Name, err)
	}
	return conn, nil
}

// ListenIn listens on addr over TCP inside ns.
func ListenIn(ns NS, addr string) (net.Listener, error) {
	var ln net.Listener
	err := ns.Do(func() error {
		var err error
		ln, err = net.Listen("tcp", addr)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("listen %s in %s: %w", addr, ns.Name, err)
	}
	return ln, nil
}

// TransparentFromClient dials to from inside ns, transparently from the
// accepted connection's own address: a minimal `source: clientip` proxy.
func TransparentFromClient(ns NS, to string) DialFunc {
	return func(ctx context.Context, accepted net.Conn) (net.Conn, error) {
		return DialIn(ctx, ns, TransparentDialer(peerIP(accepted)), to)
	}
}

// peerIP is the IP a connection came from (invalid if it is not TCP).
func peerIP(c net.Conn) netip.Addr {
	if a, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		return a.AddrPort().Addr().Unmap()
	}
	return netip.Addr{}
}

// ProxyTo dials to from inside ns (nil: the current namespace) and writes a
// PROXY header of the given version (1 or 2) first, naming claimed as the
// client, with the accepted connection's source port, as an L4 balancer would.
func ProxyTo(ns *NS, to string, version byte, claimed netip.Addr) DialFunc {
	return func(ctx context.Context, accepted net.Conn) (net.Conn, error) {
		var conn net.Conn
		var err error
		if ns == nil {
			d := net.Dialer{Timeout: dialTimeout}
			conn, err = d.DialContext(ctx, "tcp", to)
		} else {
			conn, err = DialIn(ctx, *ns, nil, to)
		}
		if err != nil {
			return nil, err
		}
		srcPort := 0
		if a, ok := accepted.RemoteAddr().(*net.TCPAddr); ok {
			srcPort = a.Port
		}
		src := net.TCPAddrFromAddrPort(netip.AddrPortFrom(claimed, uint16(srcPort)))
		hdr := proxyproto.HeaderProxyFromAddrs(version, src, conn.RemoteAddr())
		_ = conn.SetWriteDeadline(time.Now().Add(dialTimeout))
		if _, err := hdr.WriteTo(conn); err != nil {
			_ = conn.Close()
			return nil, fmt.Errorf("write PROXY v%d header to %s: %w", version, to, err)
		}
		_ = conn.SetWriteDeadline(time.Time{})
		return conn, nil
	}
}
