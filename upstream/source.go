package upstream

import (
	"context"
	"fmt"
	"net"
	"net/netip"
)

// resolveServer turns "host:port" into one address. A literal IP is used as is; a name is
// looked up and an address of the same family as the client is preferred, because only that
// family can carry the client's address as the source.
func resolveServer(ctx context.Context, addr string, client netip.Addr) (netip.AddrPort, error) {
	host, portText, err := net.SplitHostPort(addr)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("server address %q: %w", addr, err)
	}
	port, err := net.DefaultResolver.LookupPort(ctx, "tcp", portText)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("server port %q: %w", portText, err)
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		return netip.AddrPortFrom(ip.Unmap(), uint16(port)), nil
	}
	ips, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("resolve %q: %w", host, err)
	}
	if len(ips) == 0 {
		return netip.AddrPort{}, fmt.Errorf("resolve %q: no addresses", host)
	}
	chosen := ips[0].Unmap()
	for _, ip := range ips {
		if ip.Unmap().Is4() == client.Unmap().Is4() {
			chosen = ip.Unmap()
			break
		}
	}
	return netip.AddrPortFrom(chosen, uint16(port)), nil
}

// transparentSource returns the local address a transparent dial binds: the client's IP,
// and its port only in "client" mode (port 0 lets the kernel pick one at connect time).
// ok is false when the client's address cannot be presented towards server: unknown
// client, or a different address family (an IPv6 client cannot be the source of an IPv4
// connection; HAProxy's usesrc has the same limit).
func transparentSource(mode string, client netip.AddrPort, server netip.Addr) (src *net.TCPAddr, ok bool) {
	ip := client.Addr().Unmap()
	if !ip.IsValid() || ip.IsUnspecified() || ip.Is4() != server.Unmap().Is4() {
		return nil, false
	}
	port := 0
	if mode == SourceClient {
		port = int(client.Port())
	}
	return &net.TCPAddr{IP: ip.AsSlice(), Port: port, Zone: ip.Zone()}, true
}

// networkFor is "tcp4" or "tcp6" so the socket family matches the bound source.
func networkFor(server netip.Addr) string {
	if server.Unmap().Is4() {
		return "tcp4"
	}
	return "tcp6"
}
