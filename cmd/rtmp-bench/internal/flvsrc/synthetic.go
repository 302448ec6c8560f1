package flvsrc

import (
	"math/rand/v2"
	"sync"

	"github.com/rtmp-edge/rtmp-edge/cmd/rtmp-bench/internal/rtmpraw"
)

// SyntheticParams shape a generated stream.
type SyntheticParams struct {
	Bitrate int // total bits/s; 0 means 2,500,000
	FPS     int // video frames/s; 0 means 25
	GOP     int // frames per keyframe interval; 0 means 2*FPS
}

// Audio is AAC-shaped: 1024 samples at 44.1 kHz per frame, 372 bytes (~128 kbit/s).
const (
	audioFrameBytes = 372
	audioSampleRate = 44100
	audioFrameLen   = 1024
	audioBitrate    = audioFrameBytes * 8 * audioSampleRate / audioFrameLen
	// A keyframe is this many times an inter frame, about what x264 produces.
	keyframeRatio = 8
	minFrameBytes = 64
)

// Synthetic is a generated stream: metadata, AVC and AAC sequence headers,
// then video frames (a keyframe every GOP frames) interleaved with audio.
type Synthetic struct {
	p SyntheticParams
	*payloads
	frame    int // next video frame number
	aframe   int // next audio frame number
	sentHead int
}

// payloads are built once per stream shape and shared by every Synthetic of
// that shape: ten thousand publishers must not hold ten thousand copies.
type payloads struct {
	header []Tag // metadata and sequence headers, sent first
	key    []byte
	inter  []byte
	audio  []byte
}

var (
	payloadMu    sync.Mutex
	payloadCache = map[SyntheticParams]*payloads{}
)

// NewSynthetic returns a stream of shape p.
func NewSynthetic(p SyntheticParams) *Synthetic {
	if p.Bitrate <= 0 {
		p.Bitrate = 2_500_000
	}
	if p.FPS <= 0 {
		p.FPS = 25
	}
	if p.GOP <= 0 {
		p.GOP = 2 * p.FPS
	}
	payloadMu.Lock()
	defer payloadMu.Unlock()
	pl := payloadCache[p]
	if pl == nil {
		pl = buildPayloads(p)
		payloadCache[p] = pl
	}
	return &Synthetic{p: p, payloads: pl}
}

func buildPayloads(p SyntheticParams) *payloads {
	videoBits := max(p.Bitrate-audioBitrate, p.Bitrate/4)
	gopBytes := videoBits / 8 * p.GOP / p.FPS
	inter := max(gopBytes/(p.GOP-1+keyframeRatio), minFrameBytes)
	pl := &payloads{
		key:   videoPayload(0x17, 0x65, inter*keyframeRatio),
		inter: videoPayload(0x27, 0x41, inter),
		audio: append([]byte{0xaf, 0x01}, noise(audioFrameBytes-2)...),
	}
	meta := rtmpraw.AppendString(nil, "@setDataFrame")
	meta = rtmpraw.AppendString(meta, "onMetaData")
	meta = rtmpraw.AppendECMAArray(meta, []rtmpraw.Prop{
		{Key: "width", Value: 1280}, {Key: "height", Value: 720},
		{Key: "framerate", Value: p.FPS}, {Key: "videocodecid", Value: 7},
		{Key: "videodatarate", Value: float64(videoBits) / 1000},
		{Key: "audiocodecid", Value: 10}, {Key: "audiodatarate", Value: float64(audioBitrate) / 1000},
		{Key: "audiosamplerate", Value: audioSampleRate}, {Key: "stereo", Value: true},
		{Key: "encoder", Value: "rtmp-bench synthetic"},
	})
	// A well-formed avcC (High profile, level 3.1, one SPS and one PPS) and
	// an AudioSpecificConfig (AAC LC, 44.1 kHz, stereo).
	avcC := []byte{0x17, 0x00, 0, 0, 0,
		0x01, 0x64, 0x00, 0x1f, 0xff, 0xe1, 0x00, 0x04, 0x67, 0x64, 0x00, 0x1f,
		0x01, 0x00, 0x04, 0x68, 0xee, 0x3c, 0x80}
	asc := []byte{0xaf, 0x00, 0x12, 0x10}
	pl.header = []Tag{{Type: TagScript, Data: meta}, {Type: TagVideo, Data: avcC}, {Type: TagAudio, Data: asc}}
	return pl
}

// videoPayload is an AVC NALU packet: FLV video header, composition time 0,
// one length-prefixed NAL unit of the given type filled with noise.
func videoPayload(first, nalType byte, size int) []byte {
	nal := size - 9
	b := []byte{first, 0x01, 0, 0, 0, byte(nal >> 24), byte(nal >> 16), byte(nal >> 8), byte(nal)}
	b = append(b, nalType)
	return append(b, noise(nal-1)...)
}

func noise(n int) []byte {
	b := make([]byte, n)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// Next returns the next tag.
func (s *Synthetic) Next() Tag {
	if s.sentHead < len(s.header) {
		t := s.header[s.sentHead]
		s.sentHead++
		return t
	}
	vts := uint32(s.frame * 1000 / s.p.FPS)
	ats := uint32(s.aframe * audioFrameLen * 1000 / audioSampleRate)
	if ats < vts {
		s.aframe++
		return Tag{Type: TagAudio, Timestamp: ats, Data: s.audio}
	}
	data := s.inter
	if s.frame%s.p.GOP == 0 {
		data = s.key
	}
	s.frame++
	return Tag{Type: TagVideo, Timestamp: vts, Data: data}
}
