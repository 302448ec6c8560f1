package routing

import (
	"strings"
	"testing"
)

func TestStreamKey(t *testing.T) {
	tests := []struct {
		app, name, want string
	}{
		{"live", "demo", "live/demo"},
		{"live", "demo?token=x", "live/demo"},
		{"live?token=y&e=1", "demo", "live/demo"},
		{"live", "demo?", "live/demo"},
		{"live", "demo?a=1?b=2", "live/demo"},
		{"vod", "mp4:vod/a.mp4", "vod/mp4:vod/a.mp4"},
		{"vod", "mp4:vod/a.mp4?start=10", "vod/mp4:vod/a.mp4"},
		{"live/sub", "demo", "live/sub/demo"}, // FMS app/instance split ...
		{"live", "sub/demo", "live/sub/demo"}, // ... and the other split of the same URL
		{"/live/", "//demo", "live/demo"},     // stray slashes (hand-built URLs)
		{"live//x", "a//b/", "live/x/a/b"},
		{"", "demo", "demo"}, // empty app is legal RTMP
		{"live", "Demo", "live/Demo"},
		{"live", "", ""},
		{"live", "?token=x", ""},
		{"live", "///", ""},
		{"live", "d\x00e\xff", "live/d\x00e\xff"}, // bytes are kept; the caller quotes them in logs
		{"live", strings.Repeat("a", MaxStreamKeyLen-5), "live/" + strings.Repeat("a", MaxStreamKeyLen-5)},
		{"live", strings.Repeat("a", MaxStreamKeyLen-4), ""},
		{"live", strings.Repeat("a", 10*MaxStreamKeyLen), ""},
		{strings.Repeat("/", 5000), "x", ""}, // over the early bound even though it would clean to "x"
	}
	for _, tt := range tests {
		if got := StreamKey(tt.app, tt.name); got != tt.want {
			t.Errorf("StreamKey(%.20q, %.20q) = %.40q, want %.40q", tt.app, tt.name, got, tt.want)
		}
	}
}

func TestStreamKeyNoAllocationForCleanNames(t *testing.T) {
	app, name := "live", "demo?token=x"
	if n := testing.AllocsPerRun(100, func() { _ = StreamKey(app, name) }); n > 1 {
		t.Errorf("StreamKey allocates %v times, want at most 1 (the joined key)", n)
	}
}

// FuzzStreamKey: for any input the key is bounded, has no query, no stray slashes,
// and is a fixed point (a key given as a bare name normalises to itself), so two
// sessions that agree on the key agree however it was split.
func FuzzStreamKey(f *testing.F) {
	for _, s := range [][2]string{
		{"live", "demo?token=x"}, {"live", "demo?"}, {"vod", "mp4:vod/a.mp4"}, {"live/sub", "demo"},
		{"//", "//"}, {"a?b", "c?d/e"}, {"", ""}, {"live", "stream\x00"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, app, name string) {
		k := StreamKey(app, name)
		if k == "" {
			return
		}
		if len(k) > MaxStreamKeyLen || strings.Contains(k, "?") || strings.Contains(k, "//") ||
			strings.HasPrefix(k, "/") || strings.HasSuffix(k, "/") {
			t.Fatalf("StreamKey(%q, %q) = %q breaks the key rules", app, name, k)
		}
		if again := StreamKey("", k); again != k {
			t.Fatalf("StreamKey(\"\", %q) = %q, not a fixed point", k, again)
		}
		if i := strings.LastIndexByte(k, '/'); i > 0 {
			if other := StreamKey(k[:i], k[i+1:]); other != k {
				t.Fatalf("split %q/%q gives %q, want %q", k[:i], k[i+1:], other, k)
			}
		}
	})
}
