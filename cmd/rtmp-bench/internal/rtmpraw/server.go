package rtmpraw

import (
	"fmt"
	"strings"
)

// Request is what a client asked for once its session is set up.
type Request struct {
	Publish  bool   // publish, else play
	App      string // from connect
	Stream   string // publish or play name, without a query string
	StreamID uint32 // the message stream id the client uses
}

// Acknowledgement window and peer bandwidth a server announces.
const serverWindow = 2500000

// AcceptSession answers a client's commands the way nginx-rtmp does (connect,
// createStream, publish or play; releaseStream, FCPublish and the like are
// ignored) until it publishes or plays, and returns what it asked for. The
// handshake must be done. Every exchange is bounded by Timeout.
func (c *Conn) AcceptSession() (Request, error) {
	var req Request
	nextStreamID := uint32(1)
	err := c.await(func(m Message) (bool, error) {
		cmd, ok := parseCommand(m)
		if !ok {
			return false, nil
		}
		switch cmd.name {
		case "connect":
			if obj, ok := firstObject(cmd.args); ok {
				req.App, _ = obj["app"].(string)
			}
			return false, c.replyConnect(cmd.tid)
		case "createStream":
			sid := nextStreamID
			nextStreamID++
			return false, c.writeCommand(CSIDCommand, 0, "_result", cmd.tid, nil, float64(sid))
		case "publish", "play":
			name, _ := stringArg(cmd.args, 1)
			if i := strings.IndexByte(name, '?'); i >= 0 {
				name = name[:i]
			}
			req.Publish, req.Stream, req.StreamID = cmd.name == "publish", name, m.StreamID
			if req.Publish {
				return true, c.status(m.StreamID, "NetStream.Publish.Start", "Start publishing")
			}
			var b []byte
			b = AppendUserControl(b, EventStreamBegin, m.StreamID)
			if err := c.Write(b); err != nil {
				return true, err
			}
			if err := c.status(m.StreamID, "NetStream.Play.Reset", "Playing and resetting"); err != nil {
				return true, err
			}
			return true, c.status(m.StreamID, "NetStream.Play.Start", "Started playing")
		}
		return false, nil
	})
	if err != nil {
		return req, fmt.Errorf("rtmp: accept session: %w", err)
	}
	return req, nil
}

func (c *Conn) replyConnect(tid float64) error {
	var b []byte
	b = AppendWindowAckSize(b, serverWindow)
	b = AppendSetPeerBandwidth(b, serverWindow)
	if c.ChunkSize > 128 {
		b = AppendSetChunkSize(b, uint32(c.ChunkSize))
	}
	p := AppendString(nil, "_result")
	p = AppendNumber(p, tid)
	p = AppendObject(p, []Prop{{"fmsVer", "FMS/3,0,1,123"}, {"capabilities", 31}})
	p = AppendObject(p, []Prop{{"level", "status"}, {"code", "NetConnection.Connect.Success"},
		{"description", "Connection succeeded."}, {"objectEncoding", 0}})
	b = AppendMessage(b, c.ChunkSize, CSIDCommand, 0, TypeCommandAMF0, 0, p)
	return c.Write(b)
}

func (c *Conn) status(sid uint32, code, description string) error {
	return c.writeCommand(CSIDData, sid, "onStatus", 0, nil,
		[]Prop{{"level", "status"}, {"code", code}, {"description", description}})
}

func firstObject(args []any) (map[string]any, bool) {
	for _, a := range args {
		if obj, ok := a.(map[string]any); ok {
			return obj, true
		}
	}
	return nil, false
}

// stringArg returns the i-th argument after the command object if it is a string.
func stringArg(args []any, i int) (string, bool) {
	if i >= len(args) {
		return "", false
	}
	s, ok := args[i].(string)
	return s, ok
}
