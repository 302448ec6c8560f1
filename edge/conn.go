package edge

import (
	"bufio"
	"net"
	"net/netip"
)

// sniffedConn is a client connection whose first bytes the edge already read
// into r (sniffing, a PROXY header): Read drains r first, so whoever takes the
// conn over (the RTMPT HTTP server) sees the stream from its start. remote
// overrides the peer address when a PROXY header named the real client.
type sniffedConn struct {
	net.Conn
	r      *bufio.Reader
	remote net.Addr
}

// Read drains what sniffing buffered, then reads the conn itself: the 4 KiB
// reader is dropped, so a long-lived connection (an RTMPT client's keep-alive
// between polls, a TLS session) does not hold it while it waits.
func (c *sniffedConn) Read(p []byte) (int, error) {
	if c.r != nil {
		if c.r.Buffered() > 0 {
			return c.r.Read(p)
		}
		c.r = nil
	}
	return c.Conn.Read(p)
}

func (c *sniffedConn) RemoteAddr() net.Addr {
	if c.remote != nil {
		return c.remote
	}
	return c.Conn.RemoteAddr()
}

// addrPort converts a net.Addr of a TCP peer to netip form, IPv4 unmapped.
func addrPort(a net.Addr) netip.AddrPort {
	switch v := a.(type) {
	case *net.TCPAddr:
		ap := v.AddrPort()
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	case nil:
		return netip.AddrPort{}
	default:
		ap, err := netip.ParseAddrPort(a.String())
		if err != nil {
			return netip.AddrPort{}
		}
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	}
}
