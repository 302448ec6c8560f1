package command

import (
	"bytes"
	"encoding/binary"
	"reflect"
	"testing"

	"github.com/rtmp-edge/rtmp-edge/edge/chunk"
)

// The filter's chunk-level reader and the project's Scanner read the same
// messages from every capture and from a Writer's compressed output (the
// Scanner emits only control and command messages: those are compared).
func TestReaderAgreesWithScanner(t *testing.T) {
	var streams [][]byte
	for _, name := range fuzzClients {
		streams = append(streams, readTestdata(t, name+".client.bin"), readTestdata(t, name+".server.bin"))
	}
	w := chunk.NewWriter()
	w.Compress = true
	var b []byte
	b, _ = w.AppendSetChunkSize(b, 300)
	for i := range 50 {
		b = w.Append(b, chunk.Message{CSID: 3 + uint32(i%3), Type: []uint8{chunk.TypeCommandAMF0, chunk.TypeVideo, chunk.TypeUserControl}[i%3],
			StreamID: 1, Timestamp: uint32(i) * 0x800000, Payload: bytes.Repeat([]byte{byte(i)}, 100+i*20)})
	}
	streams = append(streams, b)
	for i, s := range streams {
		var want []fullMsg
		sc := chunk.NewScanner(chunk.Limits{})
		if err := sc.Feed(s, func(m chunk.Message) error {
			want = append(want, fullMsg{m.CSID, m.StreamID, m.Timestamp, m.Type, string(m.Payload)})
			return nil
		}); err != nil {
			t.Fatalf("stream %d: scanner: %v", i, err)
		}
		var got []fullMsg
		for _, m := range readStream(t, s, false) {
			if chunk.Kept(m.Type) {
				got = append(got, m)
			}
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("stream %d: reader %d messages, scanner %d", i, len(got), len(want))
		}
	}
	// Byte by byte, the same pieces join into the same messages.
	r := newReader()
	n := 0
	for i := range b {
		if err := r.feed(b[i:i+1], func(p *piece) error {
			if p.end {
				n++
				if p.st.Type == chunk.TypeSetChunkSize {
					r.setChunkSize(binary.BigEndian.Uint32([]byte{0, 0, 1, 44}))
				}
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	if n != 51 || !r.atBoundary() {
		t.Errorf("byte by byte: %d messages, at boundary %v", n, r.atBoundary())
	}
}
