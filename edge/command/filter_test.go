package command

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/rtmp-edge/rtmp-edge/edge/amf0"
	"github.com/rtmp-edge/rtmp-edge/edge/chunk"
)

// fullMsg is one message as a receiver reads it, media included.
type fullMsg struct {
	CSID, StreamID, Timestamp uint32
	Type                      uint8
	Payload                   string
}

func (m fullMsg) String() string {
	p := m.Payload
	if m.Type == chunk.TypeCommandAMF0 {
		if cmd, err := amf0.ParseCommand([]byte(p), m.Type); err == nil {
			p = fmt.Sprintf("%s(%v)", cmd.Name, cmd.TxID)
		}
	} else if len(p) > 8 {
		p = fmt.Sprintf("%x…(%d)", p[:8], len(p))
	} else {
		p = fmt.Sprintf("%x", p)
	}
	return fmt.Sprintf("{cs%d t%d ms%d ts%d %s}", m.CSID, m.Type, m.StreamID, m.Timestamp, p)
}

// readAll decodes every message of a server→client stream as the client
// does (applying Set Chunk Size and Abort).
func readAll(t testing.TB, b []byte) []fullMsg {
	t.Helper()
	return readStream(t, b, true)
}

// readStream is readAll for a stream that may end inside a message
// (whole is false): the complete messages.
func readStream(t testing.TB, b []byte, whole bool) []fullMsg {
	t.Helper()
	r := newReader()
	var out []fullMsg
	bufs := map[uint32][]byte{}
	err := r.feed(b, func(p *piece) error {
		if p.start {
			bufs[p.csid] = bufs[p.csid][:0]
		}
		bufs[p.csid] = append(bufs[p.csid], p.payload...)
		if !p.end {
			return nil
		}
		buf := bufs[p.csid]
		switch p.st.Type {
		case chunk.TypeSetChunkSize:
			if err := r.setChunkSize(binary.BigEndian.Uint32(buf)); err != nil {
				return err
			}
		case chunk.TypeAbort:
			r.abort(binary.BigEndian.Uint32(buf))
		}
		out = append(out, fullMsg{p.csid, p.st.StreamID, p.st.Timestamp, p.st.Type, string(buf)})
		return nil
	})
	if err != nil {
		t.Fatalf("the client cannot read its stream: %v (after %d messages: %v)", err, len(out), out)
	}
	if whole && !r.atBoundary() {
		t.Fatalf("the client's stream ends inside a message")
	}
	return out
}

// session runs the edge's side of a session: the Responder on the client
// bytes, then the ReplyFilter on the server bytes (fed in pieces of step
// bytes), and returns all the client received and whether the filter
// finished (and at which server byte).
func session(t *testing.T, tmpl Template, client, server []byte, step int) (got []byte, doneAt int, err error) {
	t.Helper()
	r := NewResponder(Config{Template: tmpl})
	out, routed, err := r.Feed(client, t0)
	if err != nil || routed == nil {
		t.Fatalf("responder: routed %v, err %v", routed, err)
	}
	got = append(got, out...)
	f := r.ReplyFilter()
	if step <= 0 {
		step = len(server)
	}
	doneAt = -1
	for i := 0; i < len(server); i += step {
		piece := server[i:min(i+step, len(server))]
		o, err := f.Feed(piece)
		got = append(got, o...)
		if err != nil {
			return got, doneAt, err
		}
		if f.Done() && doneAt < 0 {
			doneAt = i + len(piece)
		}
	}
	return got, doneAt, nil
}

// With nginx-rtmp, the client receives exactly the bytes nginx sent it in
// the direct session: the edge's answers are nginx's own, the filter drops
// nginx's repeats, and it is done at nginx's answer to publish/play.
func TestFilterCapturesByteExact(t *testing.T) {
	for _, name := range append(fuzzClients, "nginx-gortmp-publish") {
		client := readTestdata(t, name+".client.bin")
		server := readTestdata(t, name+".server.bin")
		learned, err := LearnTemplate(server[:connectReplyEnd(t, server)])
		if err != nil {
			t.Fatal(err)
		}
		statusEnd := 0
		for _, m := range serverMessages(t, server) {
			if m.Command == "onStatus" {
				statusEnd = m.end
				break
			}
		}
		for _, tmpl := range []Template{DefaultTemplate(), learned} {
			for _, step := range []int{0, 1, 13, 1000} {
				t.Run(fmt.Sprintf("%s/step%d", name, step), func(t *testing.T) {
					got, doneAt, err := session(t, tmpl, client, server, step)
					if err != nil {
						t.Fatal(err)
					}
					if !bytes.Equal(got, server) {
						t.Fatalf("the client got other bytes than nginx sent:\n got %v\nwant %v", readAll(t, got), readAll(t, server))
					}
					piece := step
					if piece == 0 {
						piece = len(server)
					}
					// Done in the piece that holds the end of nginx's onStatus.
					if doneAt < statusEnd || doneAt >= statusEnd+piece {
						t.Errorf("done at server byte %d, onStatus ends at %d (step %d)", doneAt, statusEnd, step)
					}
				})
			}
		}
	}
}

// serverBuild writes a server's side of a session message by message.
type serverBuild struct {
	w    *chunk.Writer
	b    []byte
	msgs []fullMsg
	drop []bool // the filter must drop this message
}

func newServer(compress bool) *serverBuild {
	w := chunk.NewWriter()
	w.Compress = compress
	return &serverBuild{w: w}
}

func (s *serverBuild) add(m chunk.Message, drop bool) *serverBuild {
	if m.Type == chunk.TypeSetChunkSize {
		var err error
		if s.b, err = s.w.AppendSetChunkSize(s.b, binary.BigEndian.Uint32(m.Payload)); err != nil {
			panic(err)
		}
	} else {
		s.b = s.w.Append(s.b, m)
	}
	s.msgs = append(s.msgs, fullMsg{m.CSID, m.StreamID, m.Timestamp, m.Type, string(m.Payload)})
	s.drop = append(s.drop, drop)
	return s
}

func (s *serverBuild) cmd(t testing.TB, csid, msid uint32, drop bool, name string, txID float64, obj amf0.Value, args ...amf0.Value) *serverBuild {
	p, err := amf0.EncodeCommand(name, txID, obj, args...)
	if err != nil {
		t.Fatal(err)
	}
	return s.add(chunk.Message{CSID: csid, Type: chunk.TypeCommandAMF0, StreamID: msid, Payload: p}, drop)
}

func (s *serverBuild) media(csid, msid, ts uint32, typ uint8, n int) *serverBuild {
	p := make([]byte, n)
	for i := range p {
		p[i] = byte(i*7 + int(ts))
	}
	return s.add(chunk.Message{CSID: csid, Type: typ, StreamID: msid, Timestamp: ts, Payload: p}, false)
}

// kept is what the client must receive from the server: its messages minus
// the dropped ones.
func (s *serverBuild) kept() []fullMsg {
	var out []fullMsg
	for i, m := range s.msgs {
		if !s.drop[i] {
			out = append(out, m)
		}
	}
	return out
}

var (
	crtmpInfo = amf0.Object{{Key: "level", Value: "status"}, {Key: "code", Value: "NetConnection.Connect.Success"},
		{Key: "description", Value: "Connection succeeded"}, {Key: "objectEncoding", Value: 0.0}}
	crtmpProps = amf0.Object{{Key: "fmsVer", Value: "FMS/3,0,1,123"}, {Key: "capabilities", Value: 31.0}}
)

func ctl(typ uint8, p ...byte) chunk.Message { return chunk.Message{CSID: 2, Type: typ, Payload: p} }

func streamBegin(id uint32) chunk.Message {
	return ctl(chunk.TypeUserControl, append([]byte{0, 0}, u32(id)...)...)
}

// A crtmpserver-shaped publish and play (compressed headers, onBWDone,
// stream IDs from 1, media on chunk stream 20 and up) against the
// crtmpserver template, and against the nginx default template (a server
// whose shape the edge did not learn: other chunk size, other messages).
func TestFilterFamilies(t *testing.T) {
	ffmpegPlay := newClient().connect(t).cmd(t, 3, 0, "createStream", 2, nil).
		cmd(t, 8, 0, "getStreamLength", 3, nil, "s").cmd(t, 8, 1, "play", 4, nil, "s", -2000.0).b
	ffmpegPublish := newClient().connect(t).cmd(t, 3, 0, "releaseStream", 2, nil, "s").cmd(t, 3, 0, "FCPublish", 3, nil, "s").
		cmd(t, 3, 0, "createStream", 4, nil).cmd(t, 8, 1, "publish", 5, nil, "s", "live").b
	crtmpConnect := func(t *testing.T, s *serverBuild, asTemplate bool) *serverBuild {
		return s.add(ctl(chunk.TypeWindowAckSize, u32(2500000)...), asTemplate).
			add(ctl(chunk.TypeSetPeerBandwidth, append(u32(2500000), 2)...), asTemplate).
			add(streamBegin(0), asTemplate).
			cmd(t, 3, 0, true, "_result", 1, crtmpProps, crtmpInfo).
			cmd(t, 3, 0, asTemplate, "onBWDone", 0, nil, 8192.0)
	}
	tests := []struct {
		name   string
		tmpl   Template
		client []byte
		server func(t *testing.T, asTemplate bool) *serverBuild
		done   bool
	}{
		{"crtmpserver play", crtmpTemplate(t), ffmpegPlay, func(t *testing.T, tm bool) *serverBuild {
			s := crtmpConnect(t, newServer(true), tm).cmd(t, 3, 0, true, "_result", 2, nil, 1.0).
				cmd(t, 8, 0, tm, "_result", 3, nil, 0.0). // getStreamLength, on the call's chunk stream
				add(streamBegin(1), false).
				cmd(t, 20, 1, false, "onStatus", 0, nil, amf0.Object{{Key: "code", Value: "NetStream.Play.Reset"}}).
				cmd(t, 20, 1, false, "onStatus", 0, nil, amf0.Object{{Key: "code", Value: "NetStream.Play.Start"}})
			for i := range 20 {
				s.media(21, 1, uint32(i*40), chunk.TypeVideo, 300+i%3)
				s.media(22, 1, uint32(i*23), chunk.TypeAudio, 20)
			}
			return s
		}, true},
		{"crtmpserver publish, growing chunk size mid-session", crtmpTemplate(t), ffmpegPublish, func(t *testing.T, tm bool) *serverBuild {
			return crtmpConnect(t, newServer(true), tm).
				cmd(t, 3, 0, tm, "_error", 2, nil, crtmpCallFailed("Specified stream not found in call to releaseStream")).
				cmd(t, 3, 0, tm, "_result", 3, nil, nil).
				cmd(t, 3, 0, tm, "onFCPublish", 0, nil, amf0.Object{{Key: "code", Value: "NetStream.Publish.Start"}, {Key: "description", Value: "s"}}).
				cmd(t, 3, 0, true, "_result", 4, nil, 1.0).
				cmd(t, 20, 1, false, "onStatus", 0, nil, amf0.Object{{Key: "code", Value: "NetStream.Publish.Start"}}).
				add(ctl(chunk.TypeSetChunkSize, u32(4000)...), false).
				add(ctl(chunk.TypeAck, u32(100000)...), false).
				cmd(t, 3, 0, false, "onBWCheck", 0, nil)
		}, true},
		{"crtmpserver play, edge answered with nginx's shape", DefaultTemplate(), ffmpegPlay, func(t *testing.T, tm bool) *serverBuild {
			s := crtmpConnect(t, newServer(true), false).cmd(t, 3, 0, true, "_result", 2, nil, 1.0).
				cmd(t, 3, 0, false, "_error", 3, nil, callFailed("getStreamLength")).
				add(streamBegin(1), false).
				cmd(t, 20, 1, false, "onStatus", 0, nil, amf0.Object{{Key: "code", Value: "NetStream.Play.Start"}})
			for i := range 5 {
				s.media(21, 1, 0xFFFFF0+uint32(i*40), chunk.TypeVideo, 300)
			}
			return s
		}, true},
		{"SRS publish", srsTemplate(t), ffmpegPublish, func(t *testing.T, tm bool) *serverBuild {
			return newServer(false).add(ctl(chunk.TypeWindowAckSize, u32(2500000)...), true).
				add(ctl(chunk.TypeSetPeerBandwidth, append(u32(2500000), 2)...), true).
				add(ctl(chunk.TypeSetChunkSize, u32(60000)...), true).
				cmd(t, 3, 0, true, "_result", 1, amf0.Object{{Key: "fmsVer", Value: "FMS/3,5,3,888"}}, crtmpInfo).
				cmd(t, 3, 0, true, "onBWDone", 0, nil).
				cmd(t, 3, 0, true, "_result", 2, nil, amf0.Undefined{}).
				cmd(t, 3, 0, true, "_result", 3, nil, amf0.Undefined{}).
				cmd(t, 3, 0, true, "_result", 4, nil, 1.0).
				cmd(t, 5, 1, false, "onFCPublish", 0, nil, amf0.Object{{Key: "code", Value: "NetStream.Publish.Start"}}).
				cmd(t, 5, 1, false, "onStatus", 0, nil, amf0.Object{{Key: "code", Value: "NetStream.Publish.Start"}})
		}, true},
		{"server with other window and bandwidth: forwarded", DefaultTemplate(), ffmpegPlay, func(t *testing.T, tm bool) *serverBuild {
			return newServer(false).add(ctl(chunk.TypeWindowAckSize, u32(1<<20)...), false).
				add(ctl(chunk.TypeSetPeerBandwidth, append(u32(1<<20), 1)...), false).
				add(ctl(chunk.TypeSetChunkSize, u32(8192)...), false).
				cmd(t, 3, 0, true, "_result", 1, crtmpProps, crtmpInfo).
				cmd(t, 3, 0, true, "_result", 2, nil, 1.0).
				cmd(t, 5, 1, false, "onStatus", 0, nil, amf0.Object{{Key: "code", Value: "NetStream.Play.Start"}}).
				media(6, 1, 0, chunk.TypeDataAMF0, 10000)
		}, true},
	}
	for _, tt := range tests {
		for _, step := range []int{0, 1, 50} {
			t.Run(fmt.Sprintf("%s/step%d", tt.name, step), func(t *testing.T) {
				s := tt.server(t, tt.tmpl.Family == FamilyCrtmpserver || tt.tmpl.Family == FamilySRS)
				r := NewResponder(Config{Template: tt.tmpl})
				edge, _, err := r.Feed(tt.client, t0)
				if err != nil {
					t.Fatal(err)
				}
				got, doneAt, err := session(t, tt.tmpl, tt.client, s.b, step)
				if err != nil {
					t.Fatal(err)
				}
				msgs := readAll(t, got)
				answers := readAll(t, edge)
				if len(msgs) < len(answers) || !reflect.DeepEqual(msgs[:len(answers)], answers) {
					t.Fatalf("the client's stream does not start with the edge's answers")
				}
				fromServer := msgs[len(answers):]
				var noSCS []fullMsg // Set Chunk Size messages the filter added or dropped as no-ops are not compared
				for _, m := range fromServer {
					if m.Type != chunk.TypeSetChunkSize {
						noSCS = append(noSCS, m)
					}
				}
				var want []fullMsg
				for _, m := range s.kept() {
					if m.Type != chunk.TypeSetChunkSize {
						want = append(want, m)
					}
				}
				if !reflect.DeepEqual(noSCS, want) {
					t.Errorf("from the server the client got\n %v\nwant\n %v", noSCS, want)
				}
				if (doneAt >= 0) != tt.done {
					t.Errorf("done at %d, want done %v", doneAt, tt.done)
				}
			})
		}
	}
}

// A server that refuses the replayed connect (crtmpserver's adobe auth
// stage 1, or an app nginx does not have): the client, told it was
// connected, gets an onStatus error on its stream, and the session ends.
func TestFilterRefused(t *testing.T) {
	for _, kind := range []string{"publish", "play"} {
		t.Run(kind, func(t *testing.T) {
			client := newClient().connect(t).cmd(t, 3, 0, "createStream", 2, nil).cmd(t, 8, 1, kind, 3, nil, "s").b
			s := newServer(false).cmd(t, 3, 0, true, "_error", 1, nil, amf0.Object{{Key: "level", Value: "error"},
				{Key: "code", Value: "NetConnection.Connect.Rejected"}, {Key: "description", Value: "[ AccessManager.Reject ] : [ code=403 need auth; authmod=adobe ] : "}})
			got, _, err := session(t, DefaultTemplate(), client, s.b, 0)
			if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "authmod=adobe") {
				t.Fatalf("err = %v", err)
			}
			msgs := readAll(t, got)
			last := msgs[len(msgs)-1]
			cmd, _ := amf0.ParseCommand([]byte(last.Payload), last.Type)
			info, _ := cmd.Args[0].(amf0.Object)
			code, _ := info.String("code")
			if cmd.Name != "onStatus" || last.StreamID != 1 || !strings.HasPrefix(code, "NetStream.") || !strings.Contains(code, "Failed") && !strings.Contains(code, "Denied") {
				t.Errorf("last message %v %v", last, info)
			}
		})
	}
}

// After a drop, the server's next message on that chunk stream inherits
// from the dropped header; the client must read it the way the server
// meant it, extended timestamps included.
func TestFilterRewritesHeaders(t *testing.T) {
	client := newClient().connect(t).cmd(t, 3, 0, "createStream", 2, nil).cmd(t, 8, 1, "play", 3, nil, "s").b
	// crtmpserver compression: after the dropped createStream _result on
	// chunk stream 3, a fmt-1/2/3 call the client would misread if passed as is.
	s := newServer(true).
		add(ctl(chunk.TypeWindowAckSize, u32(2500000)...), true).
		cmd(t, 3, 0, true, "_result", 1, crtmpProps, crtmpInfo).
		// The server's createStream answer is longer than the edge's and
		// comes late in time: what follows on chunk stream 3 inherits its
		// length and timestamp (fmt 2/3 on the wire).
		add(chunk.Message{CSID: 3, Type: chunk.TypeCommandAMF0, Timestamp: 0xFFFFFFF0, Payload: mustCommand(t, "_result", 2, nil, 1.0, "extra")}, true).
		// A data message passed through chunk by chunk, fmt 1 with a small
		// delta: rewritten to fmt 0 its timestamp needs the extended field,
		// on every continuation chunk too.
		add(chunk.Message{CSID: 3, Type: chunk.TypeDataAMF0, Timestamp: 0xFFFFFFFA, Payload: bytes.Repeat([]byte{7}, 500)}, false).
		add(chunk.Message{CSID: 3, Type: chunk.TypeCommandAMF0, Timestamp: 0xFFFFFFFA, Payload: mustCommand(t, "_result", 9, nil, 1.0, "extra")}, false).
		cmd(t, 3, 0, false, "onStatus", 0, nil, nil).
		cmd(t, 4, 1, false, "onStatus", 0, nil, amf0.Object{{Key: "code", Value: "NetStream.Play.Start"}}).
		media(6, 1, 0xFFFFFE, chunk.TypeVideo, 500).
		media(6, 1, 0xFFFFFE+0xFFFFFF, chunk.TypeVideo, 500)
	for i, m := range readAllFmts(t, s.b) {
		if i >= 3 && i <= 4 && m != 1 {
			t.Fatalf("message %d of the server is fmt 0: the test would prove nothing", i)
		}
		if i == 4 && m == 0 {
			t.Fatalf("message 4 is fmt 0")
		}
	}
	tmpl := crtmpTemplate(t)
	for _, step := range []int{0, 1, 9} {
		got, _, err := session(t, tmpl, client, s.b, step)
		if err != nil {
			t.Fatal(err)
		}
		r := NewResponder(Config{Template: tmpl})
		edge, _, _ := r.Feed(client, t0)
		msgs := readAll(t, got)[len(readAll(t, edge)):]
		var noSCS []fullMsg
		for _, m := range msgs {
			if m.Type != chunk.TypeSetChunkSize {
				noSCS = append(noSCS, m)
			}
		}
		if want := s.kept(); !reflect.DeepEqual(noSCS, want) {
			t.Errorf("step %d: got\n %v\nwant\n %v", step, noSCS, want)
		}
	}
}

func TestFilterHostile(t *testing.T) {
	client := newClient().connect(t).cmd(t, 8, 1, "play", 3, nil, "s").b
	tests := []struct {
		name   string
		server []byte
		msg    string
	}{
		{"fmt 1 on a new chunk stream", []byte{0x47, 0, 0, 0, 0, 0, 1, 9, 0}, "never had a fmt-0"},
		{"Set Chunk Size 0", chunk.NewWriter().Append(nil, ctl(chunk.TypeSetChunkSize, 0, 0, 0, 0)), "Set Chunk Size 0"},
		{"short Set Chunk Size", chunk.NewWriter().Append(nil, ctl(chunk.TypeSetChunkSize, 0, 1)), "2-byte Set Chunk Size"},
		{"huge command", chunk.NewWriter().Append(nil, chunk.Message{CSID: 3, Type: chunk.TypeCommandAMF0, Payload: make([]byte, maxHeld+1)}), "65537-byte message"},
		{"header inside a message", append(chunk.NewWriter().Append(nil, chunk.Message{CSID: 6, Type: 9, Payload: make([]byte, 200)})[:12+128],
			0x06, 0, 0, 0, 0, 0, 1, 9, 0, 0, 0, 0), "inside a message"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := session(t, DefaultTemplate(), client, tt.server, 0)
			if !errors.Is(err, ErrFilter) || !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("err = %v, want ErrFilter mentioning %q", err, tt.msg)
			}
		})
	}
	r := NewResponder(Config{})
	if r.ReplyFilter() != nil {
		t.Error("a filter before any decision")
	}
	r.Feed(newClient().cmd(t, 3, 0, "connect", 1, amf0.Object{{Key: "app", Value: "a?authmod=adobe"}}).b, t0)
	if r.ReplyFilter() != nil {
		t.Error("a filter for a session routed at connect")
	}
}

func mustCommand(t testing.TB, name string, txID float64, obj amf0.Value, args ...amf0.Value) []byte {
	p, err := amf0.EncodeCommand(name, txID, obj, args...)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// readAllFmts lists the header format each message of a stream starts with.
func readAllFmts(t testing.TB, b []byte) []uint8 {
	r := newReader()
	var fmts []uint8
	r.feed(b, func(p *piece) error {
		if p.start {
			fmts = append(fmts, p.fmtID)
		}
		return nil
	})
	return fmts
}

// A server whose createStream answer differs from the edge's (another
// family than the template's, a server numbering its own way): the client's
// bytes reach that server on the edge's ID, so the session ends, the client
// told why on its stream, rather than relaying on a stream the server does
// not know. A refused createStream ends it the same way.
func TestFilterStreamIDMismatch(t *testing.T) {
	for _, tt := range []struct {
		name, kind string
		answer     func(s *serverBuild) *serverBuild
		want       string
	}{
		{"play, stream 2", "play", func(s *serverBuild) *serverBuild {
			return s.cmd(t, 3, 0, true, "_result", 2, nil, 2.0)
		}, "gave stream 2 to createStream 2, the edge had given 1"},
		{"publish, stream 0", "publish", func(s *serverBuild) *serverBuild {
			return s.cmd(t, 3, 0, true, "_result", 2, nil, 0.0)
		}, "gave stream 0"},
		{"createStream refused", "play", func(s *serverBuild) *serverBuild {
			return s.cmd(t, 3, 0, true, "_error", 2, nil, callFailed("createStream"))
		}, "answered createStream 2 with _error"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			client := newClient().connect(t).cmd(t, 3, 0, "createStream", 2, nil).cmd(t, 8, 1, tt.kind, 3, nil, "s").b
			s := newServer(false).add(ctl(chunk.TypeWindowAckSize, u32(5000000)...), true).
				cmd(t, 3, 0, true, "_result", 1, crtmpProps, crtmpInfo)
			s = tt.answer(s).cmd(t, 5, 2, false, "onStatus", 0, nil, amf0.Object{{Key: "code", Value: "NetStream.Play.Start"}})
			for _, step := range []int{0, 1, 7} {
				got, doneAt, err := session(t, DefaultTemplate(), client, s.b, step)
				if !errors.Is(err, ErrStreamID) || !strings.Contains(err.Error(), tt.want) {
					t.Fatalf("step %d: err = %v, want ErrStreamID with %q", step, err, tt.want)
				}
				if doneAt >= 0 {
					t.Errorf("step %d: done at %d", step, doneAt)
				}
				msgs := readAll(t, got)
				last := msgs[len(msgs)-1]
				cmd, _ := amf0.ParseCommand([]byte(last.Payload), last.Type)
				var info amf0.Object
				if len(cmd.Args) > 0 {
					info, _ = cmd.Args[0].(amf0.Object)
				}
				code, _ := info.String("code")
				desc, _ := info.String("description")
				if cmd.Name != "onStatus" || last.StreamID != 1 || !strings.HasPrefix(code, "NetStream.") || !strings.Contains(desc, tt.want) {
					t.Errorf("step %d: last message to the client %v %v", step, last, info)
				}
				for _, m := range msgs {
					if m.StreamID == 2 {
						t.Errorf("step %d: the client got a message on the server's stream 2: %v", step, m)
					}
				}
			}
		})
	}
}

// Abandon: the server went away before answering the publish/play. The
// client, whose connect the edge answered, gets an onStatus error on its
// stream saying why, readable after everything it got before; once the
// server answered, after a refusal already told, or with a message to the
// client stopped in its middle, nothing.
func TestFilterAbandon(t *testing.T) {
	client := newClient().connect(t).cmd(t, 3, 0, "createStream", 2, nil).cmd(t, 8, 1, "publish", 3, nil, "s", "live").b
	connectReply := func() *serverBuild {
		return newServer(false).add(ctl(chunk.TypeWindowAckSize, u32(5000000)...), true).
			add(ctl(chunk.TypeSetPeerBandwidth, append(u32(5000000), 2)...), true).
			add(ctl(chunk.TypeSetChunkSize, u32(4096)...), false).
			cmd(t, 3, 0, true, "_result", 1, crtmpProps, crtmpInfo)
	}
	start := func() (*ReplyFilter, []byte) {
		r := NewResponder(Config{Template: DefaultTemplate()})
		out, routed, err := r.Feed(client, t0)
		if err != nil || routed == nil {
			t.Fatalf("responder: %v %v", routed, err)
		}
		return r.ReplyFilter(), bytes.Clone(out)
	}

	f, got := start()
	o, err := f.Feed(connectReply().b) // the connect answered, then the server closes
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, o...)
	got = append(got, f.Abandon("the media server closed the connection")...)
	msgs := readAll(t, got)
	last := msgs[len(msgs)-1]
	cmd, err := amf0.ParseCommand([]byte(last.Payload), last.Type)
	if err != nil {
		t.Fatal(err)
	}
	info, _ := cmd.Args[0].(amf0.Object)
	code, _ := info.String("code")
	desc, _ := info.String("description")
	if cmd.Name != "onStatus" || last.StreamID != 1 || code != "NetStream.Publish.Denied" || desc != "the media server closed the connection" {
		t.Errorf("last message to the client %v %v", last, info)
	}

	f, _ = start()
	answered := connectReply().cmd(t, 5, 1, false, "onStatus", 0, nil, amf0.Object{{Key: "code", Value: "NetStream.Publish.Start"}})
	if _, err := f.Feed(answered.b); err != nil {
		t.Fatal(err)
	}
	if b := f.Abandon("late"); b != nil {
		t.Errorf("after the server's answer: %d bytes", len(b))
	}

	f, _ = start()
	refused := newServer(false).cmd(t, 3, 0, true, "_error", 1, nil, amf0.Object{{Key: "level", Value: "error"}, {Key: "code", Value: "NetConnection.Connect.Rejected"}})
	if _, err := f.Feed(refused.b); !errors.Is(err, ErrRefused) {
		t.Fatalf("refusal: %v", err)
	}
	if b := f.Abandon("again"); b != nil {
		t.Errorf("after a refusal the client was told about: %d bytes", len(b))
	}

	f, _ = start()
	half := connectReply().media(6, 1, 0, chunk.TypeDataAMF0, 10000).b
	if _, err := f.Feed(half[:len(half)-100]); err != nil {
		t.Fatal(err)
	}
	if b := f.Abandon("cut"); b != nil {
		t.Errorf("inside a message to the client: %d bytes", len(b))
	}
}
