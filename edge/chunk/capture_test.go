package chunk

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// What real clients sent after C2, recorded by internal/capture (the client
// talking to nginx-rtmp through the edge's handshake). Each capture is the
// whole client stream of the session, media included.
type captured struct {
	csid uint32
	typ  uint8
	msid uint32
	name string // command name for type 20
	n    int
}

var captureCases = []struct {
	file      string
	chunkSize int
	want      []captured
}{
	{"ffmpeg-play.stream.bin", 128, []captured{
		{3, 20, 0, "connect", 197}, {2, 5, 0, "", 4}, {3, 20, 0, "createStream", 25},
		{8, 20, 0, "getStreamLength", 38}, {8, 20, 1, "play", 36}, {2, 4, 0, "", 10},
	}},
	// ffmpeg echoes nginx's Set Chunk Size (4096) and sends its media with it;
	// the commands after the media prove the scanner stayed in step.
	{"ffmpeg-publish.stream.bin", 4096, []captured{
		{3, 20, 0, "connect", 140}, {2, 1, 0, "", 4}, {3, 20, 0, "releaseStream", 36},
		{3, 20, 0, "FCPublish", 32}, {3, 20, 0, "createStream", 25}, {8, 20, 1, "publish", 37},
		{3, 20, 0, "FCUnpublish", 34}, {3, 20, 0, "deleteStream", 34},
	}},
	// ffmpeg -output_ts_offset 16778: video timestamps above 0xFFFFFF, so
	// its first video message has an extended timestamp that FFmpeg repeats
	// after every fmt-3 continuation header (C6 01 00 03 10 …); reading it
	// any other way would lose step before FCUnpublish.
	{"ffmpeg-publish-extts.stream.bin", 4096, []captured{
		{3, 20, 0, "connect", 140}, {2, 1, 0, "", 4}, {3, 20, 0, "releaseStream", 32},
		{3, 20, 0, "FCPublish", 28}, {3, 20, 0, "createStream", 25}, {8, 20, 1, "publish", 33},
		{3, 20, 0, "FCUnpublish", 30}, {3, 20, 0, "deleteStream", 34},
	}},
	{"rtmpdump-play.stream.bin", 128, []captured{
		{3, 20, 0, "connect", 198}, {2, 5, 0, "", 4}, {2, 4, 0, "", 10}, {3, 20, 0, "createStream", 25},
		{3, 20, 0, "FCSubscribe", 34}, {8, 20, 1, "play", 36}, {2, 4, 0, "", 10},
	}},
	{"rtmpdump-swfvfy.stream.bin", 128, []captured{
		{3, 20, 0, "connect", 237}, {2, 5, 0, "", 4}, {2, 4, 0, "", 10}, {3, 20, 0, "createStream", 25},
		{3, 20, 0, "FCSubscribe", 34}, {8, 20, 1, "play", 36}, {2, 4, 0, "", 10},
	}},
}

func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestScannerCaptures(t *testing.T) {
	for _, tt := range captureCases {
		t.Run(tt.file, func(t *testing.T) {
			data := readTestdata(t, tt.file)
			step := max(1, len(data)/2000) // keeps -race runs short on the publish captures
			msgs, err := checkSplitsEvery(t, Limits{}, data, step)
			if err != nil {
				t.Fatalf("Feed: %v", err)
			}
			var got []captured
			for _, m := range msgs {
				c := captured{m.CSID, m.Type, m.StreamID, "", len(m.Payload)}
				if m.Type == TypeCommandAMF0 {
					c.name = cmdName(m.Payload)
				}
				got = append(got, c)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("messages:\n got %+v\nwant %+v", got, tt.want)
			}
			s := NewScanner(Limits{})
			if err := s.Feed(data, nil); err != nil {
				t.Fatal(err)
			}
			if s.ChunkSize() != tt.chunkSize {
				t.Errorf("ChunkSize = %d, want %d", s.ChunkSize(), tt.chunkSize)
			}
			if s.cur != nil || s.hdrN != 0 {
				t.Errorf("capture ends inside a chunk (cur %v, %d header bytes)", s.cur != nil, s.hdrN)
			}
		})
	}
}

// FuzzScanner: arbitrary client bytes never panic or exceed the memory
// bounds, and feeding them whole or byte by byte gives the same messages
// and the same error.
func FuzzScanner(f *testing.F) {
	for _, tt := range captureCases {
		data := readTestdata(f, tt.file)
		f.Add(data[:min(len(data), 2048)], uint16(7))
	}
	f.Add(newStream().setChunkSize(4096).msg(0, 3, 0, TypeCommandAMF0, 0, payload(300)).b, uint16(1))
	f.Add(newStream().msg(0, 320, 0x01000000, TypeCommandAMF0, 1, payload(300)).b, uint16(100))
	f.Fuzz(func(t *testing.T, data []byte, split uint16) {
		lim := Limits{MaxCommand: 4096}
		whole, errWhole := collect(lim, data)

		s := NewScanner(lim)
		var pieces []Message
		var errPieces error
		for i := 0; i < len(data) && errPieces == nil; i++ {
			errPieces = s.Feed(data[i:i+1], func(m Message) error {
				m.Payload = bytes.Clone(m.Payload)
				pieces = append(pieces, m)
				return nil
			})
			if s.reserved > 2*4096 || len(s.streams) > MaxChunkStreams {
				t.Fatalf("bounds exceeded: %d reserved, %d streams", s.reserved, len(s.streams))
			}
			for _, st := range s.streams {
				if cap(st.buf) > 4096 {
					t.Fatalf("chunk stream %d holds a %d-byte buffer", st.csid, cap(st.buf))
				}
			}
		}
		if !reflect.DeepEqual(whole, pieces) || (errWhole == nil) != (errPieces == nil) ||
			(errWhole != nil && errWhole.Error() != errPieces.Error()) {
			t.Fatalf("whole: %d messages, %v; byte by byte: %d messages, %v", len(whole), errWhole, len(pieces), errPieces)
		}
		if i := int(split); i < len(data) {
			two, errTwo := collect(lim, data[:i], data[i:])
			if !reflect.DeepEqual(whole, two) || (errWhole == nil) != (errTwo == nil) {
				t.Fatalf("split at %d: %d messages, %v; whole %d, %v", i, len(two), errTwo, len(whole), errWhole)
			}
		}
		for _, m := range whole {
			if len(m.Payload) > 4096 || len(m.Payload) == 0 || !Kept(m.Type) {
				t.Fatalf("emitted %d-byte message of type %d", len(m.Payload), m.Type)
			}
		}
	})
}

func BenchmarkScannerFeedConnect(b *testing.B) {
	data := readTestdata(b, "ffmpeg-play.stream.bin")
	// The connect alone: up to the end of its last chunk.
	end := 0
	s := NewScanner(Limits{})
	s.Feed(data, func(m Message) error {
		if cmdName(m.Payload) == "connect" {
			end = int(s.Consumed())
			return errStop
		}
		return nil
	})
	connect := data[:end]
	b.ReportAllocs()
	b.SetBytes(int64(len(connect)))
	for b.Loop() {
		s := NewScanner(Limits{})
		if err := s.Feed(connect, func(Message) error { return nil }); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkScannerFeedSession runs one scanner over a whole publish session
// (media skipped), reusing it: the steady-state cost per byte.
func BenchmarkScannerFeedSession(b *testing.B) {
	data := readTestdata(b, "ffmpeg-publish.stream.bin")
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		s := NewScanner(Limits{})
		if err := s.Feed(data, nil); err != nil {
			b.Fatal(err)
		}
	}
}
