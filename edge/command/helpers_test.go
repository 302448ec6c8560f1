package command

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"

	"github.com/rtmp-edge/rtmp-edge/edge/amf0"
	"github.com/rtmp-edge/rtmp-edge/edge/chunk"
)

func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// msg is one decoded message of a byte stream, for comparisons.
type msg struct {
	CSID, StreamID, Timestamp uint32
	Type                      uint8
	Command                   string  // command name, type 17/20
	TxID                      float64 // type 17/20
	Args                      []amf0.Value
	Payload                   []byte
}

// decodeAll reads a whole server→client or client→server stream with the
// project's Scanner (kept messages only) and decodes the commands.
func decodeAll(t testing.TB, b []byte) []msg {
	t.Helper()
	s := chunk.NewScanner(chunk.Limits{})
	var out []msg
	if err := s.Feed(b, func(m chunk.Message) error {
		d := msg{CSID: m.CSID, StreamID: m.StreamID, Timestamp: m.Timestamp, Type: m.Type, Payload: bytes.Clone(m.Payload)}
		if m.Type == chunk.TypeCommandAMF0 {
			cmd, err := amf0.ParseCommand(m.Payload, m.Type)
			if err != nil {
				return err
			}
			d.Command, d.TxID = cmd.Name, cmd.TxID
			if cmd.Object != nil {
				d.Args = append(d.Args, cmd.Object)
			} else {
				d.Args = append(d.Args, nil)
			}
			d.Args = append(d.Args, cmd.Args...)
		}
		out = append(out, d)
		return nil
	}); err != nil {
		t.Fatalf("decoding stream: %v", err)
	}
	return out
}

// clientStream builds client bytes the way FFmpeg writes them.
type clientStream struct {
	w *chunk.Writer
	b []byte
}

func newClient() *clientStream { return &clientStream{w: chunk.NewWriter()} }

func (c *clientStream) cmd(t testing.TB, csid, msid uint32, name string, txID float64, obj amf0.Value, args ...amf0.Value) *clientStream {
	t.Helper()
	p, err := amf0.EncodeCommand(name, txID, obj, args...)
	if err != nil {
		t.Fatal(err)
	}
	c.b = c.w.Append(c.b, chunk.Message{CSID: csid, Type: chunk.TypeCommandAMF0, StreamID: msid, Payload: p})
	return c
}

func (c *clientStream) msg(m chunk.Message) *clientStream {
	if m.Type == chunk.TypeSetChunkSize && len(m.Payload) == 4 && binary.BigEndian.Uint32(m.Payload) != 0 {
		var err error
		if c.b, err = c.w.AppendSetChunkSize(c.b, binary.BigEndian.Uint32(m.Payload)); err != nil {
			panic(err)
		}
		return c
	}
	c.b = c.w.Append(c.b, m)
	return c
}

func (c *clientStream) connect(t testing.TB, props ...amf0.Property) *clientStream {
	t.Helper()
	obj := amf0.Object{{Key: "app", Value: "live"}, {Key: "tcUrl", Value: "rtmp://127.0.0.1/live"}}
	return c.cmd(t, 3, 0, "connect", 1, append(obj, props...))
}

func u32(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }

// callFailed is a failed call in the words of servers other than crtmpserver
// (a client-side test helper: the edge answers such calls only as crtmpserver).
func callFailed(name string) amf0.Object {
	return amf0.Object{{Key: "level", Value: "error"}, {Key: "code", Value: "NetConnection.Call.Failed"},
		{Key: "description", Value: "Method " + truncate(name, 64) + " not found"}}
}
