package harness

import (
	"context"
	"crypto/md5"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"sync"
	"time"

	rtmp "github.com/yutopp/go-rtmp"
	rtmpmsg "github.com/yutopp/go-rtmp/message"
)

// readLoop reads messages until the connection ends. It recovers panics from
// go-rtmp's reader (a zero-length message makes it panic) and records them as the
// player's error.
func (p *Player) readLoop() {
	defer close(p.done)
	defer func() {
		if r := recover(); r != nil {
			p.setErr(fmt.Errorf("player read loop panicked: %v", r))
		}
	}()
	var cm rtmp.ChunkMessage
	undecodable := 0
	for {
		_ = p.conn.SetReadDeadline(time.Now().Add(playerReadIdle))
		_, _, err := p.cs.Read(&cm)
		if err != nil {
			if ioErr := p.in.Err(); ioErr != nil {
				p.setErr(fmt.Errorf("player read: %w", ioErr))
				return
			}
			// go-rtmp read a whole message it cannot decode: skip it, unless
			// the stream is garbage.
			if undecodable++; undecodable > maxUndecodable {
				p.setErr(fmt.Errorf("player read: %d undecodable messages, last: %w", undecodable, err))
				return
			}
			continue
		}
		p.handle(cm.Message)
	}
}

// maxUndecodable ends a player that receives this many messages go-rtmp cannot decode.
const maxUndecodable = 100

// errReader remembers the first error of the reader it wraps, so that the read
// loop tells a transport failure from a message go-rtmp could not decode.
type errReader struct {
	r   io.Reader
	mu  sync.Mutex
	err error
}

func (e *errReader) Read(b []byte) (int, error) {
	n, err := e.r.Read(b)
	if err != nil {
		e.mu.Lock()
		if e.err == nil {
			e.err = err
		}
		e.mu.Unlock()
	}
	return n, err
}

// Err is the first error the wrapped reader returned, if any.
func (e *errReader) Err() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.err
}

func (p *Player) handle(m rtmpmsg.Message) {
	switch m := m.(type) {
	case *rtmpmsg.SetChunkSize:
		_ = p.cs.PeerState().SetChunkSize(m.ChunkSize)
	case *rtmpmsg.UserCtrl:
		if ping, ok := m.Event.(*rtmpmsg.UserCtrlEventPingRequest); ok {
			// Answer pings: nginx-rtmp drops clients that stop answering.
			body := binary.BigEndian.AppendUint16(nil, 7)
			body = binary.BigEndian.AppendUint32(body, ping.Timestamp)
			_ = p.write(context.Background(), Chunk(2, TypeUserControl, 0, body, 128, -1))
		}
	case *rtmpmsg.CommandMessage:
		c := command{name: m.CommandName, txID: m.TransactionID}
		dec := rtmpmsg.NewAMFDecoder(m.Body, rtmpmsg.EncodingTypeAMF0)
		for range 16 {
			var v any
			if err := dec.Decode(&v); err != nil {
				break
			}
			c.args = append(c.args, v)
		}
		select {
		case p.cmds <- c:
		default: // nobody waits for commands after setup
		}
	case *rtmpmsg.AudioMessage:
		p.media("aac", m.Payload, 2)
	case *rtmpmsg.VideoMessage:
		p.media("h264", m.Payload, 5)
	}
}

// media records an AAC or AVC packet. Sequence headers (packet type 0) become
// ffmpeg's extradata, not packets; raw data (type 1) is hashed after the FLV tag
// header (2 bytes for AAC, 5 for AVC) exactly as ffmpeg's demuxer delivers it.
func (p *Player) media(codec string, r io.Reader, header int) {
	b, err := io.ReadAll(r)
	if err != nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.bytes += int64(len(b))
	if len(b) <= header || b[1] != 1 {
		return
	}
	sum := md5.Sum(b[header:])
	p.packets = append(p.packets, Packet{Codec: codec, Size: len(b) - header, Hash: hex.EncodeToString(sum[:])})
}
