package chunk

// RTMP message type IDs (RTMP spec §5.4, §7.1).
const (
	TypeSetChunkSize     uint8 = 1
	TypeAbort            uint8 = 2
	TypeAck              uint8 = 3
	TypeUserControl      uint8 = 4
	TypeWindowAckSize    uint8 = 5
	TypeSetPeerBandwidth uint8 = 6
	TypeAudio            uint8 = 8
	TypeVideo            uint8 = 9
	TypeDataAMF3         uint8 = 15
	TypeSharedObjectAMF3 uint8 = 16
	TypeCommandAMF3      uint8 = 17
	TypeDataAMF0         uint8 = 18
	TypeSharedObjectAMF0 uint8 = 19
	TypeCommandAMF0      uint8 = 20
	TypeAggregate        uint8 = 22
)

// Kept reports whether the Scanner buffers and emits messages of type t:
// the protocol control messages (1–6) and the commands (17, 20), which is
// all the edge needs to follow a session up to publish/play. Media, data
// (metadata, @setDataFrame), shared objects, aggregates and unknown types
// are skipped without being buffered: they can be large, and none of them
// routes a session.
func Kept(t uint8) bool {
	switch t {
	case TypeSetChunkSize, TypeAbort, TypeAck, TypeUserControl, TypeWindowAckSize, TypeSetPeerBandwidth,
		TypeCommandAMF3, TypeCommandAMF0:
		return true
	}
	return false
}

// Media reports whether messages of type t carry the published stream
// itself: audio, video and the data messages (metadata, @setDataFrame, in
// AMF0 or AMF3). A Scanner keeps them only when Limits.MaxMedia is set.
// Aggregates (22) are not among them: no publisher sends them.
func Media(t uint8) bool {
	switch t {
	case TypeAudio, TypeVideo, TypeDataAMF0, TypeDataAMF3:
		return true
	}
	return false
}
