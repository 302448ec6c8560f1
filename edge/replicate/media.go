package replicate

import (
	"bytes"
	"encoding/binary"

	"github.com/rtmp-edge/rtmp-edge/edge/amf0"
	"github.com/rtmp-edge/rtmp-edge/edge/chunk"
)

// role is what a media message means to a replica that joins late.
type role uint8

const (
	roleFrame     role = iota // an ordinary frame or data message
	roleKeyframe              // a video frame a decoder can start from
	roleConfig                // decoder configuration a joiner needs first (sequence header, …)
	roleConfigEnd             // the end of a configuration (sequence end): forget it
	roleMetadata              // @setDataFrame/onMetaData: the latest is replayed to joiners
)

// configKey tells configurations apart, so that a new sequence header
// replaces the old one of its track and codec only: message type, codec
// (legacy codec id or Enhanced RTMP FourCC), track, and which kind of
// configuration (sequence start, multichannel config, video metadata, …).
type configKey struct {
	typ   uint8
	codec uint32
	track uint16 // 0x100 + id for a multitrack OneTrack packet, 0x200 for a packet of many tracks
	kind  uint8  // the (inner) packet type
}

// FLV tag header values (legacy and Enhanced RTMP).
const (
	videoFrameKey     = 1
	videoFrameCommand = 5
	codecAVC          = 7
	codecHEVCLegacy   = 12 // pre-standard HEVC-in-FLV, same layout as AVC
	soundAAC          = 10
	soundExHeader     = 9

	// Enhanced RTMP video packet types.
	videoSequenceStart      = 0
	videoCodedFrames        = 1
	videoSequenceEnd        = 2
	videoCodedFramesX       = 3
	videoMetadata           = 4
	videoMPEG2TSSeqStart    = 5
	videoMultitrack         = 6
	videoModEx              = 7
	multitrackOneTrack      = 0
	multitrackManyTracksAll = 2 // ManyTracksManyCodecs: every track names its own FourCC

	// Enhanced RTMP audio packet types.
	audioSequenceStart      = 0
	audioSequenceEnd        = 2
	audioMultichannelConfig = 4
	audioMultitrack         = 5
	audioModEx              = 7
)

// classifyVideo reads the first bytes of a video message (an FLV video tag
// body): legacy (frame type, codec id, AVC packet type) or Enhanced RTMP
// (ex-header bit, frame type, packet type, ModEx prefixes, multitrack).
// Short or unknown payloads are ordinary frames: they pass unchanged.
func classifyVideo(p []byte) (role, configKey) {
	key := configKey{typ: chunk.TypeVideo}
	if len(p) == 0 {
		return roleFrame, key
	}
	if p[0]&0x80 == 0 { // legacy
		frame, codec := p[0]>>4, p[0]&0x0f
		key.codec = uint32(codec)
		if (codec == codecAVC || codec == codecHEVCLegacy) && len(p) >= 2 {
			switch p[1] {
			case 0:
				return roleConfig, key
			case 2:
				return roleConfigEnd, key
			}
		}
		if frame == videoFrameKey {
			return roleKeyframe, key
		}
		return roleFrame, key
	}
	frame, pt := (p[0]>>4)&0x07, p[0]&0x0f
	if frame == videoFrameCommand {
		return roleFrame, key
	}
	i, pt, ok := skipModEx(p, 1, pt, videoModEx)
	if !ok {
		return roleFrame, key
	}
	if pt == videoMultitrack {
		var ok bool
		if i, pt, key.codec, key.track, ok = multitrack(p, i); !ok {
			return roleFrame, key
		}
	} else {
		if len(p) < i+4 {
			return roleFrame, key
		}
		key.codec = binary.BigEndian.Uint32(p[i:])
	}
	key.kind = pt
	switch pt {
	case videoSequenceStart, videoMPEG2TSSeqStart, videoMetadata:
		return roleConfig, key
	case videoSequenceEnd:
		key.kind = videoSequenceStart
		return roleConfigEnd, key
	case videoCodedFrames, videoCodedFramesX:
		if frame == videoFrameKey {
			return roleKeyframe, key
		}
	}
	return roleFrame, key
}

// classifyAudio reads the first bytes of an audio message: AAC's packet
// type, or Enhanced RTMP's audio packet type (ModEx, multitrack).
func classifyAudio(p []byte) (role, configKey) {
	key := configKey{typ: chunk.TypeAudio}
	if len(p) == 0 {
		return roleFrame, key
	}
	format := p[0] >> 4
	key.codec = uint32(format)
	switch format {
	case soundAAC:
		if len(p) >= 2 && p[1] == 0 {
			return roleConfig, key
		}
		return roleFrame, key
	case soundExHeader:
	default:
		return roleFrame, key
	}
	i, pt, ok := skipModEx(p, 1, p[0]&0x0f, audioModEx)
	if !ok {
		return roleFrame, key
	}
	if pt == audioMultitrack {
		var ok bool
		if _, pt, key.codec, key.track, ok = multitrack(p, i); !ok {
			return roleFrame, key
		}
	} else {
		if len(p) < i+4 {
			return roleFrame, key
		}
		key.codec = binary.BigEndian.Uint32(p[i:])
	}
	key.kind = pt
	switch pt {
	case audioSequenceStart, audioMultichannelConfig:
		return roleConfig, key
	case audioSequenceEnd:
		key.kind = audioSequenceStart
		return roleConfigEnd, key
	}
	return roleFrame, key
}

// skipModEx steps over Enhanced RTMP ModEx prefixes: while the packet type
// is ModEx, a size (UI8+1, or UI16+1 after 0xFF), that many bytes, then a
// byte whose low nibble is the next packet type. It returns the offset after
// the last one and the real packet type; false when the payload is too short.
func skipModEx(p []byte, i int, pt, modEx uint8) (int, uint8, bool) {
	for n := 0; pt == modEx; n++ {
		if n == 8 || len(p) < i+1 { // real streams carry one; bound the loop anyway
			return i, pt, false
		}
		size := int(p[i]) + 1
		i++
		if size == 256 {
			if len(p) < i+2 {
				return i, pt, false
			}
			size = int(binary.BigEndian.Uint16(p[i:])) + 1
			i += 2
		}
		i += size
		if len(p) < i+1 {
			return i, pt, false
		}
		pt = p[i] & 0x0f
		i++
	}
	return i, pt, true
}

// multitrack reads an Enhanced RTMP multitrack prefix at p[i]: the
// multitrack type and the inner packet type, the FourCC (absent for
// ManyTracksManyCodecs, whose first track names it) and, for OneTrack, the
// track id.
func multitrack(p []byte, i int) (next int, pt uint8, codec uint32, track uint16, ok bool) {
	if len(p) < i+1 {
		return i, 0, 0, 0, false
	}
	mt, pt := p[i]>>4, p[i]&0x0f
	i++
	if len(p) < i+4 {
		return i, pt, 0, 0, false
	}
	codec = binary.BigEndian.Uint32(p[i:])
	if mt != multitrackManyTracksAll {
		i += 4
	}
	track = 0x200
	if mt == multitrackOneTrack {
		if len(p) < i+1 {
			return i, pt, codec, 0, false
		}
		track = 0x100 | uint16(p[i])
	}
	return i, pt, codec, track, true
}

// metadataPrefix and onMetaDataPrefix start the data messages whose latest
// copy a joiner gets: "@setDataFrame" "onMetaData" (how encoders set it) or
// a bare "onMetaData".
var (
	metadataPrefix   = amf0.AppendString(amf0.AppendString(nil, "@setDataFrame"), "onMetaData")
	onMetaDataPrefix = amf0.AppendString(nil, "onMetaData")
)

// classify says what a media message is to a joiner.
func classify(typ uint8, p []byte) (role, configKey) {
	switch typ {
	case chunk.TypeVideo:
		return classifyVideo(p)
	case chunk.TypeAudio:
		return classifyAudio(p)
	case chunk.TypeDataAMF0:
		if bytes.HasPrefix(p, metadataPrefix) || bytes.HasPrefix(p, onMetaDataPrefix) {
			return roleMetadata, configKey{typ: typ}
		}
	}
	return roleFrame, configKey{typ: typ}
}
