package mediaserver

import (
	"bytes"
	"testing"
)

func TestFLVClassification(t *testing.T) {
	tests := []struct {
		name                    string
		p                       []byte
		key, videoSeq, audioSeq bool
	}{
		{"empty", nil, false, false, false},
		{"one byte keyframe", []byte{0x17}, true, false, false},
		{"AVC sequence header", []byte{0x17, 0x00, 0, 0, 0}, true, true, false},
		{"AVC keyframe NALU", []byte{0x17, 0x01, 0, 0, 0}, true, false, false},
		{"AVC inter frame", []byte{0x27, 0x01, 0, 0, 0}, false, false, false},
		{"enhanced HEVC sequence start", []byte{0x90, 'h', 'v', 'c', '1'}, true, true, false},
		{"enhanced HEVC coded frames", []byte{0x91, 'h', 'v', 'c', '1'}, true, false, false},
		{"enhanced inter frame", []byte{0xa1, 'h', 'v', 'c', '1'}, false, false, false},
		{"AAC sequence header", []byte{0xaf, 0x00, 0x12, 0x10}, false, false, true},
		{"AAC raw", []byte{0xaf, 0x01, 0x21}, false, false, false},
		{"MP3 is never a sequence header", []byte{0x2f, 0x00}, false, false, false},
		{"Sorenson keyframe has no sequence header", []byte{0x12, 0x00}, true, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := isKeyframe(tt.p); got != tt.key {
				t.Errorf("isKeyframe = %v, want %v", got, tt.key)
			}
			if got := isVideoSequenceHeader(tt.p); got != tt.videoSeq {
				t.Errorf("isVideoSequenceHeader = %v, want %v", got, tt.videoSeq)
			}
			if got := isAudioSequenceHeader(tt.p); got != tt.audioSeq {
				t.Errorf("isAudioSequenceHeader = %v, want %v", got, tt.audioSeq)
			}
		})
	}
}

func TestSplitDataName(t *testing.T) {
	tests := []struct {
		name     string
		p        []byte
		wantName string
		wantRest []byte
		ok       bool
	}{
		{"onMetaData with object", []byte("\x02\x00\x0aonMetaData\x08\x00\x00\x00\x00"), "onMetaData", []byte("\x08\x00\x00\x00\x00"), true},
		{"empty string, no rest", []byte("\x02\x00\x00"), "", []byte{}, true},
		{"empty payload", nil, "", nil, false},
		{"not a string marker", []byte("\x08\x00\x0aonMetaData"), "", nil, false},
		{"truncated length", []byte("\x02\x00"), "", nil, false},
		{"length past the end", []byte("\x02\xff\xffabc"), "", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			name, rest, ok := splitDataName(tt.p)
			if ok != tt.ok || name != tt.wantName || !bytes.Equal(rest, tt.wantRest) {
				t.Errorf("splitDataName = %q, %q, %v; want %q, %q, %v", name, rest, ok, tt.wantName, tt.wantRest, tt.ok)
			}
		})
	}
}

func FuzzSplitDataName(f *testing.F) {
	f.Add([]byte("\x02\x00\x0aonMetaData\x08\x00\x00\x00\x00"))
	f.Add([]byte("\x02\x00"))
	f.Add([]byte("\x02\xff\xff"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, p []byte) {
		name, rest, ok := splitDataName(p)
		if !ok {
			return
		}
		if 3+len(name)+len(rest) != len(p) {
			t.Fatalf("name %d + rest %d bytes do not add up to %d", len(name), len(rest), len(p))
		}
	})
}

func TestStreamName(t *testing.T) {
	for in, want := range map[string]string{"demo": "demo", "demo?key=1": "demo", "?x": "", "": ""} {
		if got := streamName(in); got != want {
			t.Errorf("streamName(%q) = %q, want %q", in, got, want)
		}
	}
}
