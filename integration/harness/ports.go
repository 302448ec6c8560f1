package harness

import (
	"fmt"
	"net"
	"testing"
)

// FreeAddr returns "127.0.0.1:port" with a port that was free a moment ago: it
// listens on port 0, notes the port and closes. Another process may take the port
// in between; the suite accepts that small race instead of fixed port plans.
func FreeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("find a free loopback port: %v", err)
	}
	defer l.Close()
	return l.Addr().String()
}

// ClientIP returns the loopback address 127.0.<block>.<n> used as a distinct client
// source address. Tests own disjoint blocks so parallel tests never share an IP
// (the edge's stick table keys on it).
func ClientIP(block, n int) string {
	if block < 0 || block > 255 || n < 1 || n > 254 {
		panic(fmt.Sprintf("ClientIP(%d, %d): out of range", block, n))
	}
	return fmt.Sprintf("127.0.%d.%d", block, n)
}
