package command

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"reflect"
	"testing"

	"github.com/rtmp-edge/rtmp-edge/edge/amf0"
	"github.com/rtmp-edge/rtmp-edge/edge/chunk"
)

var fuzzClients = []string{"nginx-ffmpeg-publish", "nginx-ffmpeg-play", "nginx-rtmpdump-play", "nginx-rtmpdump-live"}

// FuzzReplyFilter: whatever the media server sends after the replay, the
// filter never panics, holds no more than its bound, and gives the same
// bytes and error whole or split. When the server's stream is a valid
// chunk stream, the client can read all it got — including the bytes
// after the filter was done, which it passed unchanged: that is what
// makes going back to the splice safe.
func FuzzReplyFilter(f *testing.F) {
	for i, name := range fuzzClients {
		s := readTestdata(f, name+".server.bin")
		f.Add(s[:min(len(s), 2048)], uint8(i), uint16(300))
	}
	crtmp := newServer(true).add(ctl(chunk.TypeWindowAckSize, u32(2500000)...), true).
		add(streamBegin(0), true).cmd(f, 3, 0, true, "_result", 1, crtmpProps, crtmpInfo).
		cmd(f, 3, 0, true, "_result", 2, nil, 2.0).add(streamBegin(2), false).
		cmd(f, 20, 2, false, "onStatus", 0, nil, amf0.Object{{Key: "code", Value: "NetStream.Play.Start"}}).
		add(ctl(chunk.TypeSetChunkSize, u32(1000)...), false).media(21, 2, 0xFFFFFF, chunk.TypeVideo, 3000)
	f.Add(crtmp.b, uint8(1+4), uint16(77))
	// A server whose createStream answers differ from the edge's (the
	// session ends with ErrStreamID): another ID, and a refusal.
	for _, answer := range []func(s *serverBuild) *serverBuild{
		func(s *serverBuild) *serverBuild { return s.cmd(f, 3, 0, true, "_result", 2, nil, 0.0) },
		func(s *serverBuild) *serverBuild {
			return s.cmd(f, 3, 0, true, "_error", 2, nil, callFailed("createStream"))
		},
	} {
		s := newServer(false).add(ctl(chunk.TypeWindowAckSize, u32(5000000)...), true).cmd(f, 3, 0, true, "_result", 1, crtmpProps, crtmpInfo)
		s = answer(s).cmd(f, 5, 1, false, "onStatus", 0, nil, amf0.Object{{Key: "code", Value: "NetStream.Play.Start"}})
		f.Add(s.b, uint8(1), uint16(40))
	}
	f.Fuzz(func(t *testing.T, server []byte, which uint8, split uint16) {
		tmpl := DefaultTemplate()
		if which&4 != 0 {
			tmpl = crtmpTemplate(t)
		}
		client := readTestdata(t, fuzzClients[int(which&3)]+".client.bin")
		run := func(pieces ...[]byte) ([]byte, []byte, error) {
			r := NewResponder(Config{Template: tmpl})
			edge, routed, err := r.Feed(client, t0)
			if err != nil || routed == nil {
				t.Fatalf("responder: %v %v", routed, err)
			}
			f := r.ReplyFilter()
			var out []byte
			for _, p := range pieces {
				o, err := f.Feed(p)
				out = append(out, o...)
				for _, h := range f.holds {
					if len(h.buf) > maxHeld {
						t.Fatalf("holding %d bytes", len(h.buf))
					}
				}
				if err != nil {
					return edge, out, err
				}
			}
			// The server went away here: what the client is told must be
			// readable after what it got (checked below with the rest).
			out = append(out, f.Abandon("the media server closed the connection")...)
			return edge, out, nil
		}
		edge, out, err := run(server)
		i := int(split) % (len(server) + 1)
		_, out2, err2 := run(server[:i], server[i:])
		if (err == nil) != (err2 == nil) || (err == nil && !bytes.Equal(out, out2)) {
			t.Fatalf("split at %d: %d bytes, %v; whole: %d bytes, %v", i, len(out2), err2, len(out), err)
		}
		if err != nil {
			return
		}
		if readable(server) != nil {
			return // after Done the server's own garbage reaches the client, as it would directly
		}
		if err := readable(append(bytes.Clone(edge), out...)); err != nil {
			t.Fatalf("the client cannot read what the filter passed: %v", err)
		}
	})
}

// readable reads a server→client stream as a client does and reports the
// first framing error.
func readable(b []byte) error {
	r := newReader()
	bufs := map[uint32][]byte{}
	return r.feed(b, func(p *piece) error {
		if p.start {
			bufs[p.csid] = bufs[p.csid][:0]
		}
		bufs[p.csid] = append(bufs[p.csid], p.payload...)
		if p.end && p.st.Type == chunk.TypeSetChunkSize && len(bufs[p.csid]) >= 4 {
			return r.setChunkSize(binary.BigEndian.Uint32(bufs[p.csid]))
		}
		if p.end && p.st.Type == chunk.TypeAbort && len(bufs[p.csid]) >= 4 {
			r.abort(binary.BigEndian.Uint32(bufs[p.csid]))
		}
		return nil
	})
}

// FuzzReplyFilterScript builds valid server streams from a script (any
// mix of control messages, answers, status calls and media, compressed or
// not, with chunk size changes and large timestamps) and checks what the
// client gets: readable, every media and data message exactly once and in
// order, nothing the server did not send (Set Chunk Size aside, which the
// filter may add or drop as a no-op).
func FuzzReplyFilterScript(f *testing.F) {
	f.Add([]byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13}, true, uint8(1))
	f.Add([]byte{5, 5, 5, 9, 9, 9, 3, 3, 7, 7, 7, 200, 100, 13}, false, uint8(4))
	f.Fuzz(func(t *testing.T, script []byte, compress bool, which uint8) {
		tmpl := DefaultTemplate()
		if which&4 != 0 {
			tmpl = crtmpTemplate(t)
		}
		client := readTestdata(t, fuzzClients[int(which&3)]+".client.bin")
		s := newServer(compress)
		ts := uint32(0)
		for i, op := range script {
			if i >= 200 {
				break
			}
			csid := uint32(2 + op%5)
			switch op % 14 {
			case 0:
				s.add(ctl(chunk.TypeWindowAckSize, u32(5000000)...), false)
			case 1:
				s.add(ctl(chunk.TypeSetPeerBandwidth, append(u32(5000000), 2)...), false)
			case 2:
				s.add(ctl(chunk.TypeSetChunkSize, u32(uint32(op)*37+1)...), false)
			case 3:
				s.add(streamBegin(uint32(op%3)), false)
			case 4:
				s.cmd(t, csid+1, 0, false, "_result", float64(op%6), nil, 1.0)
			case 5:
				s.cmd(t, csid+1, uint32(op%2), false, "onStatus", 0, nil, amf0.Object{{Key: "code", Value: "NetStream.Play.Start"}})
			case 6:
				s.cmd(t, 3, 0, false, "onBWDone", 0, nil, 8192.0)
			case 7:
				ts += uint32(op) * 3
				s.media(csid+4, 1, ts, chunk.TypeVideo, int(op)*13)
			case 8:
				ts += 0xFFFFFF
				s.media(csid+4, 1, ts, chunk.TypeAudio, int(op))
			case 9:
				s.media(csid, uint32(op%3), ts, chunk.TypeDataAMF0, 300)
			case 10:
				s.cmd(t, 3, 0, false, "_result", 1, crtmpProps, crtmpInfo)
			case 11:
				s.cmd(t, 3, 0, false, "_error", 1, nil, crtmpInfo)
			case 12:
				s.add(ctl(chunk.TypeAck, u32(uint32(op))...), false)
			case 13:
				s.media(64+uint32(op), 1, ts, chunk.TypeVideo, 129)
			}
		}
		r := NewResponder(Config{Template: tmpl})
		edge, routed, err := r.Feed(client, t0)
		if err != nil || routed == nil {
			t.Fatal(err)
		}
		flt := r.ReplyFilter()
		var out []byte
		for i := 0; i < len(s.b); i += 61 {
			o, err := flt.Feed(s.b[i:min(i+61, len(s.b))])
			out = append(out, o...)
			if err != nil {
				if errors.Is(err, ErrRefused) {
					break // the client gets an onStatus error and the session ends
				}
				t.Fatalf("filter: %v", err)
			}
		}
		got := readStream(t, append(bytes.Clone(edge), out...), true)[len(readAll(t, edge)):]
		var media, want []fullMsg
		for _, m := range got {
			if m.Type >= chunk.TypeAudio && m.Type != chunk.TypeCommandAMF0 && m.Type != chunk.TypeCommandAMF3 {
				media = append(media, m)
			}
		}
		refused := flt.err != nil
		for _, m := range s.msgs {
			if m.Type >= chunk.TypeAudio && m.Type != chunk.TypeCommandAMF0 && m.Type != chunk.TypeCommandAMF3 {
				want = append(want, m)
			}
		}
		if !refused && !reflect.DeepEqual(media, want) {
			t.Fatalf("media and data: got %d messages, want %d\n%v\n%v", len(media), len(want), media, want)
		}
		// Nothing invented: every non-media message the client got from the
		// server part is one the server sent (or the refusal's onStatus,
		// or a Set Chunk Size).
		sent := map[string]bool{}
		for _, m := range s.msgs {
			sent[fmt.Sprint(m.Type, m.StreamID, m.Payload)] = true
		}
		for i, m := range got {
			if m.Type == chunk.TypeSetChunkSize || (refused && i == len(got)-1) {
				continue
			}
			if !sent[fmt.Sprint(m.Type, m.StreamID, m.Payload)] {
				t.Fatalf("the client got a message the server never sent: %v", m)
			}
		}
	})
}
