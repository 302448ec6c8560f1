package upstream

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	proxyproto "github.com/pires/go-proxyproto"
)

func TestDialPlainHandshake(t *testing.T) {
	addr, results := handshakeServer(t, 0, 5)
	d, err := NewDialer(DialConfig{})
	if err != nil {
		t.Fatal(err)
	}
	conn, err := d.Dial(context.Background(), addr, netip.MustParseAddrPort("127.0.0.7:40000"), netip.AddrPort{})
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	defer conn.Close()
	// The conn must be positioned right after the handshake: the next bytes are the replay.
	if _, err := conn.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	res := receive(t, results)
	if res.err != nil {
		t.Fatalf("server: %v", res.err)
	}
	if string(res.after) != "hello" {
		t.Errorf("server read %q after the handshake, want %q", res.after, "hello")
	}
	if got := res.remote.Addr(); got != netip.MustParseAddr("127.0.0.1") {
		t.Errorf("source edge: server saw %s, want the edge's own 127.0.0.1", got)
	}
}

func TestDialZeroValueDialer(t *testing.T) {
	addr, results := handshakeServer(t, 0, 1)
	var d Dialer
	conn, err := d.Dial(context.Background(), addr, netip.AddrPort{}, netip.AddrPort{})
	if err != nil {
		t.Fatalf("zero Dialer: %v", err)
	}
	defer conn.Close()
	conn.Write([]byte{1})
	if res := receive(t, results); res.err != nil {
		t.Fatal(res.err)
	}
}

func TestDialProxyHeader(t *testing.T) {
	v2sig := []byte("\r\n\r\n\x00\r\nQUIT\n")
	tests := []struct {
		name          string
		version       string
		client, local netip.AddrPort
		want          []byte
		wantSource    string // "" = no address (LOCAL / UNKNOWN)
	}{
		{
			name: "v1 tcp4", version: "v1",
			client: netip.MustParseAddrPort("127.0.0.7:40000"), local: netip.MustParseAddrPort("127.0.0.1:1935"),
			want:       []byte("PROXY TCP4 127.0.0.7 127.0.0.1 40000 1935\r\n"),
			wantSource: "127.0.0.7:40000",
		},
		{
			name: "v1 tcp6", version: "v1",
			client: netip.MustParseAddrPort("[2001:db8::7]:40000"), local: netip.MustParseAddrPort("[2001:db8::1]:1935"),
			want:       []byte("PROXY TCP6 2001:db8::7 2001:db8::1 40000 1935\r\n"),
			wantSource: "[2001:db8::7]:40000",
		},
		{
			name: "v1 4in6 client unmapped", version: "v1",
			client: netip.MustParseAddrPort("[::ffff:127.0.0.8]:40001"), local: netip.MustParseAddrPort("127.0.0.1:1935"),
			want:       []byte("PROXY TCP4 127.0.0.8 127.0.0.1 40001 1935\r\n"),
			wantSource: "127.0.0.8:40001",
		},
		{
			name: "v1 unknown client", version: "v1",
			want: []byte("PROXY UNKNOWN\r\n"),
		},
		{
			name: "v2 tcp4", version: "v2",
			client: netip.MustParseAddrPort("127.0.0.7:40000"), local: netip.MustParseAddrPort("127.0.0.1:1935"),
			want: append(append([]byte{}, v2sig...),
				0x21, 0x11, 0x00, 0x0c, // v2 PROXY, TCP over IPv4, 12 address bytes
				127, 0, 0, 7, 127, 0, 0, 1, // source, destination
				0x9c, 0x40, 0x07, 0x8f), // 40000, 1935
			wantSource: "127.0.0.7:40000",
		},
		{
			name: "v2 unknown client", version: "v2",
			want: append(append([]byte{}, v2sig...), 0x20, 0x00, 0x00, 0x00), // v2 LOCAL, UNSPEC
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr, results := handshakeServer(t, len(tt.want), 1)
			d, err := NewDialer(DialConfig{ProxyProtocol: tt.version})
			if err != nil {
				t.Fatal(err)
			}
			conn, err := d.Dial(context.Background(), addr, tt.client, tt.local)
			if err != nil {
				t.Fatalf("Dial: %v", err)
			}
			defer conn.Close()
			conn.Write([]byte{0x03})
			res := receive(t, results)
			if res.err != nil {
				t.Fatalf("server: %v (header bytes %q)", res.err, res.header)
			}
			if !bytes.Equal(res.header, tt.want) {
				t.Fatalf("header\n got %q\nwant %q", res.header, tt.want)
			}
			// Read it back the way a media server would.
			h, err := proxyproto.Read(bufio.NewReader(bytes.NewReader(res.header)))
			if err != nil {
				t.Fatalf("go-proxyproto cannot read the header: %v", err)
			}
			if tt.wantSource == "" {
				if h.Command != proxyproto.LOCAL {
					t.Errorf("command %v, want LOCAL", h.Command)
				}
				return
			}
			if got := h.SourceAddr.String(); got != tt.wantSource {
				t.Errorf("go-proxyproto source %s, want %s", got, tt.wantSource)
			}
		})
	}
}

func TestDialHandshakeTimeout(t *testing.T) {
	addr := hungServer(t)
	d, err := NewDialer(DialConfig{HandshakeTimeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	conn, err := d.Dial(context.Background(), addr, netip.AddrPort{}, netip.AddrPort{})
	if err == nil {
		conn.Close()
		t.Fatal("Dial succeeded against a server that never answers the handshake")
	}
	if !errors.Is(err, ErrHandshake) || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("error %q: want ErrHandshake wrapping a deadline error", err)
	}
	if errors.Is(err, ErrDial) {
		t.Errorf("error %q names the dial step, the dial succeeded", err)
	}
}

func TestDialContextCancelDuringHandshake(t *testing.T) {
	addr := hungServer(t)
	d, _ := NewDialer(DialConfig{HandshakeTimeout: time.Hour})
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	_, err := d.Dial(ctx, addr, netip.AddrPort{}, netip.AddrPort{})
	if !errors.Is(err, ErrHandshake) || !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v: want ErrHandshake wrapping context.Canceled", err)
	}
}

func TestDialRefused(t *testing.T) {
	addr := refusedAddr(t)
	d, _ := NewDialer(DialConfig{})
	_, err := d.Dial(context.Background(), addr, netip.AddrPort{}, netip.AddrPort{})
	if !errors.Is(err, ErrDial) {
		t.Fatalf("error %v: want ErrDial", err)
	}
	if !strings.Contains(err.Error(), "dial media server "+addr) {
		t.Errorf("error %q does not name the dial step and the address", err)
	}
	var opErr *net.OpError
	if !errors.As(err, &opErr) {
		t.Errorf("error %q does not wrap the net error", err)
	}
}

func TestDialConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  DialConfig
		want []string // substrings; none means valid
	}{
		{name: "zero", cfg: DialConfig{}},
		{name: "all set", cfg: DialConfig{Source: "clientip", SourceFallback: "edge", ProxyProtocol: "v2", ConnectTimeout: time.Second, HandshakeTimeout: time.Second}},
		{name: "bad source", cfg: DialConfig{Source: "x"}, want: []string{`source: must be edge, clientip or client, got "x"`}},
		{name: "bad fallback", cfg: DialConfig{SourceFallback: "maybe"}, want: []string{`source_fallback: must be error or edge, got "maybe"`}},
		{name: "bad proxy", cfg: DialConfig{ProxyProtocol: "v3"}, want: []string{`proxy_protocol: must be empty, v1 or v2, got "v3"`}},
		{name: "negative timeouts", cfg: DialConfig{ConnectTimeout: -1, HandshakeTimeout: -1}, want: []string{"connect_timeout: must not be negative", "handshake_timeout: must not be negative"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				if _, err := NewDialer(tt.cfg); err != nil {
					t.Fatalf("NewDialer: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("Validate accepted an invalid config")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if _, err := NewDialer(tt.cfg); err == nil {
				t.Error("NewDialer accepted an invalid config")
			}
		})
	}
}

func TestDialConfigWithDefaults(t *testing.T) {
	got := DialConfig{}.WithDefaults()
	want := DialConfig{Source: "edge", SourceFallback: "error", ConnectTimeout: 5 * time.Second, HandshakeTimeout: 5 * time.Second}
	if got != want {
		t.Fatalf("defaults %+v, want %+v", got, want)
	}
	set := DialConfig{Source: "client", SourceFallback: "edge", ProxyProtocol: "v1", ConnectTimeout: 1, HandshakeTimeout: 2}
	if set.WithDefaults() != set {
		t.Fatalf("WithDefaults changed set fields: %+v", set.WithDefaults())
	}
}
