package edge

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"

	"github.com/pires/go-proxyproto"
)

// ErrProxyHeader: a listener with accept_proxy got no valid PROXY header.
var ErrProxyHeader = errors.New("bad PROXY protocol header")

// maxProxyV2Len bounds the v2 payload (addresses plus TLVs) the edge accepts;
// the protocol allows 64 KiB but real senders use well under 256 bytes.
const maxProxyV2Len = 1024

var proxyV2Sig = []byte("\r\n\r\n\x00\r\nQUIT\n")

// readProxyHeader reads a PROXY v1 or v2 header from r and returns the client
// and destination addresses it names. A LOCAL command (health checks of the
// sender) keeps the connection's own addresses: ok is false then.
func readProxyHeader(r *bufio.Reader) (src, dst netip.AddrPort, ok bool, err error) {
	first, err := r.Peek(1)
	if err != nil {
		return src, dst, false, fmt.Errorf("%w: %w", ErrProxyHeader, err)
	}
	if first[0] == proxyV2Sig[0] {
		// Check the size before the library reads (and allocates) it.
		head, err := r.Peek(16)
		if err != nil {
			return src, dst, false, fmt.Errorf("%w: truncated v2 header: %w", ErrProxyHeader, err)
		}
		if !bytes.Equal(head[:12], proxyV2Sig) {
			return src, dst, false, fmt.Errorf("%w: wrong v2 signature", ErrProxyHeader)
		}
		if n := binary.BigEndian.Uint16(head[14:16]); n > maxProxyV2Len {
			return src, dst, false, fmt.Errorf("%w: v2 header of %d bytes is over the %d-byte limit", ErrProxyHeader, n, maxProxyV2Len)
		}
	}
	h, err := proxyproto.Read(r)
	if err != nil {
		return src, dst, false, fmt.Errorf("%w: %w", ErrProxyHeader, err)
	}
	if h.Command.IsLocal() {
		return src, dst, false, nil
	}
	s, d, tcp := h.TCPAddrs()
	if !tcp {
		return src, dst, false, fmt.Errorf("%w: not a TCP address family (%v)", ErrProxyHeader, h.TransportProtocol)
	}
	src = s.AddrPort()
	dst = d.AddrPort()
	return netip.AddrPortFrom(src.Addr().Unmap(), src.Port()), netip.AddrPortFrom(dst.Addr().Unmap(), dst.Port()), true, nil
}
