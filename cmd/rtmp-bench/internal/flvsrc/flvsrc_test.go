package flvsrc

import (
	"encoding/binary"
	"errors"
	"math"
	"os"
	"testing"
)

func TestSyntheticShape(t *testing.T) {
	for _, p := range []SyntheticParams{{}, {Bitrate: 500_000, FPS: 30, GOP: 60}, {Bitrate: 8_000_000, FPS: 60, GOP: 120}} {
		s := NewSynthetic(p)
		if s.Next().Type != TagScript || s.Next().Type != TagVideo || s.Next().Type != TagAudio {
			t.Fatal("metadata and sequence headers must come first")
		}
		var bytes, frames, keys int
		var last uint32
		const seconds = 20
		for {
			tag := s.Next()
			if tag.Timestamp < last {
				t.Fatalf("timestamp went back from %d to %d", last, tag.Timestamp)
			}
			last = tag.Timestamp
			if tag.Timestamp >= seconds*1000 {
				break
			}
			bytes += len(tag.Data)
			if tag.Type == TagVideo {
				if frames%s.p.GOP == 0 != (tag.Data[0] == 0x17) {
					t.Fatalf("frame %d: keyframe flag %x, GOP %d", frames, tag.Data[0], s.p.GOP)
				}
				frames++
				if tag.Data[0] == 0x17 {
					keys++
				}
			}
		}
		rate := float64(bytes*8) / seconds
		if math.Abs(rate-float64(s.p.Bitrate))/float64(s.p.Bitrate) > 0.1 {
			t.Errorf("%+v: %.0f bit/s, want within 10%% of %d", s.p, rate, s.p.Bitrate)
		}
		if frames != seconds*s.p.FPS || keys != frames/s.p.GOP {
			t.Errorf("%+v: %d frames, %d keyframes", s.p, frames, keys)
		}
	}
}

func TestSyntheticSharesPayloads(t *testing.T) {
	a, b := NewSynthetic(SyntheticParams{}), NewSynthetic(SyntheticParams{Bitrate: 2_500_000})
	if &a.key[0] != &b.key[0] {
		t.Error("two publishers of the same shape hold two copies of the payloads")
	}
}

// flvFile builds an FLV file from tags (type, timestamp, size).
func flvFile(tags ...[3]int) []byte {
	b := []byte{'F', 'L', 'V', 1, 5, 0, 0, 0, 9, 0, 0, 0, 0}
	for _, tg := range tags {
		ts := tg[1]
		b = append(b, byte(tg[0]), byte(tg[2]>>16), byte(tg[2]>>8), byte(tg[2]), byte(ts>>16), byte(ts>>8), byte(ts), byte(ts>>24), 0, 0, 0)
		b = append(b, make([]byte, tg[2])...)
		b = binary.BigEndian.AppendUint32(b, uint32(11+tg[2]))
	}
	return b
}

func TestParseFLV(t *testing.T) {
	f, err := Parse(flvFile([3]int{TagScript, 0, 20}, [3]int{TagVideo, 1000, 50}, [3]int{TagAudio, 1020, 10},
		[3]int{TagVideo, 0x01000000 + 1040, 50}, [3]int{TagVideo, 1080, 0}, [3]int{7, 1100, 5}))
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Tags) != 4 {
		t.Fatalf("got %d tags, want 4 (empty and unknown tags dropped)", len(f.Tags))
	}
	if len(f.Tags[0].Data) != len(setDataFrame)+20 || string(f.Tags[0].Data[:len(setDataFrame)]) != string(setDataFrame) {
		t.Error("script tag does not start with @setDataFrame")
	}
	if f.Tags[1].Timestamp != 1000 || f.Tags[3].Timestamp != 0x01000000+1040 {
		t.Errorf("timestamps %d, %d: the extended byte is the high byte", f.Tags[1].Timestamp, f.Tags[3].Timestamp)
	}
	l := f.Loop()
	var first, again Tag
	first = l.Next()
	for range len(f.Tags) {
		again = l.Next()
	}
	if again.Type != first.Type || again.Timestamp != first.Timestamp+f.Duration {
		t.Errorf("loop: %+v after %+v, want timestamps to continue by %d", again.Timestamp, first.Timestamp, f.Duration)
	}
}

func TestParseFLVHostile(t *testing.T) {
	good := flvFile([3]int{TagVideo, 0, 10})
	tests := []struct {
		name string
		b    []byte
		want error
	}{
		{"empty", nil, ErrNotFLV},
		{"not FLV", []byte("GIF89a......"), ErrNotFLV},
		{"header size past the end", []byte{'F', 'L', 'V', 1, 5, 0xff, 0, 0, 0}, ErrNotFLV},
		{"header size too small", []byte{'F', 'L', 'V', 1, 5, 0, 0, 0, 1}, ErrNotFLV},
		{"truncated tag header", good[:len(good)-20], ErrTruncated},
		{"tag larger than the file", good[:len(good)-6], ErrTruncated},
		{"only metadata", flvFile([3]int{TagScript, 0, 10}), ErrNoTags},
		{"no tags", flvFile(), ErrNoTags},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Parse(tt.b); !errors.Is(err, tt.want) {
				t.Errorf("err = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestLoadRefusesLargeFiles(t *testing.T) {
	path := t.TempDir() + "/a.flv"
	if err := os.WriteFile(path, flvFile([3]int{TagVideo, 0, 100}), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(path, 50); !errors.Is(err, ErrFileTooBig) {
		t.Errorf("err = %v, want ErrFileTooBig", err)
	}
	if _, err := Load(path, 1<<20); err != nil {
		t.Errorf("Load: %v", err)
	}
}

func FuzzParseFLV(f *testing.F) {
	f.Add(flvFile([3]int{TagScript, 0, 3}, [3]int{TagVideo, 40, 5}, [3]int{TagAudio, 20, 2}))
	f.Add([]byte{'F', 'L', 'V', 1, 5, 0, 0, 0, 9})
	f.Fuzz(func(t *testing.T, b []byte) {
		file, err := Parse(b)
		if err != nil {
			return
		}
		l := file.Loop()
		for range 2*len(file.Tags) + 1 {
			if tag := l.Next(); len(tag.Data) == 0 {
				t.Fatal("empty tag")
			}
		}
	})
}
