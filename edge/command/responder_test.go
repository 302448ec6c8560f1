package command

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/rtmp-edge/rtmp-edge/edge/amf0"
	"github.com/rtmp-edge/rtmp-edge/edge/chunk"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// feedAll feeds b in pieces of step bytes (0: whole) and returns what the
// Responder wrote and its decision.
func feedAll(t *testing.T, r *Responder, b []byte, step int) ([]byte, *Routed, error) {
	t.Helper()
	if step <= 0 {
		step = len(b)
	}
	var out []byte
	for i := 0; i < len(b); i += step {
		o, routed, err := r.Feed(b[i:min(i+step, len(b))], t0)
		out = append(out, o...)
		if err != nil || routed != nil {
			return out, routed, err
		}
	}
	return out, nil, nil
}

// serverMessageEnds lists the server messages of a capture with the offset
// just past each (at a chunk boundary with nothing else half sent).
type serverMessage struct {
	msg
	end int
}

func serverMessages(t *testing.T, server []byte) []serverMessage {
	t.Helper()
	r := newReader()
	var out []serverMessage
	var buf []byte
	r.feed(server, func(p *piece) error {
		if p.start {
			buf = buf[:0]
		}
		buf = append(buf, p.payload...)
		if !p.end {
			return nil
		}
		m := serverMessage{msg: msg{CSID: p.csid, StreamID: p.st.StreamID, Type: p.st.Type, Payload: bytes.Clone(buf)}, end: p.consumed}
		if p.st.Type == chunk.TypeCommandAMF0 {
			if cmd, err := amf0.ParseCommand(buf, p.st.Type); err == nil {
				m.Command, m.TxID = cmd.Name, cmd.TxID
			}
		}
		if p.st.Type == chunk.TypeSetChunkSize {
			r.setChunkSize(uint32(buf[0])<<24 | uint32(buf[1])<<16 | uint32(buf[2])<<8 | uint32(buf[3]))
		}
		out = append(out, m)
		return nil
	})
	return out
}

// answersEnd is the offset where the server's answers to what came before
// publish/play end: the start of its first message on the routed stream
// (StreamBegin(1), onStatus).
func answersEnd(t *testing.T, server []byte) int {
	t.Helper()
	prev := 0
	for _, m := range serverMessages(t, server) {
		if m.StreamID != 0 || (m.Type == chunk.TypeUserControl && !isStreamBegin0(m.Payload)) || m.Command == "onStatus" {
			return prev
		}
		prev = m.end
	}
	t.Fatal("no answer to publish/play in the server capture")
	return 0
}

// connectReplyEnd is the offset just past the server's _result to connect.
func connectReplyEnd(t *testing.T, server []byte) int {
	t.Helper()
	for _, m := range serverMessages(t, server) {
		if m.Command == "_result" && m.TxID == 1 {
			return m.end
		}
	}
	t.Fatal("no connect _result in the server capture")
	return 0
}

// Against the real clients, the edge's answers are the very bytes
// nginx-rtmp sent them, up to its answer to publish/play: same messages,
// chunk streams, headers and chunking.
func TestResponderCapturesByteExact(t *testing.T) {
	tests := []struct {
		name   string
		kind   Kind
		msid   uint32
		stream string
		hint   string
	}{
		{"nginx-ffmpeg-publish", KindPublish, 1, "stream1", "stream1"},
		{"nginx-ffmpeg-play", KindPlay, 1, "stream1", ""},
		{"nginx-rtmpdump-play", KindPlay, 1, "stream1", ""},
		{"nginx-rtmpdump-live", KindPlay, 1, "stream1", "stream1"},
		{"nginx-gortmp-publish", KindPublish, 1, "enc", ""}, // go-rtmp, the project's test client: publish with transaction 0
	}
	for _, tt := range tests {
		client := readTestdata(t, tt.name+".client.bin")
		server := readTestdata(t, tt.name+".server.bin")
		learned, err := LearnTemplate(server[:connectReplyEnd(t, server)])
		if err != nil {
			t.Fatal(err)
		}
		for _, tmpl := range []struct {
			name string
			t    Template
		}{{"default template", DefaultTemplate()}, {"learned template", learned}} {
			for _, step := range []int{0, 1, 7} {
				t.Run(tt.name+"/"+tmpl.name+"/step"+string(rune('0'+step)), func(t *testing.T) {
					r := NewResponder(Config{Template: tmpl.t, Deadline: t0.Add(time.Second)})
					out, routed, err := feedAll(t, r, client, step)
					if err != nil {
						t.Fatal(err)
					}
					if routed == nil {
						t.Fatal("not routed")
					}
					if routed.Kind != tt.kind || routed.StreamID != tt.msid || routed.Stream != tt.stream || routed.Hint != tt.hint ||
						routed.Connect.App != "live" || routed.AtConnect {
						t.Errorf("routed %+v", routed)
					}
					if want := server[:answersEnd(t, server)]; !bytes.Equal(out, want) {
						t.Errorf("answers differ from nginx's:\n got %v\nwant %v", decodeAll(t, out), decodeAll(t, want))
					}
					// Everything fed up to the trigger is recorded verbatim.
					if rec := r.Recorded(); !bytes.Equal(rec, client[:len(rec)]) || len(rec) < onTrigger(t, client) {
						t.Errorf("recorded %d bytes, not the client's first %d", len(rec), onTrigger(t, client))
					}
				})
			}
		}
	}
}

// onTrigger is the end offset of the client's publish/play.
func onTrigger(t *testing.T, client []byte) int {
	s := chunk.NewScanner(chunk.Limits{})
	end := -1
	s.Feed(client, func(m chunk.Message) error {
		if cmd, err := amf0.ParseCommand(m.Payload, m.Type); err == nil && (cmd.Name == "publish" || cmd.Name == "play") && end < 0 {
			end = int(s.Consumed())
		}
		return nil
	})
	return end
}

// crtmpTemplate and srsTemplate are the other families' connect replies,
// built from their sources' message sequences (they cannot run here).
func crtmpTemplate(t testing.TB) Template {
	w := chunk.NewWriter()
	w.Compress = true
	var b []byte
	b = w.Append(b, chunk.Message{CSID: 2, Type: chunk.TypeWindowAckSize, Payload: u32(2500000)})
	b = w.Append(b, chunk.Message{CSID: 2, Type: chunk.TypeSetPeerBandwidth, Payload: append(u32(2500000), 2)})
	b = w.Append(b, chunk.Message{CSID: 2, Type: chunk.TypeUserControl, Payload: make([]byte, 6)})
	res, _ := amf0.EncodeCommand("_result", 1, amf0.Object{{Key: "fmsVer", Value: "FMS/3,0,1,123"}, {Key: "capabilities", Value: 31.0}},
		amf0.Object{{Key: "level", Value: "status"}, {Key: "code", Value: "NetConnection.Connect.Success"},
			{Key: "description", Value: "Connection succeeded"}, {Key: "objectEncoding", Value: 0.0}})
	b = w.Append(b, chunk.Message{CSID: 3, Type: chunk.TypeCommandAMF0, Payload: res})
	bw, _ := amf0.EncodeCommand("onBWDone", 0, nil, 8192.0)
	b = w.Append(b, chunk.Message{CSID: 3, Type: chunk.TypeCommandAMF0, Payload: bw})
	tm, err := LearnTemplate(b)
	if err != nil {
		t.Fatal(err)
	}
	return tm
}

func srsTemplate(t testing.TB) Template {
	w := chunk.NewWriter()
	var b []byte
	b = w.Append(b, chunk.Message{CSID: 2, Type: chunk.TypeWindowAckSize, Payload: u32(2500000)})
	b = w.Append(b, chunk.Message{CSID: 2, Type: chunk.TypeSetPeerBandwidth, Payload: append(u32(2500000), 2)})
	b, _ = w.AppendSetChunkSize(b, 60000)
	res, _ := amf0.EncodeCommand("_result", 1, amf0.Object{{Key: "fmsVer", Value: "FMS/3,5,3,888"}, {Key: "capabilities", Value: 127.0}, {Key: "mode", Value: 1.0}},
		amf0.Object{{Key: "level", Value: "status"}, {Key: "code", Value: "NetConnection.Connect.Success"},
			{Key: "description", Value: "Connection succeeded"}, {Key: "objectEncoding", Value: 0.0},
			{Key: "data", Value: amf0.ECMAArray{{Key: "version", Value: "3,5,3,888"}, {Key: "srs_version", Value: "6.0.0"}}}})
	b = w.Append(b, chunk.Message{CSID: 3, Type: chunk.TypeCommandAMF0, Payload: res})
	bw, _ := amf0.EncodeCommand("onBWDone", 0, nil)
	b = w.Append(b, chunk.Message{CSID: 3, Type: chunk.TypeCommandAMF0, Payload: bw})
	tm, err := LearnTemplate(b)
	if err != nil {
		t.Fatal(err)
	}
	return tm
}

func TestLearnTemplateFamilies(t *testing.T) {
	if f := DefaultTemplate().Family; f != FamilyNginx {
		t.Errorf("default: %v", f)
	}
	c := crtmpTemplate(t)
	if c.Family != FamilyCrtmpserver || !c.Compress || !c.LowestFreeStreamID || c.Result != 3 || len(c.Messages) != 5 {
		t.Errorf("crtmpserver: %v compress %v lowest %v result %d of %d", c.Family, c.Compress, c.LowestFreeStreamID, c.Result, len(c.Messages))
	}
	s := srsTemplate(t)
	if s.Family != FamilySRS || s.Compress || s.LowestFreeStreamID || s.Result != 3 {
		t.Errorf("srs: %v %v %v %d", s.Family, s.Compress, s.LowestFreeStreamID, s.Result)
	}
	for _, bad := range [][]byte{nil, {0x02, 0, 0, 0, 0, 0, 4, 1, 0, 0, 0, 0, 0, 0, 0, 0}, {0x42, 0, 0, 0}, readTestdata(t, "nginx-ffmpeg-play.server.bin")[:49]} {
		if _, err := LearnTemplate(bad); !errors.Is(err, ErrTemplate) {
			t.Errorf("LearnTemplate(% x): %v", bad[:min(len(bad), 8)], err)
		}
	}
}

// The conversation of a client that makes every pre-routing call, against
// each family: which calls get which answers.
func TestResponderFamilies(t *testing.T) {
	client := newClient().connect(t, amf0.Property{Key: "objectEncoding", Value: 3.0}).
		cmd(t, 3, 0, "releaseStream", 2, nil, "cam?key=1").
		cmd(t, 3, 0, "FCPublish", 3, nil, "cam?key=1").
		cmd(t, 3, 0, "createStream", 4, nil).
		cmd(t, 3, 0, "_checkbw", 5, nil).
		cmd(t, 3, 0, "getStreamLength", 6, nil, "cam").
		cmd(t, 3, 0, "FCSubscribe", 7, nil, "cam").
		cmd(t, 3, 0, "login", 8, nil, "user").
		cmd(t, 3, 0, "noTransaction", 0, nil).
		cmd(t, 3, 0, "deleteStream", 9, nil, 1.0).
		cmd(t, 3, 0, "createStream", 10, nil).
		cmd(t, 3, 0, "createStream", 11, nil).
		cmd(t, 8, 2, "publish", 12, nil, "cam?key=1", "live").b
	type answer struct {
		name string
		txID float64
		arg  amf0.Value // last argument
	}
	undef := amf0.Undefined{}
	tests := []struct {
		name string
		t    Template
		want []answer
	}{
		{"nginx-rtmp", DefaultTemplate(), []answer{{"_result", 1, nil}, {"_result", 4, 1.0}, {"_result", 10, 1.0}, {"_result", 11, 1.0}}},
		{"crtmpserver", crtmpTemplate(t), []answer{{"_result", 1, nil}, {"onBWDone", 0, 8192.0},
			{"_error", 2, crtmpCallFailed("Specified stream not found in call to releaseStream")}, {"_result", 3, nil},
			{"onFCPublish", 0, amf0.Object{{Key: "code", Value: "NetStream.Publish.Start"}, {Key: "description", Value: "cam?key=1"}}},
			{"_result", 4, 1.0}, {"_error", 5, crtmpCallFailed("call to function _checkbw failed")}, {"_result", 6, 0.0},
			{"onFCSubscribe", 0, amf0.Object{{Key: "code", Value: "NetStream.Play.Start"}, {Key: "description", Value: "cam"}}},
			{"_error", 8, crtmpCallFailed("call to function login failed")}, {"_result", 10, 1.0}, {"_result", 11, 2.0}}},
		// SRS answers no call after a createStream (see TestResponderSRSCallBeforeCreateStream for before).
		{"SRS", srsTemplate(t), []answer{{"_result", 1, nil}, {"onBWDone", 0, nil}, {"_result", 2, undef}, {"_result", 3, undef},
			{"_result", 4, 1.0}, {"_result", 10, 1.0}, {"_result", 11, 1.0}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := NewResponder(Config{Template: tt.t})
			out, routed, err := feedAll(t, r, client, 5)
			if err != nil || routed == nil {
				t.Fatalf("routed %v, err %v", routed, err)
			}
			if routed.Kind != KindPublish || routed.Stream != "cam" || routed.Command.Stream != "cam?key=1" || routed.StreamID != 2 || routed.Hint != "cam" {
				t.Errorf("routed %+v", routed)
			}
			var got []answer
			for _, m := range decodeAll(t, out) {
				if m.Type != chunk.TypeCommandAMF0 {
					continue
				}
				got = append(got, answer{m.Command, m.TxID, m.Args[len(m.Args)-1]})
				if m.Command == "_result" && m.TxID == 1 {
					info := m.Args[1].(amf0.Object)
					if v, _ := info.Number("objectEncoding"); v != 3 {
						t.Errorf("objectEncoding not echoed: %v", info)
					}
					got[len(got)-1].arg = nil
				}
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("answers:\n got %v\nwant %v", got, tt.want)
			}
		})
	}
}

// TestResponderSRSCallBeforeCreateStream: before a createStream SRS answers
// any call (here _checkbw and a call without transaction) with _result(null,
// null), as SrsRtmpServer::identify_client does.
func TestResponderSRSCallBeforeCreateStream(t *testing.T) {
	client := newClient().connect(t).
		cmd(t, 3, 0, "_checkbw", 2, nil).
		cmd(t, 3, 0, "noTransaction", 0, nil).
		cmd(t, 3, 0, "createStream", 3, nil).
		cmd(t, 3, 0, "_checkbw", 4, nil).
		cmd(t, 8, 1, "play", 5, nil, "cam").b
	r := NewResponder(Config{Template: srsTemplate(t)})
	out, routed, err := feedAll(t, r, client, 3)
	if err != nil || routed == nil {
		t.Fatalf("routed %v, err %v", routed, err)
	}
	var got []string
	for _, m := range decodeAll(t, out) {
		if m.Type == chunk.TypeCommandAMF0 && m.Command == "_result" && m.TxID != 1 {
			got = append(got, fmt.Sprintf("%v %v", m.TxID, m.Args))
		}
	}
	want := []string{"2 [<nil> <nil>]", "0 [<nil> <nil>]", "3 [<nil> 1]"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("SRS-family answers %q, want %q", got, want)
	}
}

func TestResponderRoutes(t *testing.T) {
	tests := []struct {
		name   string
		client []byte
		want   Routed
	}{
		{"authmod in app: at connect", newClient().cmd(t, 3, 0, "connect", 1, amf0.Object{
			{Key: "app", Value: "live?authmod=adobe&user=u"}, {Key: "tcUrl", Value: "rtmp://h/live?authmod=adobe&user=u"}}).b,
			Routed{AtConnect: true, Reason: "challenge-response login (authmod=)",
				Connect: amf0.Connect{App: "live?authmod=adobe&user=u", TcURL: "rtmp://h/live?authmod=adobe&user=u", TxID: 1}}},
		{"authmod in tcUrl only", newClient().cmd(t, 3, 0, "connect", 1, amf0.Object{
			{Key: "app", Value: "live"}, {Key: "tcUrl", Value: "rtmp://h/live?authmod=llnw&user=u"}}).b,
			Routed{AtConnect: true, Reason: "challenge-response login (authmod=)",
				Connect: amf0.Connect{App: "live", TcURL: "rtmp://h/live?authmod=llnw&user=u", TxID: 1}}},
		{"play2", newClient().connect(t).cmd(t, 3, 0, "createStream", 2, nil).
			cmd(t, 8, 1, "play2", 3, nil, amf0.Object{{Key: "streamName", Value: "s2?x"}, {Key: "transition", Value: "switch"}}).b,
			Routed{Kind: KindPlay, Reason: "play", StreamID: 1, Stream: "s2", Command: amf0.StreamCommand{Name: "play", TxID: 3, Stream: "s2?x"},
				Connect: amf0.Connect{App: "live", TcURL: "rtmp://127.0.0.1/live", TxID: 1}}},
		// Unknown message types, data, media, shared objects and aggregates
		// before routing are recorded, not fatal.
		{"unknown types before publish", newClient().
			msg(chunk.Message{CSID: 2, Type: chunk.TypeSetChunkSize, Payload: u32(4096)}).connect(t).
			msg(chunk.Message{CSID: 5, Type: 0x7f, Payload: []byte("??")}).
			msg(chunk.Message{CSID: 5, Type: chunk.TypeSharedObjectAMF0, Payload: []byte("so")}).
			msg(chunk.Message{CSID: 6, Type: chunk.TypeAggregate, StreamID: 1, Payload: make([]byte, 5000)}).
			msg(chunk.Message{CSID: 2, Type: chunk.TypeAck, Payload: u32(10)}).
			msg(chunk.Message{CSID: 2, Type: chunk.TypeUserControl, Payload: []byte{0, 3, 0, 0, 0, 1, 0, 0, 1, 0}}).
			cmd(t, 8, 1, "publish", 5, nil, "x", "live").b,
			Routed{Kind: KindPublish, Reason: "publish", StreamID: 1, Stream: "x", Command: amf0.StreamCommand{Name: "publish", TxID: 5, Stream: "x", PublishType: "live"},
				Connect: amf0.Connect{App: "live", TcURL: "rtmp://127.0.0.1/live", TxID: 1}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := NewResponder(Config{})
			trailing := []byte{0xC8, 1, 2, 3} // bytes after the trigger in the same read
			out, routed, err := r.Feed(append(bytes.Clone(tt.client), trailing...), t0)
			if err != nil || routed == nil {
				t.Fatalf("routed %v, err %v", routed, err)
			}
			if !reflect.DeepEqual(*routed, tt.want) {
				t.Errorf("routed\n got %+v\nwant %+v", *routed, tt.want)
			}
			if routed.AtConnect && len(out) > 0 {
				t.Errorf("answered %d bytes to a connect routed at connect", len(out))
			}
			if !bytes.Equal(r.Recorded(), append(bytes.Clone(tt.client), trailing...)) {
				t.Error("recording is not the client's bytes")
			}
			if _, _, err := r.Feed([]byte{1}, t0); !errors.Is(err, ErrRouted) {
				t.Errorf("Feed after routing: %v", err)
			}
		})
	}
}

func TestResponderHostile(t *testing.T) {
	many := newClient().connect(t)
	for i := range 70 {
		many.cmd(t, 3, 0, "ping", float64(i+2), nil)
	}
	tests := []struct {
		name   string
		client []byte
		lim    Limits
		now    time.Time
		want   error
		msg    string
	}{
		{"first command not connect", newClient().cmd(t, 3, 0, "createStream", 1, nil).b, Limits{}, t0, ErrNotConnect, `"createStream"`},
		{"media before connect is fine, then garbage command", newClient().msg(chunk.Message{CSID: 6, Type: chunk.TypeVideo, Payload: []byte{1}}).
			msg(chunk.Message{CSID: 3, Type: chunk.TypeCommandAMF0, Payload: []byte{0x42}}).b, Limits{}, t0, ErrBadCommand, "decoding"},
		{"connect without object", newClient().cmd(t, 3, 0, "connect", 1, nil).b, Limits{}, t0, ErrBadCommand, "command object"},
		{"second connect", newClient().connect(t).connect(t).b, Limits{}, t0, ErrProtocol, "second connect"},
		{"publish without a name", newClient().connect(t).cmd(t, 8, 1, "publish", 2, nil).b, Limits{}, t0, ErrBadCommand, "publish without"},
		{"too many messages", many.b, Limits{}, t0, ErrTooManyMessages, "more than 64"},
		{"too many bytes", newClient().connect(t).msg(chunk.Message{CSID: 6, Type: chunk.TypeVideo, StreamID: 1, Payload: make([]byte, 70000)}).b,
			Limits{}, t0, ErrTooLarge, "more than 65536"},
		{"custom byte limit", newClient().connect(t).b, Limits{MaxBytes: 50}, t0, ErrTooLarge, "more than 50"},
		{"deadline passed", newClient().connect(t).b, Limits{}, t0.Add(2 * time.Second), ErrTimeout, "no publish or play"},
		{"bad chunk stream", []byte{0x43, 0, 0, 0, 0, 0, 1, 20}, Limits{}, t0, ErrProtocol, "never had a fmt-0"},
		{"Set Chunk Size 0", newClient().msg(chunk.Message{CSID: 2, Type: chunk.TypeSetChunkSize, Payload: u32(0)}).b, Limits{}, t0, ErrProtocol, "Set Chunk Size"},
		{"createStream flood", func() []byte {
			c := newClient().connect(t)
			for i := range 300 {
				c.cmd(t, 3, 0, "createStream", float64(i+2), nil)
			}
			return c.b
		}(), Limits{MaxMessages: 1000, MaxBytes: 1 << 20}, t0, ErrProtocol, "255 streams"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tmpl := DefaultTemplate()
			if strings.Contains(tt.name, "flood") {
				tmpl = crtmpTemplate(t)
			}
			r := NewResponder(Config{Template: tmpl, Limits: tt.lim, Deadline: t0.Add(time.Second)})
			_, routed, err := r.Feed(tt.client, tt.now)
			if routed != nil || !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("routed %v, err %v; want %v mentioning %q", routed, err, tt.want, tt.msg)
			}
			if _, _, again := r.Feed([]byte{0}, tt.now); again == nil || again.Error() != err.Error() {
				t.Errorf("error not final: %v", again)
			}
		})
	}
	r := NewResponder(Config{Deadline: t0.Add(time.Second)})
	if r.Expired(t0) || !r.Expired(t0.Add(2*time.Second)) {
		t.Error("Expired")
	}
}

// An Enhanced RTMP client (fourCcList as a strict array, capsEx, the
// FourCC info maps) is answered with what its backend sends: the fields of
// the server's own reply, learned by the health check, not the client's.
func TestResponderEnhancedRTMP(t *testing.T) {
	w := chunk.NewWriter()
	info := amf0.Object{{Key: "level", Value: "status"}, {Key: "code", Value: "NetConnection.Connect.Success"},
		{Key: "description", Value: "Connection succeeded."}, {Key: "objectEncoding", Value: 0.0},
		{Key: "fourCcList", Value: amf0.StrictArray{"av01", "hvc1"}}, {Key: "capsEx", Value: 1.0},
		{Key: "videoFourCcInfoMap", Value: amf0.Object{{Key: "hvc1", Value: 3.0}}}}
	res, _ := amf0.EncodeCommand("_result", 1, amf0.Object{{Key: "fmsVer", Value: "FMS/3,0,1,123"}}, info)
	reply := w.Append(w.Append(nil, chunk.Message{CSID: 2, Type: chunk.TypeWindowAckSize, Payload: u32(5000000)}),
		chunk.Message{CSID: 3, Type: chunk.TypeCommandAMF0, Payload: res})
	tmpl, err := LearnTemplate(reply)
	if err != nil {
		t.Fatal(err)
	}
	client := newClient().connect(t, amf0.Property{Key: "fourCcList", Value: amf0.StrictArray{"av01", "vp09", "hvc1"}},
		amf0.Property{Key: "capsEx", Value: 2.0},
		amf0.Property{Key: "audioFourCcInfoMap", Value: amf0.Object{{Key: "Opus", Value: 1.0}}}).
		cmd(t, 3, 0, "createStream", 2, nil).cmd(t, 8, 1, "publish", 3, nil, "hevc", "live").b
	out, routed, err := NewResponder(Config{Template: tmpl}).Feed(client, t0)
	if err != nil || routed == nil || routed.Stream != "hevc" {
		t.Fatalf("routed %v, err %v", routed, err)
	}
	msgs := decodeAll(t, out)
	if len(msgs) != 3 || msgs[1].Command != "_result" || !reflect.DeepEqual(msgs[1].Args[1], info) {
		t.Fatalf("answers %v", msgs)
	}
	// A client that advertised no Enhanced RTMP gets none of its fields
	// back: the server answers them only to clients that sent a fourCcList.
	plain := newClient().connect(t).cmd(t, 3, 0, "createStream", 2, nil).cmd(t, 8, 1, "publish", 3, nil, "h264", "live").b
	out, routed, err = NewResponder(Config{Template: tmpl}).Feed(plain, t0)
	if err != nil || routed == nil {
		t.Fatalf("routed %v, err %v", routed, err)
	}
	msgs = decodeAll(t, out)
	if want := info[:4]; len(msgs) != 3 || !reflect.DeepEqual(msgs[1].Args[1], want) {
		t.Fatalf("answer to a client without fourCcList: %v, want information %v", msgs[1].Args, want)
	}
}

// crtmpserver frees a stream ID on deleteStream only: after closeStream the
// ID stays taken, and the next createStream gets the next one, as the
// server itself will answer the replayed calls.
func TestResponderCloseStreamKeepsTheID(t *testing.T) {
	client := newClient().connect(t).
		cmd(t, 3, 0, "createStream", 2, nil).
		cmd(t, 8, 1, "closeStream", 0, nil).
		cmd(t, 3, 0, "createStream", 3, nil).
		cmd(t, 3, 0, "deleteStream", 0, nil, 1.0).
		cmd(t, 3, 0, "createStream", 4, nil).
		cmd(t, 8, 2, "play", 5, nil, "s").b
	r := NewResponder(Config{Template: crtmpTemplate(t)})
	out, routed, err := feedAll(t, r, client, 3)
	if err != nil || routed == nil {
		t.Fatalf("routed %v, err %v", routed, err)
	}
	var ids []amf0.Value
	for _, m := range decodeAll(t, out) {
		if m.Command == "_result" && m.TxID >= 2 {
			ids = append(ids, m.Args[len(m.Args)-1])
		}
	}
	if want := []amf0.Value{1.0, 2.0, 1.0}; !reflect.DeepEqual(ids, want) {
		t.Errorf("createStream answers %v, want %v", ids, want)
	}
}
