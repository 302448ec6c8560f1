package upstream

import (
	"fmt"
	"net"
	"net/netip"

	proxyproto "github.com/pires/go-proxyproto"
)

// proxyHeader builds the PROXY protocol header announcing client → local (the edge address the
// client reached). version is "v1" or "v2". An unknown client address gives the protocol's
// "no address" form (v1 "PROXY UNKNOWN", v2 LOCAL), so the server falls back to the
// connection's own addresses instead of receiving a made-up one.
func proxyHeader(version string, client, local netip.AddrPort) ([]byte, error) {
	var v byte
	switch version {
	case ProxyProtocolV1:
		v = 1
	case ProxyProtocolV2:
		v = 2
	default:
		return nil, fmt.Errorf("proxy protocol version %q: must be v1 or v2", version)
	}
	var src, dst net.Addr
	if client.Addr().IsValid() && local.Addr().IsValid() {
		src = net.TCPAddrFromAddrPort(netip.AddrPortFrom(client.Addr().Unmap(), client.Port()))
		dst = net.TCPAddrFromAddrPort(netip.AddrPortFrom(local.Addr().Unmap(), local.Port()))
	}
	h := proxyproto.HeaderProxyFromAddrs(v, src, dst)
	b, err := h.Format()
	if err != nil {
		return nil, fmt.Errorf("format proxy %s header: %w", version, err)
	}
	return b, nil
}
