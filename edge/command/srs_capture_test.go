package command

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"reflect"
	"testing"

	"github.com/rtmp-edge/rtmp-edge/edge/amf0"
	"github.com/rtmp-edge/rtmp-edge/edge/chunk"
)

// The testdata/srs-* files are both directions of real sessions with SRS
// (7.0.18, built from its source with RTC, SRT, GB28181, HTTPS and H.265
// off and the system's OpenSSL; a config of `listen 127.0.88.11:1935;` and
// an empty `vhost __defaultVhost__ {}`), recorded with internal/capture
// between the client and the server:
//
//	go run ./edge/command/internal/capture -listen 127.0.88.20:19350 \
//	    -backend 127.0.88.11:1935 -name srs-<name> -for 4s -max <N>
//
// one client per run, the client pointed at rtmp://127.0.88.20:19350/…:
//
//	check           the edge's own rtmp health check (rtmp-edge with a backend
//	                `check: { type: rtmp, app: live }` whose server is the
//	                capture's address): its connect, and the reply it learns
//	                the template from (it logged "connect template learned
//	                family=srs fmsver=FMS/3,5,3,888"); -max 262144
//	ffmpeg-publish  ffmpeg -re -f lavfi -i testsrc=size=160x120:rate=10 -t 2
//	                -c:v libx264 -f flv rtmp://…/live/stream1; -max 49152
//	ffmpeg-play     ffmpeg -i rtmp://…/live/stream1 -t 3 -f null -, while
//	                another ffmpeg published live/stream1 to SRS directly
//	                (testsrc + sine, libx264 -g 10, aac); -max 40960
//	rtmpdump-play   rtmpdump -r rtmp://…/live/stream1 -B 3, with the same
//	                direct publisher; -max 40960
//	rtmpdump-live   rtmpdump -v -r rtmp://…/live/stream1 -B 3 (FCSubscribe,
//	                play start -1000), with the same direct publisher;
//	                -max 40960
//
// No capture here needs SRS to run: the tests read the files.

// srsSessions are the client sessions captured against SRS.
var srsSessions = []string{"ffmpeg-publish", "ffmpeg-play", "rtmpdump-play", "rtmpdump-live"}

func srsLearned(t testing.TB) Template {
	t.Helper()
	tm, err := LearnTemplate(readTestdata(t, "srs-check.server.bin"))
	if err != nil {
		t.Fatal(err)
	}
	return tm
}

// srsData returns the "data" ECMA array of a connect _result's info
// object (SRS's build and connection facts), and the info without it.
func srsData(t testing.TB, vals []amf0.Value) (amf0.ECMAArray, amf0.Object) {
	t.Helper()
	if len(vals) != 4 {
		t.Fatalf("connect _result with %d values", len(vals))
	}
	info, _ := vals[3].(amf0.Object)
	var rest amf0.Object
	var data amf0.ECMAArray
	for _, p := range info {
		if p.Key == "data" {
			data, _ = p.Value.(amf0.ECMAArray)
			continue
		}
		rest = append(rest, p)
	}
	return data, rest
}

// withoutSrsID is a connect _result's data without its srs_id: SRS names
// every connection (the check's and each client's differ), and the edge
// answers every client with the check's.
func withoutSrsID(d amf0.ECMAArray) amf0.ECMAArray {
	var out amf0.ECMAArray
	for _, p := range d {
		if p.Key != "srs_id" {
			out = append(out, p)
		}
	}
	return out
}

func keys(d amf0.ECMAArray) []string {
	var k []string
	for _, p := range d {
		k = append(k, p.Key)
	}
	return k
}

// The template learned from the real SRS's answer to the health check's
// connect, and how the hand-built srsTemplate of the other tests differs
// from it.
func TestSrsLearnTemplateFromCheck(t *testing.T) {
	if c := decodeAll(t, readTestdata(t, "srs-check.client.bin")); len(c) != 1 || c[0].Command != "connect" ||
		!reflect.DeepEqual(c[0].Args[0].(amf0.Object)[3], amf0.Property{Key: "fourCcList", Value: probeList}) {
		t.Fatalf("the check's connect: %+v", c)
	}
	tm := srsLearned(t)
	if tm.Family != FamilySRS || tm.Compress || tm.LowestFreeStreamID || tm.Result != 3 {
		t.Errorf("family %v compress %v lowest-free %v result %d", tm.Family, tm.Compress, tm.LowestFreeStreamID, tm.Result)
	}
	// SRS 7 does not know Enhanced RTMP's connect fields either: no
	// fourCcList or capsEx in its answer.
	want := []struct {
		csid uint32
		typ  uint8
		what any // the payload; for commands checked below
	}{
		{2, chunk.TypeWindowAckSize, u32(2500000)},
		{2, chunk.TypeSetPeerBandwidth, append(u32(2500000), 2)}, // dynamic
		{2, chunk.TypeSetChunkSize, u32(60000)},
		{3, chunk.TypeCommandAMF0, nil},
		{3, chunk.TypeCommandAMF0, []amf0.Value{"onBWDone", 0.0, nil}},
	}
	if len(tm.Messages) != len(want) {
		t.Fatalf("%d messages, want %d: %+v", len(tm.Messages), len(want), tm.Messages)
	}
	for i, w := range want {
		m := tm.Messages[i]
		var got any = m.Payload
		if m.Type == chunk.TypeCommandAMF0 {
			vals, err := amf0.Decode(m.Payload, amf0.Limits{})
			if err != nil {
				t.Fatal(err)
			}
			got = vals
		}
		if m.CSID != w.csid || m.Type != w.typ || m.StreamID != 0 || m.Timestamp != 0 || (w.what != nil && !reflect.DeepEqual(got, w.what)) {
			t.Errorf("message %d: cs%d type %d ms%d ts%d %v, want cs%d type %d %v", i, m.CSID, m.Type, m.StreamID, m.Timestamp, got, w.csid, w.typ, w.what)
		}
	}
	res, err := amf0.Decode(tm.Messages[3].Payload, amf0.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	data, info := srsData(t, res)
	if !reflect.DeepEqual(res[:3], []amf0.Value{"_result", 1.0,
		amf0.Object{{Key: "fmsVer", Value: "FMS/3,5,3,888"}, {Key: "capabilities", Value: 127.0}, {Key: "mode", Value: 1.0}}}) ||
		!reflect.DeepEqual(info, amf0.Object{{Key: "level", Value: "status"}, {Key: "code", Value: "NetConnection.Connect.Success"},
			{Key: "description", Value: "Connection succeeded"}, {Key: "objectEncoding", Value: 0.0}}) {
		t.Errorf("connect _result %v", res)
	}
	if k := keys(data); !reflect.DeepEqual(k, []string{"version", "srs_sig", "srs_server", "srs_license", "srs_url", "srs_version",
		"srs_authors", "srs_server_ip", "srs_pid", "srs_id"}) {
		t.Errorf("data keys %v", k)
	}
	if v, _ := amf0.Object(data).String("srs_version"); v != "7.0.18" {
		t.Errorf("srs_version %q", v)
	}
	if ip, _ := amf0.Object(data).String("srs_server_ip"); ip != "127.0.88.11" {
		t.Errorf("srs_server_ip %q", ip)
	}

	// Every client's session got the same reply but for the connection's
	// own srs_id.
	checkEnd := connectReplyEnd(t, readTestdata(t, "srs-check.server.bin"))
	for _, name := range srsSessions {
		server := readTestdata(t, "srs-"+name+".server.bin")
		got, want := decodeAll(t, server[:connectReplyEnd(t, server)]), decodeAll(t, readTestdata(t, "srs-check.server.bin")[:checkEnd])
		if len(got) != len(want) {
			t.Fatalf("%s: %d messages in the connect reply, the check's %d", name, len(got), len(want))
		}
		for i := range got {
			if got[i].Command == "_result" {
				gd, gi := srsData(t, append([]amf0.Value{got[i].Command, got[i].TxID}, got[i].Args...))
				wd, wi := srsData(t, append([]amf0.Value{want[i].Command, want[i].TxID}, want[i].Args...))
				if !reflect.DeepEqual(gi, wi) || !reflect.DeepEqual(withoutSrsID(gd), withoutSrsID(wd)) || reflect.DeepEqual(gd, wd) {
					t.Errorf("%s: connect _result %v, the check's %v", name, got[i].Args, want[i].Args)
				}
				continue
			}
			if !reflect.DeepEqual(got[i], want[i]) {
				t.Errorf("%s: message %d %+v, the check's %+v", name, i, got[i], want[i])
			}
		}
	}

	// The hand-built SRS template the other tests use differs from the real
	// one in the _result's data only (templateDiffer); with the real data put
	// in, it is the real template exactly.
	templateDiffer := map[string]string{
		"data": "hand-built: version and srs_version 6.0.0, ECMA count 2; real SRS 7.0.18: ten keys (srs_sig, srs_server, srs_license, srs_url, srs_authors, srs_server_ip, srs_pid, srs_id) and an ECMA count of 0",
	}
	h := srsTemplate(t)
	hres, err := amf0.Decode(h.Messages[3].Payload, amf0.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	hdata, hinfo := srsData(t, hres)
	if reflect.DeepEqual(hdata, data) {
		t.Errorf("the hand-built data is the real one now: drop %q from templateDiffer", "data")
	}
	if !reflect.DeepEqual(hinfo, info) || !reflect.DeepEqual(hres[:3], res[:3]) {
		t.Errorf("the hand-built _result differs beyond %v:\n built %v\n  real %v", templateDiffer, hres, res)
	}
	patched := h
	patched.Messages = append([]chunk.Message(nil), h.Messages...)
	patched.Messages[3].Payload = tm.Messages[3].Payload
	if !reflect.DeepEqual(patched, tm) {
		t.Errorf("the hand-built SRS template differs from the real one beyond %v:\n built %+v\n  real %+v", templateDiffer, h, tm)
	}
}

// The Responder with the template learned from the real SRS, against the
// real clients: where it routes, and its answers beside what SRS itself
// answered each of them, message by message (chunk stream, message stream,
// command, transaction, arguments; the connect _result's srs_id aside).
func TestSrsResponderAnswers(t *testing.T) {
	// SRS answers no call after createStream (FFmpeg's and rtmpdump's
	// _checkbw, rtmpdump's FCSubscribe), and neither does the edge now: no
	// transaction is answered differently.
	tests := []struct {
		name   string
		kind   Kind
		msid   uint32
		hint   string
		differ map[float64]string // transactions the edge answers and SRS does not, or otherwise
	}{
		{"ffmpeg-publish", KindPublish, 1, "stream1", nil},
		{"ffmpeg-play", KindPlay, 1, "", nil},
		{"rtmpdump-play", KindPlay, 1, "", nil},
		{"rtmpdump-live", KindPlay, 1, "stream1", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			client := readTestdata(t, "srs-"+tt.name+".client.bin")
			server := readTestdata(t, "srs-"+tt.name+".server.bin")
			for _, step := range []int{0, 1, 7} {
				r := NewResponder(Config{Template: srsLearned(t)})
				out, routed, err := feedAll(t, r, client, step)
				if err != nil || routed == nil {
					t.Fatalf("step %d: routed %v, err %v", step, routed, err)
				}
				if routed.Kind != tt.kind || routed.StreamID != tt.msid || routed.Stream != "stream1" || routed.Hint != tt.hint ||
					routed.Connect.App != "live" || routed.AtConnect {
					t.Errorf("step %d: routed %+v", step, routed)
				}
				if rec := r.Recorded(); !bytes.Equal(rec, client[:len(rec)]) || len(rec) < onTrigger(t, client) {
					t.Errorf("step %d: recorded %d bytes, not the client's first %d", step, len(rec), onTrigger(t, client))
				}
				norm := func(ms []msg) []msg {
					var out []msg
					for _, m := range ms {
						if _, ok := tt.differ[m.TxID]; ok && m.TxID != 0 {
							continue
						}
						if m.Command == "_result" && m.TxID == 1 {
							d, info := srsData(t, append([]amf0.Value{m.Command, m.TxID}, m.Args...))
							m.Args = []amf0.Value{m.Args[0], append(info, amf0.Property{Key: "data", Value: withoutSrsID(d)})}
							m.Payload = nil
						}
						out = append(out, m)
					}
					return out
				}
				got := decodeAll(t, out)
				want := decodeAll(t, server[:crtmpAnswersEnd(t, server)])
				if g, w := norm(got), norm(want); !reflect.DeepEqual(g, w) {
					t.Errorf("step %d: answers differ from SRS's:\n got %v\nwant %v", step, g, w)
				}
				for tx, why := range tt.differ {
					ga, wa := crtmpAnswerTo(got, tx), crtmpAnswerTo(want, tx)
					if ga != nil && wa != nil && reflect.DeepEqual(*ga, *wa) {
						t.Errorf("step %d: transaction %v is answered as SRS does now: drop it from differ (%s)", step, tx, why)
					}
					if ga == nil && wa == nil {
						t.Errorf("step %d: transaction %v answered by neither (%s)", step, tx, why)
					}
				}
			}
		})
	}
}

// srsHeaderStatesAgree is headerStatesAgree for a server that changes its
// chunk size in the connect reply (SRS sends Set Chunk Size 60000 first):
// whether the Responder's answers so far leave the client's header state
// on each chunk stream of the server's bytes b the one b leaves.
func srsHeaderStatesAgree(r *Responder, b []byte) bool {
	rd := newReader()
	var buf []byte
	if err := rd.feed(b, func(p *piece) error {
		if p.start {
			buf = buf[:0]
		}
		buf = append(buf, p.payload...)
		if p.end && p.st.Type == chunk.TypeSetChunkSize && len(buf) == 4 {
			return rd.setChunkSize(binary.BigEndian.Uint32(buf))
		}
		return nil
	}); err != nil || !rd.atBoundary() {
		return false
	}
	for _, s := range rd.streams {
		if c, ok := r.w.State(s.csid); !ok || c != s.st {
			return false
		}
	}
	return true
}

// srsAnswered is whether the Responder's answers to client leave the
// client in the header state SRS's answers (server[:end]) leave.
func srsAnswered(t *testing.T, client, server []byte) bool {
	t.Helper()
	r := NewResponder(Config{Template: srsLearned(t)})
	if _, routed, err := r.Feed(client, t0); err != nil || routed == nil {
		t.Fatalf("responder: routed %v, err %v", routed, err)
	}
	return srsHeaderStatesAgree(r, server[:crtmpAnswersEnd(t, server)])
}

// The reply filter over the real SRS's side of each session, after the
// Responder answered the real client with the template learned from the
// real SRS: the client gets the edge's answers, then SRS's messages from
// its answer to publish/play on (StreamBegin(1), onFCPublish, onStatus,
// media), unchanged but for at most one repeated Set Chunk Size (the
// filter's own chunk-size sync beside SRS's), on the stream IDs the edge
// gave. The filter has answered at SRS's first onStatus, and is Done
// there: the edge answers what SRS answers (nothing to _checkbw and
// FCSubscribe after createStream), so the client's header state is the one
// SRS's bytes leave and the session goes back to the splice. (When the edge
// still answered those calls, it never was Done on these sessions.)
func TestSrsFilterCaptures(t *testing.T) {
	for _, name := range srsSessions {
		client := readTestdata(t, "srs-"+name+".client.bin")
		server := readTestdata(t, "srs-"+name+".server.bin")
		end := crtmpAnswersEnd(t, server)
		statusEnd := -1
		for _, m := range serverMessages(t, server) {
			if m.Command == "onStatus" {
				statusEnd = m.end
				break
			}
		}
		if statusEnd < 0 {
			t.Fatalf("%s: SRS sent no onStatus", name)
		}
		for _, step := range []int{0, 1, 13, 1000} {
			t.Run(fmt.Sprintf("%s/step%d", name, step), func(t *testing.T) {
				_, answers, got, answeredAt, doneAt, err := crtmpSession(t, srsLearned(t), client, server, step)
				if err != nil {
					t.Fatal(err)
				}
				exact := srsAnswered(t, client, server)
				if !exact {
					t.Errorf("the edge's answers do not leave the client in SRS's header state: the filter stays in the path")
				}
				// Read from the start: SRS's Set Chunk Size 60000 (and the
				// edge's, in its answers) holds for what follows.
				restMsgs, repeats := withoutRepeatedChunkSize(readStream(t, got, false)[len(readAll(t, answers)):])
				wantMsgs := readStream(t, server, false)[len(readStream(t, server[:end], false)):]
				if d := sameMessages(restMsgs, wantMsgs); d != "" || repeats > 1 {
					t.Fatalf("after the edge's answers the client got other messages than SRS sent from its answer on (%d repeated Set Chunk Size): %s", repeats, d)
				}
				piece := step
				if piece == 0 {
					piece = len(server)
				}
				if answeredAt < statusEnd || answeredAt >= statusEnd+piece {
					t.Errorf("answered at server byte %d, SRS's onStatus ends at %d (step %d)", answeredAt, statusEnd, step)
				}
				if exact && (doneAt < statusEnd || doneAt >= statusEnd+piece) {
					t.Errorf("the edge answered with SRS's header state, yet done at server byte %d, onStatus ends at %d (step %d)", doneAt, statusEnd, step)
				}
				if !exact && doneAt >= 0 {
					t.Errorf("done at server byte %d although the client's header state is not SRS's", doneAt)
				}
				checkGivenStreams(t, answers, got)
			})
		}
	}
}

// FuzzSrsReplyFilter is FuzzCrtmpReplyFilter from SRS's side: the real
// SRS clients answered with the template learned from the real SRS, then
// whatever the server sends (seeds: SRS's real bytes of those sessions).
// The filter never panics, holds no more than its bound, gives the same
// bytes and error whole or split, and when the server's stream is a valid
// chunk stream the client can read all it got.
func FuzzSrsReplyFilter(f *testing.F) {
	fuzzRealServerFilter(f, "srs-", srsSessions, srsLearned)
}

// withoutUnanswered is a client capture without the calls SRS leaves
// unanswered (_checkbw, FCSubscribe): the bytes of those messages cut out
// (in these captures they are the last messages on chunk stream 3, so
// nothing after them depends on their headers).
func withoutUnanswered(t *testing.T, client []byte) []byte {
	t.Helper()
	var out []byte
	prev, cut := 0, 0
	for _, m := range serverMessages(t, client) {
		if m.Command == "_checkbw" || m.Command == "FCSubscribe" {
			cut++
		} else {
			out = append(out, client[prev:m.end]...)
		}
		prev = m.end
	}
	if cut == 0 {
		t.Fatal("no _checkbw nor FCSubscribe in the client capture")
	}
	return append(out, client[prev:]...)
}

// The answers to _checkbw and FCSubscribe were the one thing that kept the
// filter in the path of an SRS session: the same real sessions without
// those calls (SRS's bytes stay valid, it answered none) leave the client
// in SRS's header state, and the filter is Done at SRS's first onStatus.
func TestSrsFilterDoneWithoutUnanswered(t *testing.T) {
	for _, name := range srsSessions {
		t.Run(name, func(t *testing.T) {
			client := withoutUnanswered(t, readTestdata(t, "srs-"+name+".client.bin"))
			server := readTestdata(t, "srs-"+name+".server.bin")
			statusEnd := -1
			for _, m := range serverMessages(t, server) {
				if m.Command == "onStatus" {
					statusEnd = m.end
					break
				}
			}
			for _, step := range []int{1, 13} {
				_, _, _, _, doneAt, err := crtmpSession(t, srsLearned(t), client, server, step)
				if err != nil {
					t.Fatal(err)
				}
				if !srsAnswered(t, client, server) {
					t.Errorf("step %d: without _checkbw and FCSubscribe the client is still not in SRS's header state", step)
				}
				if doneAt < statusEnd || doneAt >= statusEnd+step {
					t.Errorf("step %d: done at server byte %d, SRS's onStatus ends at %d", step, doneAt, statusEnd)
				}
			}
		})
	}
}
