package amf0

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// Command payloads real clients sent (edge/chunk/internal/capture: the
// client talking to nginx-rtmp through the edge's handshake).
const capturedTcURL = "rtmp://127.0.0.1:19350/live"

var connectCaptures = []struct {
	file string
	want Connect
}{
	{"ffmpeg-play.1-connect.bin", Connect{App: "live", TcURL: capturedTcURL, FlashVer: "LNX 9,0,124,2", TxID: 1}},
	{"ffmpeg-publish.1-connect.bin", Connect{App: "live", TcURL: capturedTcURL, FlashVer: "FMLE/3.0 (compatible; Lavf59.27.100)",
		Type: "nonprivate", TxID: 1}},
	{"rtmpdump-play.1-connect.bin", Connect{App: "live", TcURL: capturedTcURL, FlashVer: "LNX 10,0,32,18", TxID: 1}},
	{"rtmpdump-swfvfy.1-connect.bin", Connect{App: "live", TcURL: capturedTcURL, FlashVer: "LNX 10,0,32,18",
		SwfURL: "http://127.0.0.1:18080/p.swf", TxID: 1}},
}

var streamCaptures = []struct {
	file string
	want StreamCommand
	ok   bool
}{
	{"ffmpeg-play.2-createStream.bin", StreamCommand{}, false},
	{"ffmpeg-play.3-getStreamLength.bin", StreamCommand{}, false},
	{"ffmpeg-play.4-play.bin", StreamCommand{Name: "play", TxID: 4, Stream: "stream1"}, true},
	{"ffmpeg-publish.2-releaseStream.bin", StreamCommand{}, false},
	{"ffmpeg-publish.3-FCPublish.bin", StreamCommand{}, false},
	{"ffmpeg-publish.4-createStream.bin", StreamCommand{}, false},
	{"ffmpeg-publish.5-publish.bin", StreamCommand{Name: "publish", TxID: 5, Stream: "stream1", PublishType: "live"}, true},
	{"ffmpeg-publish.6-FCUnpublish.bin", StreamCommand{}, false},
	{"ffmpeg-publish.7-deleteStream.bin", StreamCommand{}, false},
	{"rtmpdump-play.2-createStream.bin", StreamCommand{}, false},
	{"rtmpdump-play.3-FCSubscribe.bin", StreamCommand{}, false},
	{"rtmpdump-play.4-play.bin", StreamCommand{Name: "play", TxID: 4, Stream: "stream1"}, true},
	{"rtmpdump-swfvfy.4-play.bin", StreamCommand{Name: "play", TxID: 4, Stream: "stream1"}, true},
}

func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseConnectCaptures(t *testing.T) {
	for _, tt := range connectCaptures {
		t.Run(tt.file, func(t *testing.T) {
			cmd, err := ParseCommand(readTestdata(t, tt.file), TypeCommandAMF0)
			if err != nil {
				t.Fatal(err)
			}
			got, err := ParseConnect(cmd)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
			if _, ok := ParseStreamCommand(cmd); ok {
				t.Error("connect taken for a stream command")
			}
		})
	}
}

// The player connects carry the player fields (numbers and a boolean).
func TestCapturedPlayerConnectObject(t *testing.T) {
	cmd, err := ParseCommand(readTestdata(t, "ffmpeg-play.1-connect.bin"), TypeCommandAMF0)
	if err != nil {
		t.Fatal(err)
	}
	want := Object{{"app", "live"}, {"flashVer", "LNX 9,0,124,2"}, {"tcUrl", capturedTcURL}, {"fpad", false},
		{"capabilities", 15.0}, {"audioCodecs", 4071.0}, {"videoCodecs", 252.0}, {"videoFunction", 1.0}}
	if !reflect.DeepEqual(cmd.Object, want) || cmd.Args != nil {
		t.Errorf("object %#v, args %#v", cmd.Object, cmd.Args)
	}
}

func TestParseStreamCommandCaptures(t *testing.T) {
	for _, tt := range streamCaptures {
		t.Run(tt.file, func(t *testing.T) {
			cmd, err := ParseCommand(readTestdata(t, tt.file), TypeCommandAMF0)
			if err != nil {
				t.Fatal(err)
			}
			got, ok := ParseStreamCommand(cmd)
			if ok != tt.ok || got != tt.want {
				t.Errorf("got %+v, %v; want %+v, %v", got, ok, tt.want, tt.ok)
			}
			if _, err := ParseConnect(cmd); !errors.Is(err, ErrNotConnect) {
				t.Errorf("ParseConnect: %v, want ErrNotConnect", err)
			}
		})
	}
}

// FuzzDecode: arbitrary payloads decode or fail with a named error, within
// the limits, and ParseCommand/ParseConnect never panic on them.
func FuzzDecode(f *testing.F) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.bin"))
	if err != nil || len(files) == 0 {
		f.Fatalf("no seeds in testdata: %v", err)
	}
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add(deep(20))
	f.Add(command("connect", 1, objF("app", S("a"), "x", Raw(markerAVMPlus, 1))))
	f.Fuzz(func(t *testing.T, b []byte) {
		lim := Limits{MaxDepth: 4, MaxValues: 64, MaxString: 256}
		vals, err := Decode(b, lim)
		if err != nil && !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrLimit) {
			t.Fatalf("unnamed error: %v", err)
		}
		if n := count(vals); n > lim.MaxValues {
			t.Fatalf("%d values decoded, limit %d", n, lim.MaxValues)
		}
		for _, mt := range []uint8{TypeCommandAMF0, TypeCommandAMF3} {
			if cmd, err := ParseCommand(b, mt); err == nil {
				ParseConnect(cmd)
				ParseStreamCommand(cmd)
			}
		}
	})
}

// count counts values the way the limit does: containers and their elements.
func count(vals []Value) int {
	n := 0
	for _, v := range vals {
		n++
		switch v := v.(type) {
		case Object:
			for _, p := range v {
				n += count([]Value{p.Value})
			}
		case ECMAArray:
			for _, p := range v {
				n += count([]Value{p.Value})
			}
		case StrictArray:
			n += count(v)
		case string:
			if len(v) > 256 {
				panic("string over the limit")
			}
		}
	}
	return n
}

func BenchmarkParseConnect(b *testing.B) {
	payload := readTestdata(b, "ffmpeg-play.1-connect.bin")
	b.ReportAllocs()
	b.SetBytes(int64(len(payload)))
	for b.Loop() {
		cmd, err := ParseCommand(payload, TypeCommandAMF0)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := ParseConnect(cmd); err != nil {
			b.Fatal(err)
		}
	}
}
