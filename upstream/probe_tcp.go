package upstream

import (
	"context"
	"fmt"
	"net"
)

// probeTCP succeeds when a TCP connection to addr can be established before ctx ends.
func probeTCP(ctx context.Context, addr string) error {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("tcp check: %w", err)
	}
	return conn.Close()
}
