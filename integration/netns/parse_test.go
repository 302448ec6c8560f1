//go:build linux

package netns

import (
	"net/netip"
	"strings"
	"testing"
)

func TestParseSS(t *testing.T) {
	tests := []struct {
		name string
		out  string
		want []TCPConn
	}{
		{
			name: "ipv4 and ipv6",
			out: "0      0      198.18.2.4:1935 198.18.1.2:53676\n" +
				"0      0      [::1]:80 [::1]:40000 users:((\"nginx\",pid=1,fd=3))\n",
			want: []TCPConn{
				{netip.MustParseAddrPort("198.18.2.4:1935"), netip.MustParseAddrPort("198.18.1.2:53676")},
				{netip.MustParseAddrPort("[::1]:80"), netip.MustParseAddrPort("[::1]:40000")},
			},
		},
		{name: "empty", out: ""},
		{name: "zoned address skipped", out: "0 0 127.0.0.53%lo:53 127.0.0.1:4000\n"},
		{name: "short and garbage lines skipped", out: "0 0\nState Recv-Q\n0 0 x y\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseSS(tt.out)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Errorf("conn %d = %v, want %v", i, got[i], tt.want[i])
				}
			}
		})
	}
	if _, err := parseSS(strings.Repeat("0 0 1.2.3.4:1 5.6.7.8:2\n", maxSSLines+1)); err == nil {
		t.Error("a listing over maxSSLines was accepted")
	}
}

func TestLastFrameCount(t *testing.T) {
	tests := []struct {
		log  string
		want int
	}{
		{"frame=1\nfps=0.0\nprogress=continue\nframe=45\nprogress=end\n", 45},
		{"frame=  12\n", 12},
		{"[flv @ 0x1] warning\nframe=abc\nframe=-3\n", 0},
		{"", 0},
		{"frame=99999999999999999999999\n", 0}, // overflows: not a count
	}
	for _, tt := range tests {
		if got := lastFrameCount(tt.log); got != tt.want {
			t.Errorf("lastFrameCount(%q) = %d, want %d", tt.log, got, tt.want)
		}
	}
}

func FuzzParseSS(f *testing.F) {
	f.Add("0 0 198.18.2.4:1935 198.18.1.2:53676\n0 0 [::1]:80 [::1]:1\n")
	f.Add("0 0 127.0.0.53%lo:53 x\n")
	f.Fuzz(func(t *testing.T, out string) {
		conns, err := parseSS(out)
		if err != nil && conns != nil {
			t.Fatalf("conns %v returned with error %v", conns, err)
		}
		for _, c := range conns {
			if !c.Local.IsValid() || !c.Peer.IsValid() {
				t.Fatalf("invalid address in %v", c)
			}
		}
	})
}

func FuzzLastFrameCount(f *testing.F) {
	f.Add("frame=1\nprogress=continue\nframe=45\n")
	f.Add("frame=-1\nframe= 7 \n")
	f.Fuzz(func(t *testing.T, log string) {
		if n := lastFrameCount(log); n < 0 {
			t.Fatalf("negative frame count %d", n)
		}
	})
}
