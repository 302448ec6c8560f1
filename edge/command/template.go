package command

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/rtmp-edge/rtmp-edge/edge/amf0"
	"github.com/rtmp-edge/rtmp-edge/edge/chunk"
)

// Family is the kind of media server a template came from. It decides how
// the edge answers the calls between connect and publish/play: each family
// answers them differently, and the client should get, before routing,
// what it would get from the server it ends up on.
type Family int

const (
	// FamilyNginx: nginx-rtmp. Answers connect (Window Ack Size, Set Peer
	// Bandwidth, Set Chunk Size, _result) and createStream (always stream
	// 1: one message stream per connection), nothing else: it has no
	// handler for releaseStream, FCPublish, FCSubscribe, getStreamLength,
	// _checkbw or unknown calls (ngx_rtmp_cmd_module.c; seen in the
	// captures in testdata/).
	FamilyNginx Family = iota
	// FamilyCrtmpserver: crtmpserver. Window Ack Size, Set Peer Bandwidth,
	// StreamBegin(0), _result, onBWDone with compressed headers and no Set
	// Chunk Size; createStream gives the lowest free stream ID from 1
	// (freed by deleteStream only); releaseStream of a stream not published
	// yet is an _error ("Specified stream not found in call to
	// releaseStream"), FCPublish a _result(null, null) plus onFCPublish,
	// FCSubscribe an onFCSubscribe, getStreamLength a _result(0), and any
	// other call with a transaction ID an _error NetConnection.Call.Failed
	// ("call to function X failed"); every answer on the chunk stream of
	// its call (BaseRTMPAppProtocolHandler; testdata/crtmpserver-*).
	FamilyCrtmpserver
	// FamilySRS: SRS. Window Ack Size, Set Peer Bandwidth, Set Chunk Size,
	// _result (fmsVer FMS/3,5,3,888 and a data object), onBWDone; stream 1
	// always; releaseStream, FCPublish and other calls get _result(null,
	// undefined); getStreamLength nothing.
	FamilySRS
)

func (f Family) String() string {
	switch f {
	case FamilyCrtmpserver:
		return "crtmpserver"
	case FamilySRS:
		return "srs"
	}
	return "nginx-rtmp"
}

// Template is a media server's connect reply, the model of the edge's own:
// the messages in the order and on the chunk streams the server sent them,
// the _result among them, and whether the server compressed its headers.
type Template struct {
	Family Family
	// Messages are the server's reply messages after S2, in order: control
	// messages, the _result (Messages[Result]) and what came right after it
	// (onBWDone). Payloads are owned by the Template.
	Messages []chunk.Message
	Result   int
	// Compress: the server started messages with fmt 1–3 headers where it
	// could (crtmpserver), so the edge does the same to leave the client in
	// the header state the server's later messages assume.
	Compress bool
	// LowestFreeStreamID: the server numbers createStream answers with the
	// lowest free ID from 1 (crtmpserver, Red5) rather than always 1
	// (nginx-rtmp, SRS).
	LowestFreeStreamID bool
}

// ErrTemplate: a reply the edge cannot learn an answer shape from.
var ErrTemplate = errors.New("command: unusable connect reply")

// maxTemplateMessages bounds a learned template (a real reply has 4–6).
const maxTemplateMessages = 16

// LearnTemplate reads a server's connect reply (the bytes after S2 up to
// and including the _result to transaction 1, and what came with it; the
// rtmp health check's ConnectResult.Reply) into a Template.
func LearnTemplate(reply []byte) (Template, error) {
	var t Template
	t.Result = -1
	r := newReader()
	var buf []byte
	err := r.feed(reply, func(p *piece) error {
		if p.start && p.fmtID != 0 {
			t.Compress = true
		}
		if p.start {
			buf = buf[:0]
		}
		buf = append(buf, p.payload...)
		if !p.end {
			if len(buf) > 64<<10 {
				return fmt.Errorf("%w: a %d-byte message", ErrTemplate, p.st.Length)
			}
			return nil
		}
		if len(t.Messages) == maxTemplateMessages {
			return fmt.Errorf("%w: more than %d messages", ErrTemplate, maxTemplateMessages)
		}
		m := chunk.Message{CSID: p.csid, Type: p.st.Type, StreamID: p.st.StreamID, Timestamp: p.st.Timestamp, Payload: bytes.Clone(buf)}
		switch m.Type {
		case chunk.TypeSetChunkSize:
			if len(m.Payload) < 4 {
				return fmt.Errorf("%w: short Set Chunk Size", ErrTemplate)
			}
			if err := r.setChunkSize(binary.BigEndian.Uint32(m.Payload)); err != nil {
				return fmt.Errorf("%w: %w", ErrTemplate, err)
			}
		case chunk.TypeCommandAMF0:
			cmd, err := amf0.ParseCommand(m.Payload, m.Type)
			if t.Result < 0 && err == nil && cmd.Name == "_result" && cmd.TxID == 1 {
				t.Result = len(t.Messages)
			} else if t.Result >= 0 && (err != nil || cmd.Name != "onBWDone") {
				return nil // after the reply only onBWDone belongs to a connect answer
			}
		}
		if t.Result >= 0 && len(t.Messages) > t.Result && m.Type != chunk.TypeCommandAMF0 {
			return nil
		}
		t.Messages = append(t.Messages, m)
		return nil
	})
	if err != nil {
		if !errors.Is(err, ErrTemplate) {
			err = fmt.Errorf("%w: %w", ErrTemplate, err)
		}
		return Template{}, err
	}
	if t.Result < 0 {
		return Template{}, fmt.Errorf("%w: no _result to transaction 1", ErrTemplate)
	}
	t.Family = t.family()
	t.LowestFreeStreamID = t.Family == FamilyCrtmpserver
	return t, nil
}

// family tells the server kind from its reply: SRS names itself in the
// information's data (srs_*) or by its fmsVer; crtmpserver and nginx-rtmp
// both say FMS/3,0,1,123, but only crtmpserver sends StreamBegin(0) and
// onBWDone with a connect reply, and compresses headers.
func (t *Template) family() Family {
	cmd, _ := amf0.ParseCommand(t.Messages[t.Result].Payload, chunk.TypeCommandAMF0)
	if v, _ := cmd.Object.String("fmsVer"); strings.HasPrefix(v, "FMS/3,5,3") {
		return FamilySRS
	}
	if len(cmd.Args) > 0 {
		if info, ok := cmd.Args[0].(amf0.Object); ok {
			if d, ok := info.Get("data"); ok {
				var props []amf0.Property
				switch d := d.(type) {
				case amf0.Object:
					props = d
				case amf0.ECMAArray:
					props = d
				}
				for _, p := range props {
					if strings.HasPrefix(p.Key, "srs_") {
						return FamilySRS
					}
				}
			}
		}
	}
	for _, m := range t.Messages[:t.Result] {
		if m.Type == chunk.TypeUserControl && isStreamBegin0(m.Payload) {
			return FamilyCrtmpserver
		}
	}
	if t.Compress {
		return FamilyCrtmpserver
	}
	return FamilyNginx
}

// nginxReply is nginx-rtmp's connect reply as captured (testdata/nginx-*.server.bin,
// chunk_size 4096): Window Ack Size 5000000, Set Peer Bandwidth 5000000
// dynamic, Set Chunk Size 4096, _result.
var nginxReply = []byte{
	0x02, 0, 0, 0, 0, 0, 4, 5, 0, 0, 0, 0, 0x00, 0x4c, 0x4b, 0x40,
	0x02, 0, 0, 0, 0, 0, 5, 6, 0, 0, 0, 0, 0x00, 0x4c, 0x4b, 0x40, 2,
	0x02, 0, 0, 0, 0, 0, 4, 1, 0, 0, 0, 0, 0x00, 0x00, 0x10, 0x00,
}

// DefaultTemplate is nginx-rtmp's answer (the default media server of the
// project's tests and lab), used for a backend whose health check has not
// taught the edge one yet (or that has no rtmp check). Built once: a
// Template is never modified after it is made (Responders only read it),
// so every session can share it.
func DefaultTemplate() Template { return defaultTemplate() }

var defaultTemplate = sync.OnceValue(buildDefaultTemplate)

func buildDefaultTemplate() Template {
	result, err := amf0.EncodeCommand("_result", 1,
		amf0.Object{{Key: "fmsVer", Value: "FMS/3,0,1,123"}, {Key: "capabilities", Value: 31.0}},
		amf0.Object{{Key: "level", Value: "status"}, {Key: "code", Value: "NetConnection.Connect.Success"},
			{Key: "description", Value: "Connection succeeded."}, {Key: "objectEncoding", Value: 0.0}})
	if err != nil {
		panic(err)
	}
	w := chunk.NewWriter()
	w.SetChunkSize(4096)
	reply := w.Append(bytes.Clone(nginxReply), chunk.Message{CSID: 3, Type: chunk.TypeCommandAMF0, Payload: result})
	t, err := LearnTemplate(reply)
	if err != nil {
		panic(err)
	}
	return t
}
