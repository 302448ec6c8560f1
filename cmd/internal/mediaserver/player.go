package mediaserver

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/yutopp/go-rtmp"
	"github.com/yutopp/go-rtmp/message"
)

// ErrNoPlayStart means go-rtmp never wrote its NetStream.Play.Start answer.
var ErrNoPlayStart = errors.New("play start was not sent")

// Chunk stream ids for what a player receives (the ones nginx-rtmp uses).
const (
	csidControl = 2
	csidData    = 5
	csidAudio   = 6
	csidVideo   = 7
)

const playStartTimeout = 10 * time.Second

// playerSink writes a stream to a playing client through its go-rtmp connection.
type playerSink struct {
	conn        *rtmp.Conn
	timeout     time.Duration // per write
	streamID    uint32
	playStarted <-chan struct{} // closed once go-rtmp has written Play.Start
	began       bool
}

func (p *playerSink) write(m *mediaMsg) error {
	if !p.began {
		if err := p.begin(); err != nil {
			return err
		}
	}
	switch m.kind {
	case kindAudio:
		return p.send(csidAudio, m.ts, &message.AudioMessage{Payload: bytes.NewReader(m.payload)})
	case kindVideo:
		return p.send(csidVideo, m.ts, &message.VideoMessage{Payload: bytes.NewReader(m.payload)})
	case kindMeta:
		// Players get "onMetaData" without the publisher's "@setDataFrame".
		name, rest, ok := splitDataName(m.payload)
		if !ok {
			return nil
		}
		return p.send(csidData, m.ts, &message.DataMessage{Name: name, Encoding: message.EncodingTypeAMF0, Body: bytes.NewReader(rest)})
	case kindEnd:
		// FFmpeg and librtmp end playback on UnpublishNotify, as nginx-rtmp sends it.
		if err := p.send(csidControl, 0, &message.UserCtrl{Event: &message.UserCtrlEventStreamEOF{StreamID: p.streamID}}); err != nil {
			return err
		}
		return p.status("NetStream.Play.UnpublishNotify", "Stream is now unpublished.")
	}
	return nil
}

// begin waits for go-rtmp's Play.Start, then sends Stream Begin.
func (p *playerSink) begin() error {
	select {
	case <-p.playStarted:
	case <-time.After(playStartTimeout):
		return ErrNoPlayStart
	}
	p.began = true
	return p.send(csidControl, 0, &message.UserCtrl{Event: &message.UserCtrlEventStreamBegin{StreamID: p.streamID}})
}

func (p *playerSink) status(code, description string) error {
	var body bytes.Buffer
	enc := message.NewAMFEncoder(&body, message.EncodingTypeAMF0)
	err := message.EncodeBodyAnyValues(enc, &message.NetStreamOnStatus{InfoObject: message.NetStreamOnStatusInfoObject{
		Level: message.NetStreamOnStatusLevelStatus, Code: message.NetStreamOnStatusCode(code), Description: description,
	}})
	if err != nil {
		return fmt.Errorf("encode onStatus %s: %w", code, err)
	}
	return p.send(csidData, 0, &message.CommandMessage{CommandName: "onStatus", Encoding: message.EncodingTypeAMF0, Body: &body})
}

func (p *playerSink) send(csid int, ts uint32, msg message.Message) error {
	ctx, cancel := context.WithTimeout(context.Background(), p.timeout)
	defer cancel()
	sid := p.streamID
	if _, control := msg.(*message.UserCtrl); control {
		sid = 0
	}
	if err := p.conn.Write(ctx, csid, ts, &rtmp.ChunkMessage{StreamID: sid, Message: msg}); err != nil {
		return fmt.Errorf("write to player: %w", err)
	}
	return nil
}

func (p *playerSink) close() { _ = p.conn.Close() }
