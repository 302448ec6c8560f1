package rtmpraw

import (
	"encoding/binary"

	"github.com/rtmp-edge/rtmp-edge/edge/chunk"
)

// Message type ids.
const (
	TypeSetChunkSize     = 1
	TypeAbort            = 2
	TypeAck              = 3
	TypeUserControl      = 4
	TypeWindowAckSize    = 5
	TypeSetPeerBandwidth = 6
	TypeAudio            = 8
	TypeVideo            = 9
	TypeDataAMF3         = 15
	TypeCommandAMF3      = 17
	TypeDataAMF0         = 18
	TypeCommandAMF0      = 20
	TypeAggregate        = 22
)

// Chunk stream ids this package writes on (FFmpeg's choice).
const (
	CSIDControl = 2
	CSIDCommand = 3
	CSIDAudio   = 4
	CSIDData    = 5
	CSIDVideo   = 6
)

// User control events.
const (
	EventStreamBegin     = 0
	EventStreamEOF       = 1
	EventSetBufferLength = 3
	EventPingRequest     = 6
	EventPingResponse    = 7
)

const extendedTimestamp = 0xffffff

// AppendMessage appends one message as chunks of at most chunkSize payload
// bytes: a type-0 header, then type-3 continuation headers. Timestamps at or
// above 0xFFFFFF go in the extended field, repeated on every continuation
// chunk as FFmpeg and Flash do. csid must be 2..63. The headers are the
// edge's own (chunk.AppendHeader), so the benchmark speaks exactly what the
// edge's scanner reads; the function stays stateless and allocation-free
// for the load generator's hot path.
func AppendMessage(b []byte, chunkSize int, csid int, ts uint32, typ uint8, streamID uint32, payload []byte) []byte {
	st := chunk.State{StreamID: streamID, Type: typ, Length: uint32(len(payload)), Timestamp: ts, Delta: ts,
		Extended: ts >= extendedTimestamp}
	id := uint32(csid & 0x3f)
	b = chunk.AppendHeader(b, 0, id, st)
	for {
		k := min(chunkSize, len(payload))
		b = append(b, payload[:k]...)
		payload = payload[k:]
		if len(payload) == 0 {
			return b
		}
		b = chunk.AppendHeader(b, 3, id, st)
	}
}

// AppendSetChunkSize appends a Set Chunk Size message.
func AppendSetChunkSize(b []byte, size uint32) []byte {
	return AppendMessage(b, 128, CSIDControl, 0, TypeSetChunkSize, 0, binary.BigEndian.AppendUint32(nil, size&0x7fffffff))
}

// AppendAck appends an Acknowledgement of seq bytes received.
func AppendAck(b []byte, seq uint32) []byte {
	return AppendMessage(b, 128, CSIDControl, 0, TypeAck, 0, binary.BigEndian.AppendUint32(nil, seq))
}

// AppendWindowAckSize appends a Window Acknowledgement Size message.
func AppendWindowAckSize(b []byte, size uint32) []byte {
	return AppendMessage(b, 128, CSIDControl, 0, TypeWindowAckSize, 0, binary.BigEndian.AppendUint32(nil, size))
}

// AppendSetPeerBandwidth appends Set Peer Bandwidth with the dynamic limit type.
func AppendSetPeerBandwidth(b []byte, size uint32) []byte {
	return AppendMessage(b, 128, CSIDControl, 0, TypeSetPeerBandwidth, 0, append(binary.BigEndian.AppendUint32(nil, size), 2))
}

// AppendUserControl appends a user control event with one 32-bit argument
// (a stream id or a ping timestamp).
func AppendUserControl(b []byte, event uint16, arg uint32) []byte {
	p := binary.BigEndian.AppendUint16(nil, event)
	p = binary.BigEndian.AppendUint32(p, arg)
	return AppendMessage(b, 128, CSIDControl, 0, TypeUserControl, 0, p)
}

// AppendSetBufferLength appends the user control event players send before play.
func AppendSetBufferLength(b []byte, streamID, ms uint32) []byte {
	p := binary.BigEndian.AppendUint16(nil, EventSetBufferLength)
	p = binary.BigEndian.AppendUint32(p, streamID)
	p = binary.BigEndian.AppendUint32(p, ms)
	return AppendMessage(b, 128, CSIDControl, 0, TypeUserControl, 0, p)
}
