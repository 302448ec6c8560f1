package upstream

import (
	"bytes"
	"encoding/binary"
	"os"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/rtmp-edge/rtmp-edge/edge/amf0"
	"github.com/rtmp-edge/rtmp-edge/edge/chunk"
)

// replyOf builds a server's connect reply as the media server families write it, from the
// message sequences their sources send (crtmpserver BaseRTMPAppProtocolHandler::
// ProcessInvokeConnect; SRS SrsRtmpConn::service_cycle), with their header compression.
func replyOf(t *testing.T, compress bool, msgs ...chunk.Message) []byte {
	t.Helper()
	w := chunk.NewWriter()
	w.Compress = compress
	var b []byte
	for _, m := range msgs {
		if m.Type == chunk.TypeSetChunkSize {
			var err error
			if b, err = w.AppendSetChunkSize(b, binary.BigEndian.Uint32(m.Payload)); err != nil {
				t.Fatal(err)
			}
			continue
		}
		b = w.Append(b, m)
	}
	return b
}

func control(typ uint8, payload ...byte) chunk.Message {
	return chunk.Message{CSID: 2, Type: typ, Payload: payload}
}

func invoke(t *testing.T, vals ...amf0.Value) chunk.Message {
	t.Helper()
	p, err := amf0.Encode(vals...)
	if err != nil {
		t.Fatal(err)
	}
	return chunk.Message{CSID: 3, Type: chunk.TypeCommandAMF0, Payload: p}
}

func TestConnectResultShapes(t *testing.T) {
	nginx, err := os.ReadFile("testdata/nginx-connect-reply.bin")
	if err != nil {
		t.Fatal(err)
	}
	winAck := control(chunk.TypeWindowAckSize, 0, 0x26, 0x25, 0xA0)
	peerBW := control(chunk.TypeSetPeerBandwidth, 0, 0x26, 0x25, 0xA0, 2)
	streamBegin0 := control(chunk.TypeUserControl, 0, 0, 0, 0, 0, 0)
	success := amf0.Object{{Key: "level", Value: "status"}, {Key: "code", Value: "NetConnection.Connect.Success"},
		{Key: "description", Value: "Connection succeeded"}, {Key: "objectEncoding", Value: 0.0}}
	fms := amf0.Object{{Key: "fmsVer", Value: "FMS/3,0,1,123"}, {Key: "capabilities", Value: 31.0}}
	onBWDone := invoke(t, "onBWDone", 0.0, nil, 8192.0)

	crtmp := replyOf(t, true, winAck, peerBW, streamBegin0, invoke(t, "_result", 1.0, fms, success), onBWDone)
	crtmpResult := replyOf(t, true, winAck, peerBW, streamBegin0, invoke(t, "_result", 1.0, fms, success))
	srsInfo := append(success[:4:4], amf0.Property{Key: "data", Value: amf0.ECMAArray{
		{Key: "version", Value: "3,5,3,888"}, {Key: "srs_version", Value: "6.0.0"}}})
	srsProps := amf0.Object{{Key: "fmsVer", Value: "FMS/3,5,3,888"}, {Key: "capabilities", Value: 127.0}, {Key: "mode", Value: 1.0}}
	srs := replyOf(t, false, winAck, peerBW, control(chunk.TypeSetChunkSize, 0, 0, 0xEA, 0x60),
		invoke(t, "_result", 1.0, srsProps, srsInfo), onBWDone)
	enhancedInfo := append(success[:4:4],
		amf0.Property{Key: "fourCcList", Value: amf0.StrictArray{"av01", "hvc1"}},
		amf0.Property{Key: "capsEx", Value: 1.0},
		amf0.Property{Key: "videoFourCcInfoMap", Value: amf0.Object{{Key: "*", Value: 3.0}}},
		amf0.Property{Key: "audioFourCcInfoMap", Value: amf0.Object{{Key: "Opus", Value: 1.0}}})
	enhanced := replyOf(t, false, winAck, invoke(t, "_result", 1.0, fms, enhancedInfo))

	tests := []struct {
		name      string
		reply     []byte
		props     amf0.Object
		info      amf0.Object
		replyLen  int // of Reply; -1: all of reply
		splitRead bool
	}{
		{"nginx-rtmp, captured", nginx, fms, amf0.Object{{Key: "level", Value: "status"},
			{Key: "code", Value: "NetConnection.Connect.Success"}, {Key: "description", Value: "Connection succeeded."},
			{Key: "objectEncoding", Value: 0.0}}, -1, false},
		{"crtmpserver: compressed headers, onBWDone after", crtmp, fms, success, -1, false},
		{"SRS: Set Chunk Size, data, onBWDone", srs, srsProps, srsInfo, -1, false},
		{"Enhanced RTMP fields", enhanced, fms, enhancedInfo, -1, false},
		// Read byte by byte the probe stops at the end of _result: onBWDone has not come yet.
		{"crtmpserver, one byte per read", crtmp, fms, success, len(crtmpResult), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := bytes.NewReader(tt.reply)
			var out bytes.Buffer
			var res ConnectResult
			var err error
			if tt.splitRead {
				res, err = connectAppResult(iotest.OneByteReader(r), &out, "127.0.0.1:1935", "live")
			} else {
				res, err = connectAppResult(r, &out, "127.0.0.1:1935", "live")
			}
			if err != nil {
				t.Fatal(err)
			}
			if res.Command != "_result" || !reflect.DeepEqual(res.Properties, tt.props) || !reflect.DeepEqual(res.Information, tt.info) {
				t.Errorf("got %s\n props %#v\n info  %#v", res.Command, res.Properties, res.Information)
			}
			want := tt.reply
			if tt.replyLen >= 0 {
				want = tt.reply[:tt.replyLen]
			}
			if !bytes.Equal(res.Reply, want) {
				t.Errorf("Reply is %d bytes, want %d", len(res.Reply), len(want))
			}
			// What the check sent: one connect a server can read, with the fourCcList that
			// makes an Enhanced RTMP server show its own lists.
			s := chunk.NewScanner(chunk.Limits{})
			var sent []amf0.Command
			if err := s.Feed(out.Bytes(), func(m chunk.Message) error {
				cmd, err := amf0.ParseCommand(m.Payload, m.Type)
				sent = append(sent, cmd)
				return err
			}); err != nil || len(sent) != 1 {
				t.Fatalf("sent %d messages, %v", len(sent), err)
			}
			c, err := amf0.ParseConnect(sent[0])
			if err != nil || c.App != "live" || c.TcURL != "rtmp://127.0.0.1:1935/live" || c.TxID != 1 {
				t.Errorf("connect sent: %+v, %v", c, err)
			}
			if v, _ := sent[0].Object.Get("fourCcList"); !reflect.DeepEqual(v, probeFourCCs) {
				t.Errorf("fourCcList sent: %#v", v)
			}
		})
	}
}

func TestConnectResultRejections(t *testing.T) {
	fms := amf0.Object{{Key: "fmsVer", Value: "FMS/3,0,1,123"}}
	tests := []struct {
		name  string
		reply []byte
		want  string
	}{
		{"_error (crtmpserver adobe auth stage 1)", replyOf(t, false, invoke(t, "_error", 1.0, nil, amf0.Object{
			{Key: "level", Value: "error"}, {Key: "code", Value: "NetConnection.Connect.Rejected"},
			{Key: "description", Value: "[ AccessManager.Reject ] : [ code=403 need auth; authmod=adobe ] : "}})),
			`rejected: _error "NetConnection.Connect.Rejected" "[ AccessManager.Reject ]`},
		{"_result without success code", replyOf(t, false, invoke(t, "_result", 1.0, fms, amf0.Object{{Key: "code", Value: "x"}})),
			`rejected: _result "x"`},
		{"_result without information", replyOf(t, false, invoke(t, "_result", 1.0, fms)), `rejected: _result ""`},
		{"other transactions only, then EOF", replyOf(t, false, invoke(t, "_result", 2.0, fms, nil), invoke(t, "onBWDone", 0.0, nil)),
			"read reply: EOF"},
		{"Set Chunk Size 0", chunk.NewWriter().Append(nil, control(chunk.TypeSetChunkSize, 0, 0, 0, 0)), "malformed reply"},
		{"64 KiB of media, no reply", replyOf(t, false, chunk.Message{CSID: 6, Type: chunk.TypeVideo, StreamID: 1,
			Payload: make([]byte, maxRTMPProbeReply)}), errProbeReplyTooLong.Error()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := connectAppResult(bytes.NewReader(tt.reply), &bytes.Buffer{}, "127.0.0.1:1935", "live")
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
		})
	}
}
