// Package flvsrc produces the FLV tags a bench publisher sends: a synthetic
// H.264/AAC-shaped stream sized for a bitrate, or the tags of an FLV file,
// looped. Payloads are shared and never modified, so any number of
// publishers can send them without copying.
package flvsrc

// FLV tag types (= RTMP message types).
const (
	TagAudio  = 8
	TagVideo  = 9
	TagScript = 18
)

// Tag is one message to publish. Data is ready to send as the RTMP payload
// (script tags already carry "@setDataFrame").
type Tag struct {
	Type      uint8
	Timestamp uint32 // ms
	Data      []byte
}

// Source yields tags forever, in timestamp order.
type Source interface {
	Next() Tag
}
