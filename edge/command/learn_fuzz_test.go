package command

import (
	"bytes"
	"encoding/binary"
	"errors"
	"reflect"
	"testing"

	"github.com/rtmp-edge/rtmp-edge/edge/amf0"
	"github.com/rtmp-edge/rtmp-edge/edge/chunk"
)

// learnClients are the real clients' first bytes the fuzz target answers
// with a learned template: nginx-rtmp's and crtmpserver's captures.
var learnClients = append(append([]string(nil), fuzzClients...),
	"crtmpserver-ffmpeg-publish", "crtmpserver-ffmpeg-play", "crtmpserver-rtmpdump-live", "crtmpserver-twostreams")

// FuzzLearnTemplate: whatever a media server answers the health check's
// connect with, learning a template from it never panics and either fails
// with ErrTemplate or gives a template within its bounds that does not
// alias the reply; and a real client's session answered with that
// template never panics, gets a readable stream whose size is bounded by
// the reply's (a server cannot make the edge amplify), with its connect
// answered, and the reply filter fed the same reply never panics nor holds
// more than its bound.
func FuzzLearnTemplate(f *testing.F) {
	for i, name := range learnClients {
		server := readTestdata(f, name+".server.bin")
		end := replyEnd(f, server)
		f.Add(bytes.Clone(server[:end]), uint8(i))
		// With what followed the reply (crtmpserver's onBWDone and its
		// answers to the next calls; nginx-rtmp's answers).
		f.Add(bytes.Clone(server[:min(len(server), end+256)]), uint8(i+1))
	}
	f.Add(readTestdata(f, "crtmpserver-check.server.bin"), uint8(0))
	f.Fuzz(func(t *testing.T, reply []byte, which uint8) {
		tm, err := LearnTemplate(bytes.Clone(reply))
		if err != nil {
			if !errors.Is(err, ErrTemplate) {
				t.Fatalf("not an ErrTemplate: %v", err)
			}
			if tm.Messages != nil {
				t.Fatalf("a failed learn returned %d messages", len(tm.Messages))
			}
			return
		}
		if len(tm.Messages) == 0 || len(tm.Messages) > maxTemplateMessages || tm.Result < 0 || tm.Result >= len(tm.Messages) {
			t.Fatalf("%d messages, result at %d", len(tm.Messages), tm.Result)
		}
		if res, err := amf0.ParseCommand(tm.Messages[tm.Result].Payload, tm.Messages[tm.Result].Type); err != nil || res.Name != "_result" || res.TxID != 1 {
			t.Fatalf("the template's result is not _result(1): %v %v", res.Name, err)
		}
		size := 0
		for _, m := range tm.Messages {
			size += len(m.Payload)
		}
		if size > len(reply) {
			t.Fatalf("template payloads %d bytes from a %d-byte reply", size, len(reply))
		}
		if tm.Family > FamilySRS || tm.LowestFreeStreamID != (tm.Family == FamilyCrtmpserver) {
			t.Fatalf("family %v, lowest free %v", tm.Family, tm.LowestFreeStreamID)
		}
		// The template owns its bytes: learning from a copy that is then
		// overwritten gives what learning from the reply gives.
		scratch := bytes.Clone(reply)
		tm2, err := LearnTemplate(scratch)
		for i := range scratch {
			scratch[i] = 0xA5
		}
		if err != nil || !reflect.DeepEqual(tm, tm2) {
			t.Fatalf("learning again: %v, or a template aliasing the reply", err)
		}

		client := readTestdata(t, learnClients[int(which)%len(learnClients)]+".client.bin")
		r := NewResponder(Config{Template: tm})
		out, routed, err := r.Feed(client, t0)
		if len(out) > 4*len(reply)+16<<10 {
			t.Fatalf("%d bytes of answers to a %d-byte template reply", len(out), len(reply))
		}
		if err != nil {
			// A template the edge learned but cannot answer a real client
			// with would close every session of that backend.
			t.Fatalf("a real client's conversation failed with a learned template: %v", err)
		}
		if routed == nil {
			t.Fatal("a real client was not routed")
		}
		if err := readable(out); err != nil {
			t.Fatalf("the client cannot read the edge's answers: %v", err)
		}
		connectAnswered := false
		rd := newReader()
		bufs := map[uint32][]byte{}
		_ = rd.feed(out, func(p *piece) error {
			if p.start {
				bufs[p.csid] = bufs[p.csid][:0]
			}
			bufs[p.csid] = append(bufs[p.csid], p.payload...)
			if !p.end {
				return nil
			}
			buf := bufs[p.csid]
			switch {
			case p.st.Type == chunk.TypeSetChunkSize && len(buf) >= 4:
				return rd.setChunkSize(binary.BigEndian.Uint32(buf))
			case p.st.Type == chunk.TypeAbort && len(buf) >= 4:
				rd.abort(binary.BigEndian.Uint32(buf))
			default:
				if cmd, err := amf0.ParseCommand(buf, p.st.Type); err == nil && cmd.Name == "_result" && cmd.TxID == routed.Connect.TxID {
					connectAnswered = true
				}
			}
			return nil
		})
		if !connectAnswered {
			t.Fatal("the client's connect got no _result")
		}
		// The health check hands LearnTemplate only replies the project's
		// strict chunk scanner read (it reads the reply with one). For those,
		// a strict reader must read the edge's answers too. (LearnTemplate
		// itself reads leniently: it keeps, say, an Abort message with a
		// short payload, which the strict scanner calls malformed.)
		if chunk.NewScanner(chunk.Limits{MaxCommand: maxRTMPReply}).Feed(reply, func(chunk.Message) error { return nil }) == nil {
			if err := chunk.NewScanner(chunk.Limits{MaxCommand: maxRTMPReply}).Feed(out, func(chunk.Message) error { return nil }); err != nil {
				t.Fatalf("a strictly readable reply gave answers a strict reader rejects: %v", err)
			}
		}
		flt := r.ReplyFilter()
		if _, err := flt.Feed(reply); err != nil && !errors.Is(err, ErrFilter) && !errors.Is(err, ErrRefused) && !errors.Is(err, ErrStreamID) {
			t.Fatalf("filter: %v", err)
		}
		for _, h := range flt.holds {
			if len(h.buf) > maxHeld {
				t.Fatalf("the filter holds %d bytes", len(h.buf))
			}
		}
	})
}

// maxRTMPReply is what the health check reads of a connect reply at most
// (and its scanner's command limit).
const maxRTMPReply = 64 << 10

// replyEnd is the offset just past a server's _result to transaction 1.
func replyEnd(t testing.TB, server []byte) int {
	s := chunk.NewScanner(chunk.Limits{})
	end := -1
	_ = s.Feed(server, func(m chunk.Message) error {
		if cmd, err := amf0.ParseCommand(m.Payload, m.Type); err == nil && cmd.Name == "_result" && cmd.TxID == 1 && end < 0 {
			end = int(s.Consumed())
		}
		return nil
	})
	if end < 0 {
		t.Fatal("no connect _result in the server capture")
	}
	return end
}
