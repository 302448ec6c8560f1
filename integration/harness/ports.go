package harness

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// FreeAddr returns "127.0.0.1:port" with a port that was free a moment ago: it
// listens on the port, notes it and closes. The port is taken below the
// kernel's ephemeral range: every outgoing connection of every test (players,
// health checks, ffmpeg) takes its local port from that range, and one of them
// holding the port between FreeAddr and the server's bind made the server fail
// with "address already in use". Below the range only other FreeAddr ports
// compete, and those are never handed out twice by one test binary.
func FreeAddr(t testing.TB) string {
	t.Helper()
	lo, _ := ephemeralRange()
	for range 200 {
		// 1024 .. lo: unprivileged, outside the ephemeral range.
		port := 1024 + rand.IntN(lo-1024)
		if !claimPort(port) {
			continue
		}
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			continue
		}
		l.Close()
		return l.Addr().String()
	}
	// A crowded low range: fall back to the kernel's choice.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("find a free loopback port: %v", err)
	}
	defer l.Close()
	return l.Addr().String()
}

var (
	portsMu sync.Mutex
	ports   = map[int]bool{} // handed out by FreeAddr in this process
)

// claimPort reports whether port was not handed out before, and claims it.
func claimPort(port int) bool {
	portsMu.Lock()
	defer portsMu.Unlock()
	if ports[port] {
		return false
	}
	ports[port] = true
	return true
}

// ephemeralRange is the kernel's range of local ports for outgoing
// connections (Linux's default 32768..60999 when it cannot be read).
func ephemeralRange() (lo, hi int) {
	lo, hi = 32768, 60999
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return lo, hi
	}
	f := strings.Fields(string(b))
	if len(f) != 2 {
		return lo, hi
	}
	l, err1 := strconv.Atoi(f[0])
	h, err2 := strconv.Atoi(f[1])
	if err1 != nil || err2 != nil || l <= 2048 || h < l {
		return lo, hi
	}
	return l, h
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
