package flvsrc

import (
	"time"

	"github.com/rtmp-edge/rtmp-edge/cmd/rtmp-bench/internal/rtmpraw"
)

// SendOptions shape how Send writes a stream.
type SendOptions struct {
	StreamID  uint32 // the RTMP message stream id
	ChunkSize int    // the outgoing chunk size the peer was told
	// Bitrate paces the payload bytes to this many bits/s; 0 sends as fast
	// as the connection takes it, in batches of about 64 KiB per write.
	Bitrate int
	// ToPlayer sends script tags as "onMetaData" without the publisher's
	// "@setDataFrame", as a server sends them to players.
	ToPlayer bool
}

// sendBatch is how many bytes an unpaced sender gathers per write.
const sendBatch = 64 << 10

// Send writes src's tags as RTMP messages through write until done is closed
// (it then returns nil) or write fails (it returns that error). Each message
// is chunked straight into one reused buffer, so a write carries whole
// messages and nothing is allocated per message.
func Send(done <-chan struct{}, src Source, write func([]byte) error, o SendOptions) error {
	buf := make([]byte, 0, sendBatch+o.ChunkSize+64)
	start := time.Now()
	var sentBits float64
	for {
		t := src.Next()
		csid := rtmpraw.CSIDVideo
		switch t.Type {
		case TagAudio:
			csid = rtmpraw.CSIDAudio
		case TagScript:
			csid = rtmpraw.CSIDData
			if o.ToPlayer && len(t.Data) > len(setDataFrame) && string(t.Data[:len(setDataFrame)]) == string(setDataFrame) {
				t.Data = t.Data[len(setDataFrame):]
			}
		}
		buf = rtmpraw.AppendMessage(buf, o.ChunkSize, csid, t.Timestamp, t.Type, o.StreamID, t.Data)
		sentBits += float64(len(t.Data) * 8)
		if o.Bitrate == 0 && len(buf) < sendBatch {
			continue
		}
		if err := write(buf); err != nil {
			return err
		}
		buf = buf[:0]
		if o.Bitrate > 0 {
			due := start.Add(time.Duration(sentBits / float64(o.Bitrate) * float64(time.Second)))
			if wait := time.Until(due); wait > 0 {
				timer := time.NewTimer(wait)
				select {
				case <-done:
					timer.Stop()
					return nil
				case <-timer.C:
				}
			}
		}
		select {
		case <-done:
			return nil
		default:
		}
	}
}
