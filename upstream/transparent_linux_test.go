//go:build linux

package upstream

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// requireTransparent skips loudly when the process cannot set IP_TRANSPARENT (not root and no
// CAP_NET_ADMIN/CAP_NET_RAW): the behaviour under test cannot exist there.
func requireTransparent(t *testing.T) {
	t.Helper()
	if err := probeTransparentSocket(); err != nil {
		t.Skipf("SKIPPED LOUDLY: IP_TRANSPARENT unavailable (%v); run the tests as root or with CAP_NET_ADMIN", err)
	}
}

func TestTransparentControlSetsOptions(t *testing.T) {
	requireTransparent(t)
	tests := []struct {
		name       string
		mode       string
		network    string
		family     int
		wantNoPort int
	}{
		{name: "clientip v4", mode: SourceClientIP, network: "tcp4", family: unix.AF_INET, wantNoPort: 1},
		{name: "client v4", mode: SourceClient, network: "tcp4", family: unix.AF_INET, wantNoPort: 0},
		{name: "clientip v6", mode: SourceClientIP, network: "tcp6", family: unix.AF_INET6, wantNoPort: 1},
		{name: "client v6", mode: SourceClient, network: "tcp6", family: unix.AF_INET6, wantNoPort: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fd, err := unix.Socket(tt.family, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
			if err != nil {
				t.Fatalf("socket: %v", err)
			}
			file := os.NewFile(uintptr(fd), "test-socket")
			defer file.Close()
			raw, err := file.SyscallConn()
			if err != nil {
				t.Fatal(err)
			}
			if err := transparentControl(tt.mode)(tt.network, "127.0.0.1:1935", raw); err != nil {
				t.Fatalf("control: %v", err)
			}
			transparentLevel, transparentOpt := unix.IPPROTO_IP, unix.IP_TRANSPARENT
			if tt.family == unix.AF_INET6 {
				transparentLevel, transparentOpt = unix.IPPROTO_IPV6, unix.IPV6_TRANSPARENT
			}
			checks := []struct {
				name       string
				level, opt int
				want       int
			}{
				{"transparent", transparentLevel, transparentOpt, 1},
				{"SO_REUSEADDR", unix.SOL_SOCKET, unix.SO_REUSEADDR, 1},
				{"IP_BIND_ADDRESS_NO_PORT", unix.IPPROTO_IP, unix.IP_BIND_ADDRESS_NO_PORT, tt.wantNoPort},
			}
			for _, c := range checks {
				got, err := unix.GetsockoptInt(fd, c.level, c.opt)
				if err != nil {
					t.Fatalf("getsockopt %s: %v", c.name, err)
				}
				if got != c.want {
					t.Errorf("%s = %d, want %d", c.name, got, c.want)
				}
			}
		})
	}
}

func TestTransparentControlReportsOptionName(t *testing.T) {
	// Control on a closed socket must fail, and the error must surface instead of being
	// lost inside the closure.
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	file := os.NewFile(uintptr(fd), "closed-socket")
	raw, _ := file.SyscallConn()
	file.Close()
	if err := transparentControl(SourceClientIP)("tcp4", "", raw); err == nil {
		t.Fatal("control on a closed socket returned nil")
	}
	// A failing setsockopt (here on an invalid fd) names the option in its error.
	if err := setTransparentOptions(-1, false, true); err == nil || !strings.Contains(err.Error(), "IP_TRANSPARENT") {
		t.Fatalf("error %v does not name IP_TRANSPARENT", err)
	}
	if err := setTransparentOptions(-1, true, true); err == nil || !strings.Contains(err.Error(), "IPV6_TRANSPARENT") {
		t.Fatalf("error %v does not name IPV6_TRANSPARENT", err)
	}
}

func TestDialTransparentLoopback(t *testing.T) {
	requireTransparent(t)
	tests := []struct {
		mode     string
		client   netip.AddrPort
		wantPort bool // the server sees the client's own port
	}{
		{mode: SourceClientIP, client: netip.MustParseAddrPort("127.0.0.9:40009")},
		{mode: SourceClient, client: netip.MustParseAddrPort("127.0.0.10:40010"), wantPort: true},
	}
	for _, tt := range tests {
		t.Run(tt.mode, func(t *testing.T) {
			addr, results := handshakeServer(t, 0, 1)
			d, err := NewDialer(DialConfig{Source: tt.mode})
			if err != nil {
				t.Fatal(err)
			}
			conn, err := d.Dial(context.Background(), addr, tt.client, netip.AddrPort{})
			if err != nil {
				t.Fatalf("Dial: %v", err)
			}
			defer conn.Close()
			conn.Write([]byte{0x03})
			res := receive(t, results)
			if res.err != nil {
				t.Fatalf("server: %v", res.err)
			}
			if res.remote.Addr() != tt.client.Addr() {
				t.Errorf("server saw source %s, want the client's %s", res.remote, tt.client.Addr())
			}
			if tt.wantPort && res.remote.Port() != tt.client.Port() {
				t.Errorf("server saw port %d, want the client's %d", res.remote.Port(), tt.client.Port())
			}
			if !tt.wantPort && res.remote.Port() == tt.client.Port() {
				t.Errorf("clientip kept the client's port %d; the kernel should pick one", res.remote.Port())
			}
		})
	}
}

func TestDialTransparentFamilyMismatch(t *testing.T) {
	requireTransparent(t)
	ipv6Client := netip.MustParseAddrPort("[2001:db8::7]:40000")
	t.Run("fallback error", func(t *testing.T) {
		addr, _ := handshakeServer(t, 0, 1)
		d, _ := NewDialer(DialConfig{Source: SourceClientIP})
		_, err := d.Dial(context.Background(), addr, ipv6Client, netip.AddrPort{})
		if !errors.Is(err, ErrSourceUnpresentable) || !errors.Is(err, ErrDial) {
			t.Fatalf("error %v: want ErrDial wrapping ErrSourceUnpresentable", err)
		}
	})
	t.Run("fallback edge", func(t *testing.T) {
		addr, results := handshakeServer(t, 0, 1)
		d, _ := NewDialer(DialConfig{Source: SourceClientIP, SourceFallback: FallbackEdge})
		conn, err := d.Dial(context.Background(), addr, ipv6Client, netip.AddrPort{})
		if err != nil {
			t.Fatalf("Dial: %v", err)
		}
		defer conn.Close()
		conn.Write([]byte{0x03})
		res := receive(t, results)
		if res.err != nil {
			t.Fatal(res.err)
		}
		if res.remote.Addr() != netip.MustParseAddr("127.0.0.1") {
			t.Errorf("server saw %s, want the edge's 127.0.0.1", res.remote.Addr())
		}
	})
}

// fullBacklogAddr returns an address whose listener never accepts and whose accept queue is
// full, so the kernel drops further SYNs and a connect hangs until its timeout.
func fullBacklogAddr(t *testing.T) string {
	t.Helper()
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := unix.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", sa.(*unix.SockaddrInet4).Port)
	// Fill the accept queue (backlog 0 holds one connection); extra attempts may time out.
	for range 3 {
		if c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond); err == nil {
			t.Cleanup(func() { c.Close() })
		}
	}
	return addr
}

func TestDialConnectTimeout(t *testing.T) {
	addr := fullBacklogAddr(t)
	d, _ := NewDialer(DialConfig{ConnectTimeout: 200 * time.Millisecond})
	conn, err := d.Dial(context.Background(), addr, netip.AddrPort{}, netip.AddrPort{})
	if err == nil {
		conn.Close()
		t.Fatal("Dial succeeded against a listener with a full backlog")
	}
	var netErr net.Error
	if !errors.Is(err, ErrDial) || !errors.As(err, &netErr) || !netErr.Timeout() {
		t.Fatalf("error %v: want ErrDial wrapping a timeout", err)
	}
}

func TestCheckTransparent(t *testing.T) {
	const goodRules = "0:\tfrom all lookup local\n32765:\tfrom all fwmark 0x1 lookup 100\n32766:\tfrom all lookup main\n"
	const goodTable = "local default dev lo scope host\n"
	tests := []struct {
		name    string
		probe   error
		ip      map[string]string // "args" → output; missing = error
		want    []string          // substrings of the error; nil = success
		notWant []string
	}{
		{
			name: "ready",
			ip:   map[string]string{"-4 rule show": goodRules, "-4 route show table 100": goodTable},
		},
		{
			name: "ready with masked mark and named table",
			ip: map[string]string{
				"-4 rule show":               "100:\tfrom all fwmark 0x1/0x1 lookup tproxy\n",
				"-4 route show table tproxy": "local 0.0.0.0/0 dev lo scope host\n",
			},
		},
		{
			name:    "no privilege",
			probe:   unix.EPERM,
			ip:      map[string]string{"-4 rule show": goodRules, "-4 route show table 100": goodTable},
			want:    []string{"IP_TRANSPARENT cannot be set", "CAP_NET_ADMIN", "nft add rule filter divert meta l4proto tcp socket transparent 1 meta mark set 1 accept"},
			notWant: []string{"no policy routing rule"},
		},
		{
			name:    "no fwmark rule",
			ip:      map[string]string{"-4 rule show": "0:\tfrom all lookup local\n32766:\tfrom all lookup main\n"},
			want:    []string{"no policy routing rule for marked replies", "ip rule add fwmark 1 lookup 100", "ip route add local 0.0.0.0/0 dev lo table 100"},
			notWant: []string{"IP_TRANSPARENT cannot be set"},
		},
		{
			name: "table without local route",
			ip:   map[string]string{"-4 rule show": goodRules, "-4 route show table 100": "default via 10.0.0.1 dev eth0\n"},
			want: []string{"table(s) 100 but none has the route \"local 0.0.0.0/0 dev lo\"", "ip route add local 0.0.0.0/0 dev lo table 100"},
		},
		{
			name:  "everything missing, one error",
			probe: unix.EPERM,
			ip:    map[string]string{},
			want:  []string{"IP_TRANSPARENT cannot be set", "cannot read policy routing rules", "socket transparent 1 meta mark set 1"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			oldProbe, oldIP := probeTransparent, runIP
			t.Cleanup(func() { probeTransparent, runIP = oldProbe, oldIP })
			probeTransparent = func() error { return tt.probe }
			runIP = func(args ...string) (string, error) {
				out, ok := tt.ip[strings.Join(args, " ")]
				if !ok {
					return "", errors.New("exit status 1")
				}
				return out, nil
			}
			err := CheckTransparent()
			if tt.want == nil {
				if err != nil {
					t.Fatalf("CheckTransparent: %v", err)
				}
				return
			}
			if !errors.Is(err, ErrTransparentNotReady) {
				t.Fatalf("error %v: want ErrTransparentNotReady", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
			for _, w := range tt.notWant {
				if strings.Contains(err.Error(), w) {
					t.Errorf("error wrongly contains %q:\n%v", w, err)
				}
			}
		})
	}
}

// TestCheckTransparentHost runs the real check on this host: it must either pass or explain
// itself with the set-up commands (this machine has no fwmark rule unless someone added one).
func TestCheckTransparentHost(t *testing.T) {
	err := CheckTransparent()
	if err == nil {
		return
	}
	if !errors.Is(err, ErrTransparentNotReady) || !strings.Contains(err.Error(), "ip route add local 0.0.0.0/0 dev lo table 100") {
		t.Fatalf("unexpected error: %v", err)
	}
	t.Logf("this host: %v", err)
}
