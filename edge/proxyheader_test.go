package edge

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"testing"

	"github.com/pires/go-proxyproto"
)

func v2Header(t *testing.T, src, dst string) []byte {
	t.Helper()
	h := proxyproto.HeaderProxyFromAddrs(2, net.TCPAddrFromAddrPort(netip.MustParseAddrPort(src)), net.TCPAddrFromAddrPort(netip.MustParseAddrPort(dst)))
	b, err := h.Format()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestReadProxyHeader(t *testing.T) {
	rtmpC0 := []byte{3, 0, 0}
	oversized := v2Header(t, "198.18.1.77:4000", "198.18.1.1:1935")
	binary.BigEndian.PutUint16(oversized[14:16], 60000)
	unknownFamily := v2Header(t, "198.18.1.77:4000", "198.18.1.1:1935")
	unknownFamily[13] = 0x71 // family 7: not defined by the spec
	cases := []struct {
		name    string
		in      []byte
		src     string // empty: error expected
		wantErr bool
		local   bool
	}{
		{name: "v1", in: []byte("PROXY TCP4 198.18.1.77 198.18.1.1 4000 1935\r\n"), src: "198.18.1.77:4000"},
		{name: "v1 ipv6", in: []byte("PROXY TCP6 2001:db8::1 2001:db8::2 4000 1935\r\n"), src: "[2001:db8::1]:4000"},
		{name: "v2", in: v2Header(t, "198.18.1.77:4000", "198.18.1.1:1935"), src: "198.18.1.77:4000"},
		{name: "v2 local", in: append(append([]byte{}, proxyV2Sig...), 0x20, 0x00, 0, 0), local: true},
		{name: "no header: RTMP", in: rtmpC0, wantErr: true},
		{name: "truncated v1", in: []byte("PROXY TCP4 198.18.1.77"), wantErr: true},
		{name: "truncated v2", in: v2Header(t, "198.18.1.77:4000", "198.18.1.1:1935")[:20], wantErr: true},
		{name: "v1 too long", in: append([]byte("PROXY TCP4 "), bytes.Repeat([]byte("1"), 200)...), wantErr: true},
		{name: "oversized v2", in: oversized, wantErr: true},
		{name: "wrong v2 signature", in: append([]byte("\r\n\r\n\x00\r\nQUIX\n"), make([]byte, 20)...), wantErr: true},
		{name: "v2 unknown family", in: unknownFamily, wantErr: true},
		{name: "v1 garbage addresses", in: []byte("PROXY TCP4 not.an.ip 1.2.3.4 1 2\r\n"), wantErr: true},
		{name: "empty", in: nil, wantErr: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := bufio.NewReaderSize(bytes.NewReader(append(tc.in, rtmpC0...)), 4096)
			src, _, ok, err := readProxyHeader(r)
			if tc.wantErr {
				if err == nil || !errors.Is(err, ErrProxyHeader) {
					t.Fatalf("want ErrProxyHeader, got src=%v err=%v", src, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.local {
				if ok {
					t.Fatalf("LOCAL header gave an address %v", src)
				}
			} else if !ok || src.String() != tc.src {
				t.Fatalf("src = %v (ok %v), want %s", src, ok, tc.src)
			}
			// What follows the header is left for the RTMP pipeline.
			if b, _ := r.Peek(1); len(b) != 1 || b[0] != 3 {
				t.Fatalf("the header reader consumed the client's C0")
			}
		})
	}
}

func FuzzReadProxyHeader(f *testing.F) {
	f.Add([]byte("PROXY TCP4 198.18.1.77 198.18.1.1 4000 1935\r\n\x03"))
	f.Add([]byte("PROXY UNKNOWN\r\n"))
	f.Add(append(append([]byte{}, proxyV2Sig...), 0x21, 0x11, 0, 12, 198, 18, 1, 77, 198, 18, 1, 1, 0x0f, 0xa0, 0x07, 0x8f, 3))
	f.Fuzz(func(t *testing.T, in []byte) {
		r := bufio.NewReaderSize(bytes.NewReader(in), 4096)
		src, _, ok, err := readProxyHeader(r)
		if err == nil && ok && !src.IsValid() {
			t.Fatalf("accepted header with invalid source %v", src)
		}
	})
}
