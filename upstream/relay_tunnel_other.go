//go:build !linux

package upstream

import "net"

// readyReader is Linux-only (relay_tunnel_linux.go); elsewhere the
// server→client direction of a tunnel keeps its copier.
func readyReader(net.Conn) (func(p []byte) (int, error), bool) { return nil, false }
