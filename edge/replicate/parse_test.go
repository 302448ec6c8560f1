package replicate

import (
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/rtmp-edge/rtmp-edge/edge/chunk"
)

// captures are real publishes recorded after the handshake (connect …
// publish, then media): ffmpeg stream-copying an H.264/AAC FLV.
var captures = []struct {
	path string
	// What the capture holds, read off its bytes: the first two are
	// Sorenson H.263 + MP3 (no sequence headers; frame type 1 in 0x12), the
	// third H.264 + AAC (0x17 0x00 and 0xaf 0x00 sequence headers, and ffmpeg's
	// AVC end of sequence 0x17 0x02 before its FCUnpublish).
	keyframes, configs int64
}{
	{"../chunk/testdata/ffmpeg-publish.stream.bin", 2, 0},
	{"../chunk/testdata/ffmpeg-publish-extts.stream.bin", 4, 0},
	{"../command/testdata/nginx-ffmpeg-publish.client.bin", 3, 2},
}

func readCapture(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// newParser is a Publish without its goroutine: tests drive consume.
func newParser(cfg Config) *Publish {
	cfg = cfg.withDefaults()
	p := &Publish{cfg: cfg, base: time.Now(), log: slog.New(slog.DiscardHandler), counters: &Counters{}, seen: make(chan struct{}), scan: chunk.NewScanner(chunk.Limits{MaxMedia: maxMessage})}
	p.list.Store(&[]*replica{})
	return p
}

func TestCapturesParse(t *testing.T) {
	for _, c := range captures {
		t.Run(filepath.Base(c.path), func(t *testing.T) {
			b := readCapture(t, c.path)
			// Fed in odd pieces, as reads split a stream anywhere.
			p := newParser(Config{})
			for off := 0; off < len(b); {
				n := min(len(b)-off, 1+off%977)
				err := p.consume(b[off : off+n])
				off += n
				if err == errStop {
					break
				}
				if err != nil {
					t.Fatalf("at %d: %v", off, err)
				}
			}
			s := &p.stream
			if !s.published || s.name == "" {
				t.Fatalf("publish not seen: %+v", s)
			}
			if !s.unpublished {
				t.Error("the capture's FCUnpublish/deleteStream was not seen")
			}
			if s.metadata == nil {
				t.Error("no @setDataFrame onMetaData kept")
			}
			if s.keyframes != c.keyframes || s.configMsgs != c.configs {
				t.Errorf("%d keyframes, %d sequence headers; want %d, %d", s.keyframes, s.configMsgs, c.keyframes, c.configs)
			}
			t.Logf("stream %q id %d, %d media messages, %d keyframes, %d sequence headers, %d kept at the end",
				s.name, s.id, s.messages, s.keyframes, s.configMsgs, len(s.configs))
		})
	}
}
