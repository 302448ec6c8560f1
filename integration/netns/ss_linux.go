//go:build linux

package netns

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
)

// maxSSLines caps how many sockets are read from one `ss` listing.
const maxSSLines = 10000

// TCPConn is one established TCP connection as `ss` reports it.
type TCPConn struct {
	Local, Peer netip.AddrPort
}

// EstablishedTCP lists the established TCP connections of ns (`ss -Htn`).
func EstablishedTCP(ns NS) ([]TCPConn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	out, err := ns.Command(ctx, "ss", "-Htn", "state", "established").Output()
	if err != nil {
		return nil, fmt.Errorf("ss in %s: %w", ns.Name, err)
	}
	return parseSS(string(out))
}

// parseSS reads `ss -Htn state established` lines: Recv-Q Send-Q Local Peer [Process].
func parseSS(out string) ([]TCPConn, error) {
	var conns []TCPConn
	for i, line := range strings.Split(out, "\n") {
		if i >= maxSSLines {
			return nil, fmt.Errorf("ss: more than %d sockets", maxSSLines)
		}
		f := strings.Fields(line)
		if len(f) < 4 {
			continue
		}
		local, lerr := netip.ParseAddrPort(f[2])
		peer, perr := netip.ParseAddrPort(f[3])
		if lerr != nil || perr != nil {
			continue // a zoned address ("127.0.0.53%lo:53"): not one of the lab's
		}
		conns = append(conns, TCPConn{Local: local, Peer: peer})
	}
	return conns, nil
}
