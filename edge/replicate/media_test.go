package replicate

import (
	"testing"

	"github.com/rtmp-edge/rtmp-edge/edge/chunk"
)

// fourCC returns the four bytes of an Enhanced RTMP codec name.
func fourCC(s string) uint32 {
	return uint32(s[0])<<24 | uint32(s[1])<<16 | uint32(s[2])<<8 | uint32(s[3])
}

func cat(parts ...any) []byte {
	var b []byte
	for _, p := range parts {
		switch v := p.(type) {
		case byte:
			b = append(b, v)
		case int:
			b = append(b, byte(v))
		case string:
			b = append(b, v...)
		case []byte:
			b = append(b, v...)
		}
	}
	return b
}

// TestClassify: the first bytes of video and audio tags as legacy FLV and
// Enhanced RTMP write them. The legacy H.264/AAC lines are the first bytes
// of the nginx-ffmpeg-publish capture; the Enhanced RTMP ones are built
// from the tag layout (ex-header bit, 3-bit frame type, 4-bit packet type,
// FourCC, multitrack and ModEx prefixes), since the ffmpeg installed here
// predates Enhanced RTMP.
func TestClassify(t *testing.T) {
	cases := []struct {
		name  string
		typ   uint8
		p     []byte
		role  role
		codec uint32
		track uint16
	}{
		{"AVC sequence header (capture)", chunk.TypeVideo, cat(0x17, 0, 0, 0, 0, 1, 0xf4, 0), roleConfig, codecAVC, 0},
		{"AVC keyframe (capture)", chunk.TypeVideo, cat(0x17, 1, 0, 0, 0xc8, 0), roleKeyframe, codecAVC, 0},
		{"AVC inter frame (capture)", chunk.TypeVideo, cat(0x27, 1, 0, 0, 0xc8), roleFrame, codecAVC, 0},
		{"AVC end of sequence", chunk.TypeVideo, cat(0x17, 2, 0, 0, 0), roleConfigEnd, codecAVC, 0},
		{"legacy HEVC sequence header", chunk.TypeVideo, cat(0x1c, 0, 0, 0, 0), roleConfig, codecHEVCLegacy, 0},
		{"Sorenson H.263 keyframe (capture)", chunk.TypeVideo, cat(0x12, 0, 0, 0x84), roleKeyframe, 2, 0},
		{"Sorenson H.263 inter frame (capture)", chunk.TypeVideo, cat(0x22, 0, 0, 0x84), roleFrame, 2, 0},
		{"AAC sequence header (capture)", chunk.TypeAudio, cat(0xaf, 0, 0x12, 0x08), roleConfig, soundAAC, 0},
		{"AAC frame (capture)", chunk.TypeAudio, cat(0xaf, 1, 0xde, 2), roleFrame, soundAAC, 0},
		{"MP3 frame (capture)", chunk.TypeAudio, cat(0x2e, 0xff, 0xfb), roleFrame, 2, 0},
		{"empty video", chunk.TypeVideo, nil, roleFrame, 0, 0},
		{"empty audio", chunk.TypeAudio, nil, roleFrame, 0, 0},

		{"E-RTMP HEVC SequenceStart", chunk.TypeVideo, cat(0x90, "hvc1", 1, 2, 3), roleConfig, fourCC("hvc1"), 0},
		{"E-RTMP HEVC key CodedFrames", chunk.TypeVideo, cat(0x91, "hvc1", 0, 0, 0, 9), roleKeyframe, fourCC("hvc1"), 0},
		{"E-RTMP HEVC key CodedFramesX", chunk.TypeVideo, cat(0x93, "hvc1", 9), roleKeyframe, fourCC("hvc1"), 0},
		{"E-RTMP HEVC inter CodedFrames", chunk.TypeVideo, cat(0xa1, "hvc1", 0, 0, 0, 9), roleFrame, fourCC("hvc1"), 0},
		{"E-RTMP AV1 SequenceEnd", chunk.TypeVideo, cat(0x92, "av01"), roleConfigEnd, fourCC("av01"), 0},
		{"E-RTMP video Metadata (HDR)", chunk.TypeVideo, cat(0x94, "av01", 2, 0, 9), roleConfig, fourCC("av01"), 0},
		{"E-RTMP MPEG2TSSequenceStart", chunk.TypeVideo, cat(0x95, "av01", 1), roleConfig, fourCC("av01"), 0},
		{"E-RTMP command frame", chunk.TypeVideo, cat(0xd1, "hvc1", 0), roleFrame, 0, 0},
		{"E-RTMP FourCC cut short", chunk.TypeVideo, cat(0x91, "hv"), roleFrame, 0, 0},
		{"E-RTMP multitrack OneTrack SequenceStart", chunk.TypeVideo, cat(0x96, 0x00, "av01", 1, 9), roleConfig, fourCC("av01"), 0x101},
		{"E-RTMP multitrack ManyTracks keyframe", chunk.TypeVideo, cat(0x96, 0x11, "avc1", 0, 0, 0, 1, 9), roleKeyframe, fourCC("avc1"), 0x200},
		{"E-RTMP multitrack ManyTracksManyCodecs SequenceStart", chunk.TypeVideo, cat(0x96, 0x20, "hvc1", 0, 0, 0, 1, 9), roleConfig, fourCC("hvc1"), 0x200},
		{"E-RTMP multitrack OneTrack, no track id", chunk.TypeVideo, cat(0x96, 0x00, "av01"), roleFrame, 0, 0},
		{"E-RTMP ModEx then key CodedFrames", chunk.TypeVideo, cat(0x97, 2, 7, 7, 7, 0x01, "hvc1", 0, 0, 0), roleKeyframe, fourCC("hvc1"), 0},
		{"E-RTMP ModEx with a 16-bit size", chunk.TypeVideo, cat(0x97, 0xff, 0, 1, 7, 7, 0x00, "vp09", 1), roleConfig, fourCC("vp09"), 0},
		{"E-RTMP ModEx cut short", chunk.TypeVideo, cat(0x97, 9, 7), roleFrame, 0, 0},

		{"E-RTMP Opus SequenceStart", chunk.TypeAudio, cat(0x90, "Opus", 1), roleConfig, fourCC("Opus"), 0},
		{"E-RTMP Opus CodedFrames", chunk.TypeAudio, cat(0x91, "Opus", 1), roleFrame, fourCC("Opus"), 0},
		{"E-RTMP audio MultichannelConfig", chunk.TypeAudio, cat(0x94, "Opus", 1, 2), roleConfig, fourCC("Opus"), 0},
		{"E-RTMP audio SequenceEnd", chunk.TypeAudio, cat(0x92, "mp4a"), roleConfigEnd, fourCC("mp4a"), 0},
		{"E-RTMP audio multitrack OneTrack SequenceStart", chunk.TypeAudio, cat(0x95, 0x00, "mp4a", 2, 9), roleConfig, fourCC("mp4a"), 0x102},
		{"E-RTMP audio ModEx then SequenceStart", chunk.TypeAudio, cat(0x97, 0, 5, 0x10, "fLaC", 1), roleConfig, fourCC("fLaC"), 0},
	}
	for _, c := range cases {
		r, key := classify(c.typ, c.p)
		if r != c.role {
			t.Errorf("%s (% x): role %d, want %d", c.name, c.p, r, c.role)
			continue
		}
		if r == roleConfig || r == roleConfigEnd {
			if key.codec != c.codec || key.track != c.track {
				t.Errorf("%s: key %+v, want codec %08x track %#x", c.name, key, c.codec, c.track)
			}
		}
	}
}

// TestConfigsPerTrack: a new sequence header replaces the one of its own
// codec and track only, a sequence end forgets it, and the count is bounded.
func TestConfigsPerTrack(t *testing.T) {
	var s stream
	set := func(p []byte) {
		r, key := classify(chunk.TypeVideo, p)
		switch r {
		case roleConfig:
			s.setConfig(key, entry{typ: chunk.TypeVideo, payload: p})
		case roleConfigEnd:
			s.dropConfig(key)
		}
	}
	set(cat(0x96, 0x00, "av01", 1, 1))
	set(cat(0x96, 0x00, "av01", 2, 1))
	set(cat(0x96, 0x00, "av01", 1, 2)) // replaces track 1's
	set(cat(0x17, 0, 1))
	if len(s.configs) != 3 || s.configs[0].e.payload[len(s.configs[0].e.payload)-1] != 2 {
		t.Fatalf("configs %+v, want track 1 (replaced), track 2, AVC", s.configs)
	}
	set(cat(0x17, 2, 0))
	if len(s.configs) != 2 {
		t.Fatalf("after the AVC end of sequence: %+v", s.configs)
	}
	for i := range 100 {
		set(cat(0x96, 0x00, "av01", i, 1))
	}
	if len(s.configs) != maxConfigs {
		t.Errorf("%d configurations kept, want the bound %d", len(s.configs), maxConfigs)
	}
}
