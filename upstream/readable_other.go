//go:build !linux

package upstream

import "net"

// waitReadable is a Linux optimisation (see readable_linux.go); elsewhere the
// copy simply reads.
func waitReadable(net.Conn) (int64, bool, error) { return 0, false, nil }
