package chunk

import (
	"bytes"
	"encoding/binary"
	"errors"
	"reflect"
	"testing"
)

// script is a sequence of messages (and chunk size changes) written by a
// Writer; the Scanner must read back every kept message exactly.
type scriptStep struct {
	m         Message
	chunkSize uint32 // >0: a Set Chunk Size instead of m
}

func writeScript(w *Writer, steps []scriptStep) []byte {
	var b []byte
	for _, s := range steps {
		if s.chunkSize > 0 {
			var err error
			if b, err = w.AppendSetChunkSize(b, s.chunkSize); err != nil {
				panic(err)
			}
			continue
		}
		b = w.Append(b, s.m)
	}
	return b
}

// wantKept is what a Scanner emits for a script: its kept messages, and
// the Set Chunk Size messages themselves.
func wantKept(steps []scriptStep) []Message {
	var out []Message
	for _, s := range steps {
		if s.chunkSize > 0 {
			out = append(out, Message{CSID: 2, Type: TypeSetChunkSize, Payload: u32(s.chunkSize)})
			continue
		}
		if Kept(s.m.Type) {
			m := s.m
			if m.Payload == nil {
				m.Payload = []byte{}
			}
			out = append(out, m)
		}
	}
	return out
}

func TestWriterRoundTrip(t *testing.T) {
	cmd := func(csid, msid, ts uint32, n int) scriptStep {
		return scriptStep{m: Message{CSID: csid, Type: TypeCommandAMF0, StreamID: msid, Timestamp: ts, Payload: payload(n)}}
	}
	media := func(csid, ts uint32, n int) scriptStep {
		return scriptStep{m: Message{CSID: csid, Type: TypeVideo, StreamID: 1, Timestamp: ts, Payload: payload(n)}}
	}
	tests := []struct {
		name  string
		steps []scriptStep
	}{
		{"commands at 128", []scriptStep{cmd(3, 0, 0, 300), cmd(3, 0, 0, 25), cmd(3, 0, 0, 25), cmd(5, 1, 0, 40)}},
		{"same delta: fmt 3 new messages", []scriptStep{cmd(4, 1, 0, 10), cmd(4, 1, 40, 10), cmd(4, 1, 80, 10), cmd(4, 1, 120, 10)}},
		{"chunk size changes between messages", []scriptStep{cmd(3, 0, 0, 300), {chunkSize: 4096}, cmd(3, 0, 0, 5000),
			{chunkSize: 1}, cmd(3, 0, 0, 7), {chunkSize: 0xFFFFFF}, cmd(3, 0, 0, 200)}},
		{"media skipped in between, large csids", []scriptStep{media(6, 0, 9000), cmd(64, 0, 0, 130), media(6, 33, 300),
			cmd(319, 0, 0, 130), cmd(320, 1, 5, 130), cmd(65599, 1, 5, 300), media(6, 66, 128)}},
		{"extended timestamps", []scriptStep{cmd(3, 0, 0xFFFFFF, 300), cmd(3, 0, 0x1FFFFFF, 300), cmd(3, 0, 0x2FFFFFE, 300),
			cmd(3, 0, 0x2FFFFFF, 300), cmd(4, 1, 0xFFFFFFFF, 129), media(6, 0x01000000, 1000), cmd(8, 1, 0xFFFFFE, 1)}},
		{"extended delta", []scriptStep{cmd(5, 1, 10, 200), cmd(5, 1, 10+0xFFFFFF, 200), cmd(5, 1, 10+2*0xFFFFFF, 200)}},
		{"timestamp going back, stream changing", []scriptStep{cmd(3, 0, 100, 10), cmd(3, 0, 50, 10), cmd(3, 1, 60, 10), cmd(3, 0, 60, 10)}},
		{"empty non-kept message", []scriptStep{{m: Message{CSID: 6, Type: TypeAudio, StreamID: 1}}, cmd(6, 1, 0, 3)}},
	}
	for _, tt := range tests {
		for _, compress := range []bool{false, true} {
			name := tt.name + "/fmt0"
			if compress {
				name = tt.name + "/compressed"
			}
			t.Run(name, func(t *testing.T) {
				w := NewWriter()
				w.Compress = compress
				data := writeScript(w, tt.steps)
				got, err := checkSplits(t, Limits{}, data)
				if err != nil {
					t.Fatalf("scanner: %v", err)
				}
				if want := wantKept(tt.steps); !reflect.DeepEqual(got, want) {
					t.Fatalf("read back:\n got %+v\nwant %+v", got, want)
				}
				s := NewScanner(Limits{})
				s.Feed(data, nil)
				for _, st := range s.streams {
					ws, ok := w.State(st.csid)
					rs := State{StreamID: st.msid, Type: st.typ, Length: st.length, Timestamp: st.ts, Delta: st.delta, Extended: st.extended}
					if !ok || ws != rs {
						t.Errorf("chunk stream %d: writer state %+v, reader state %+v", st.csid, ws, rs)
					}
				}
				if s.ChunkSize() != w.ChunkSize() {
					t.Errorf("chunk size: reader %d, writer %d", s.ChunkSize(), w.ChunkSize())
				}
			})
		}
	}
}

// The Writer's bytes are the ones the hand builder of the scanner tests
// writes FFmpeg's way, header by header.
func TestWriterBytes(t *testing.T) {
	w := NewWriter()
	got := w.Append(nil, Message{CSID: 3, Type: TypeCommandAMF0, Payload: payload(300)})
	got = w.Append(got, Message{CSID: 320, Type: TypeCommandAMF0, StreamID: 1, Timestamp: 0x01000000, Payload: payload(300)})
	got, _ = w.AppendSetChunkSize(got, 4096)
	got = w.Append(got, Message{CSID: 3, Type: TypeCommandAMF0, Payload: payload(300)})
	want := newStream().msg(0, 3, 0, TypeCommandAMF0, 0, payload(300)).
		msg(0, 320, 0x01000000, TypeCommandAMF0, 1, payload(300)).setChunkSize(4096).
		msg(0, 3, 0, TypeCommandAMF0, 0, payload(300)).b
	if !bytes.Equal(got, want) {
		t.Fatalf("got  % x\nwant % x", got, want)
	}

	// Compression as crtmpserver does it: fmt 1, 2, then 3 for a new message.
	w = NewWriter()
	w.Compress = true
	var c []byte
	for i, m := range []Message{
		{CSID: 2, Type: TypeWindowAckSize, Payload: u32(2500000)},
		{CSID: 2, Type: TypeSetPeerBandwidth, Payload: []byte{0, 0x26, 0x25, 0xA0, 2}},
		{CSID: 2, Type: TypeSetPeerBandwidth, Timestamp: 5, Payload: []byte{0, 0x26, 0x25, 0xA0, 2}},
		{CSID: 2, Type: TypeSetPeerBandwidth, Timestamp: 10, Payload: []byte{0, 0x26, 0x25, 0xA0, 2}},
	} {
		before := len(c)
		c = w.Append(c, m)
		if wantFmt := []byte{0, 1, 2, 3}[i]; c[before]>>6 != wantFmt {
			t.Errorf("message %d: fmt %d, want %d", i, c[before]>>6, wantFmt)
		}
	}
}

func TestWriterAppendFmtErrors(t *testing.T) {
	w := NewWriter()
	m := Message{CSID: 3, Type: TypeCommandAMF0, Timestamp: 10, Payload: payload(5)}
	if _, err := w.AppendFmt(nil, 1, m); !errors.Is(err, ErrMalformed) {
		t.Errorf("fmt 1 on a new chunk stream: %v", err)
	}
	w.Append(nil, m)
	tests := []struct {
		fmtID uint8
		m     Message
	}{
		{1, Message{CSID: 3, Type: TypeCommandAMF0, StreamID: 1, Timestamp: 10, Payload: payload(5)}},
		{1, Message{CSID: 3, Type: TypeCommandAMF0, Timestamp: 9, Payload: payload(5)}},
		{2, Message{CSID: 3, Type: TypeCommandAMF0, Timestamp: 10, Payload: payload(6)}},
		{2, Message{CSID: 3, Type: TypeDataAMF0, Timestamp: 10, Payload: payload(5)}},
		{3, Message{CSID: 3, Type: TypeCommandAMF0, Timestamp: 11, Payload: payload(5)}},
		{4, m},
	}
	for _, tt := range tests {
		if b, err := w.AppendFmt([]byte{9}, tt.fmtID, tt.m); !errors.Is(err, ErrMalformed) || !bytes.Equal(b, []byte{9}) {
			t.Errorf("fmt %d %+v: %v, % x", tt.fmtID, tt.m, err, b)
		}
	}
	if _, err := w.AppendFmt(nil, 3, Message{CSID: 3, Type: TypeCommandAMF0, Timestamp: 20, Payload: payload(5)}); err != nil {
		t.Errorf("fmt 3 with the same delta: %v", err)
	}
	if _, err := w.AppendSetChunkSize(nil, 0); !errors.Is(err, ErrChunkSize) {
		t.Errorf("Set Chunk Size 0: %v", err)
	}
	if err := w.SetChunkSize(0x80000000); !errors.Is(err, ErrChunkSize) {
		t.Errorf("chunk size 2^31: %v", err)
	}
}

// SetState and AppendHeader let a filter rewrite one header and keep the
// Writer's view of the receiver right.
func TestWriterSetStateAppendHeader(t *testing.T) {
	w := NewWriter()
	w.Compress = true
	st := State{StreamID: 1, Type: TypeVideo, Length: 10, Timestamp: 1000, Delta: 40}
	w.SetState(6, st)
	if got, ok := w.State(6); !ok || got != st {
		t.Fatalf("State = %+v, %v", got, ok)
	}
	b := w.Append(nil, Message{CSID: 6, Type: TypeVideo, StreamID: 1, Timestamp: 1040, Payload: payload(10)})
	if b[0]>>6 != 3 || len(b) != 1+10 {
		t.Errorf("after SetState the same delta should give a fmt-3 new message; got fmt %d, %d bytes", b[0]>>6, len(b))
	}
	h := AppendHeader(nil, 0, 6, State{StreamID: 1, Type: TypeVideo, Length: 10, Timestamp: 0x01000000, Extended: true})
	want := []byte{0x06, 0xFF, 0xFF, 0xFF, 0, 0, 10, TypeVideo, 1, 0, 0, 0, 1, 0, 0, 0}
	if !bytes.Equal(h, want) {
		t.Errorf("header % x, want % x", h, want)
	}
}

// FuzzWriter: any message script the fuzzer makes up is read back by the
// Scanner exactly, compressed or not, whatever the chunk sizes.
func FuzzWriter(f *testing.F) {
	f.Add([]byte{3, 20, 0, 0, 200, 1}, true)
	f.Add([]byte{2, 1, 0, 0, 4, 7, 6, 9, 1, 0xFF, 200, 5}, false)
	f.Fuzz(func(t *testing.T, script []byte, compress bool) {
		var steps []scriptStep
		ts := uint32(0)
		for i := 0; i+6 <= len(script) && len(steps) < 64; i += 6 {
			s := script[i : i+6]
			if s[1] == TypeSetChunkSize {
				steps = append(steps, scriptStep{chunkSize: uint32(s[4])<<4 + 1})
				continue
			}
			csid := uint32(s[0])%70 + 2
			if s[0] > 250 {
				csid = 320 + uint32(s[3])
			}
			typ := s[1] % 23
			// Set Chunk Size and Abort change the reader's state: the
			// script writes the former through AppendSetChunkSize only.
			if typ == TypeSetChunkSize || typ == TypeAbort || typ == 0 {
				typ = TypeCommandAMF0
			}
			switch s[2] % 4 {
			case 1:
				ts += uint32(s[3])
			case 2:
				ts += 0xFFFFFF - 2 + uint32(s[3])
			case 3:
				ts -= uint32(s[3])
			}
			n := int(binary.BigEndian.Uint16([]byte{s[4], s[5]})) % 3000
			if Kept(typ) && n == 0 {
				n = 1
			}
			steps = append(steps, scriptStep{m: Message{CSID: csid, Type: typ, StreamID: uint32(s[5] % 3), Timestamp: ts, Payload: payload(n)}})
		}
		w := NewWriter()
		w.Compress = compress
		data := writeScript(w, steps)
		got, err := collect(Limits{}, data)
		if err != nil {
			t.Fatalf("scanner: %v", err)
		}
		if want := wantKept(steps); !reflect.DeepEqual(got, want) {
			t.Fatalf("read back %d messages, want %d", len(got), len(want))
		}
	})
}
