package mediaserver

// mediaKind says what a mediaMsg carries and so how each sink writes it.
type mediaKind uint8

const (
	kindAudio mediaKind = iota + 1
	kindVideo
	kindMeta // the payload of @setDataFrame: AMF0 "onMetaData" followed by its object
	kindEnd  // the publisher left: players get NetStream.Play.UnpublishNotify, pushes disconnect
)

// mediaMsg is one published message. The payload is shared by every subscriber
// and never modified after the publisher built it.
type mediaMsg struct {
	kind    mediaKind
	ts      uint32
	payload []byte
}

// FLV tag body layouts (video: frame type<<4 | codec id, then AVCPacketType for
// AVC; audio: format<<4 | ..., then AACPacketType for AAC). Enhanced RTMP video
// sets the top bit and moves the packet type into the low nibble.
const (
	flvFrameKey      = 1
	flvCodecAVC      = 7
	flvSoundAAC      = 10
	flvExHeaderFlag  = 0x80
	flvExSequenceHdr = 0
)

// isKeyframe reports whether a video payload starts a GOP.
func isKeyframe(p []byte) bool {
	if len(p) < 1 {
		return false
	}
	if p[0]&flvExHeaderFlag != 0 {
		return (p[0]>>4)&0x07 == flvFrameKey
	}
	return p[0]>>4 == flvFrameKey
}

// isVideoSequenceHeader reports an AVC decoder configuration record (or the
// enhanced-RTMP sequence start), which players need before any frame.
func isVideoSequenceHeader(p []byte) bool {
	if len(p) < 2 {
		return false
	}
	if p[0]&flvExHeaderFlag != 0 {
		return p[0]&0x0f == flvExSequenceHdr
	}
	return p[0]&0x0f == flvCodecAVC && p[1] == 0
}

// isAudioSequenceHeader reports an AAC AudioSpecificConfig.
func isAudioSequenceHeader(p []byte) bool {
	return len(p) >= 2 && p[0]>>4 == flvSoundAAC && p[1] == 0
}

// splitDataName splits an AMF0 data payload into its leading string (the
// handler name, "onMetaData") and the rest. ok is false when the payload does
// not start with a complete AMF0 string.
func splitDataName(p []byte) (name string, rest []byte, ok bool) {
	const amf0String = 0x02
	if len(p) < 3 || p[0] != amf0String {
		return "", nil, false
	}
	n := int(p[1])<<8 | int(p[2])
	if len(p) < 3+n {
		return "", nil, false
	}
	return string(p[3 : 3+n]), p[3+n:], true
}
