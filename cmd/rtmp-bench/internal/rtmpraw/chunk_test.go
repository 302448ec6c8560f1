package rtmpraw

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"testing"
)

func readAll(t *testing.T, b []byte, keepMedia bool) []Message {
	t.Helper()
	r := NewReader(bufio.NewReader(bytes.NewReader(b)))
	r.KeepMedia = keepMedia
	r.MaxKeptMessage = 1 << 20
	var out []Message
	for {
		m, err := r.Read()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		m.Payload = bytes.Clone(m.Payload)
		out = append(out, m)
	}
}

func TestChunkRoundTrip(t *testing.T) {
	big := bytes.Repeat([]byte{0xab}, 10000)
	tests := []struct {
		name      string
		chunkSize int
		ts        uint32
		payload   []byte
	}{
		{"one chunk", 128, 40, []byte{1, 2, 3}},
		{"many 128-byte chunks", 128, 1000, big},
		{"big chunk size", 60000, 0, big},
		{"exactly one chunk", 100, 5, big[:100]},
		{"extended timestamp repeated on continuations", 128, 0x01000000, big[:300]},
		{"zero-length message", 128, 7, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b []byte
			if tt.chunkSize != 128 {
				b = AppendSetChunkSize(b, uint32(tt.chunkSize))
			}
			b = AppendMessage(b, tt.chunkSize, CSIDVideo, tt.ts, TypeVideo, 1, tt.payload)
			b = AppendMessage(b, tt.chunkSize, CSIDAudio, tt.ts+1, TypeAudio, 1, []byte{9})
			msgs := readAll(t, b, true)
			if tt.chunkSize != 128 {
				msgs = msgs[1:]
			}
			if len(msgs) != 2 {
				t.Fatalf("got %d messages, want 2", len(msgs))
			}
			m := msgs[0]
			if m.Type != TypeVideo || m.Timestamp != tt.ts || m.StreamID != 1 || m.CSID != CSIDVideo || !bytes.Equal(m.Payload, tt.payload) || m.Length != len(tt.payload) {
				t.Errorf("got type %d ts %d sid %d csid %d len %d, want video ts %d", m.Type, m.Timestamp, m.StreamID, m.CSID, len(m.Payload), tt.ts)
			}
			if msgs[1].Timestamp != tt.ts+1 || !bytes.Equal(msgs[1].Payload, []byte{9}) {
				t.Errorf("second message %+v", msgs[1])
			}
		})
	}
}

// Compressed headers as FFmpeg and nginx write them: fmt 1, 2 and 3 carrying
// timestamp deltas, and the 2- and 3-byte basic header forms.
func TestChunkCompressedHeaders(t *testing.T) {
	b := []byte{
		0x04, 0, 0, 10, 0, 0, 2, TypeAudio, 1, 0, 0, 0, 0xa1, 0xa2, // fmt0 csid 4 ts 10
		0x44, 0, 0, 23, 0, 0, 1, TypeAudio, 0xb1, // fmt1 delta 23 → 33
		0x84, 0, 0, 20, 0xc1, // fmt2 delta 20 → 53
		0xc4, 0xd1, // fmt3 new message, same delta → 73
		0x00, 0x00, 0, 0, 1, 0, 0, 1, TypeVideo, 1, 0, 0, 0, 0xe1, // csid 64 (2-byte form)
		0x01, 0x00, 0x01, 0, 0, 2, 0, 0, 1, TypeVideo, 1, 0, 0, 0, 0xf1, // csid 320 (3-byte form)
	}
	msgs := readAll(t, b, true)
	want := []struct {
		csid int
		ts   uint32
		p    byte
	}{{4, 10, 0xa1}, {4, 33, 0xb1}, {4, 53, 0xc1}, {4, 73, 0xd1}, {64, 1, 0xe1}, {320, 2, 0xf1}}
	if len(msgs) != len(want) {
		t.Fatalf("got %d messages, want %d", len(msgs), len(want))
	}
	for i, w := range want {
		if msgs[i].CSID != w.csid || msgs[i].Timestamp != w.ts || msgs[i].Payload[0] != w.p {
			t.Errorf("message %d = csid %d ts %d payload %x, want csid %d ts %d %x", i, msgs[i].CSID, msgs[i].Timestamp, msgs[i].Payload, w.csid, w.ts, w.p)
		}
	}
}

// A type-1 header in the middle of a message must not leave the reader with
// more bytes read than the new, shorter length (found by FuzzChunkReader).
func TestChunkHeaderMidMessageStartsANewMessage(t *testing.T) {
	b := []byte{0x04, 0, 0, 0, 0, 1, 0, TypeAudio, 1, 0, 0, 0}   // fmt0, 256-byte message
	b = append(b, make([]byte, 128)...)                          // first chunk only
	b = append(b, 0x44, 0, 0, 1, 0, 0, 2, TypeAudio, 0xaa, 0xbb) // fmt1: a new 2-byte message
	msgs := readAll(t, b, true)
	if len(msgs) != 1 || msgs[0].Length != 2 || !bytes.Equal(msgs[0].Payload, []byte{0xaa, 0xbb}) {
		t.Fatalf("got %+v, want the 2-byte message", msgs)
	}
}

func TestChunkReaderSkipsMedia(t *testing.T) {
	b := AppendMessage(nil, 128, CSIDVideo, 0, TypeVideo, 1, make([]byte, 1000))
	b = AppendMessage(b, 128, CSIDData, 0, TypeDataAMF0, 1, []byte{5})
	msgs := readAll(t, b, false)
	if msgs[0].Payload != nil || msgs[0].Length != 1000 {
		t.Errorf("video: payload %d bytes, length %d; want skipped, 1000", len(msgs[0].Payload), msgs[0].Length)
	}
	if !bytes.Equal(msgs[1].Payload, []byte{5}) {
		t.Errorf("data message not kept: %v", msgs[1].Payload)
	}
}

func TestChunkReaderHostile(t *testing.T) {
	manyStreams := []byte{}
	for i := range maxChunkStreams + 1 {
		manyStreams = AppendMessage(manyStreams, 128, 0, 0, TypeAudio, 0, []byte{1})
		manyStreams[len(manyStreams)-13] = 0x00 // 2-byte form
		manyStreams = append(manyStreams[:len(manyStreams)-12], append([]byte{byte(i)}, manyStreams[len(manyStreams)-12:]...)...)
	}
	bigCommand := AppendMessage(nil, 128, CSIDCommand, 0, TypeCommandAMF0, 0, make([]byte, DefaultMaxKept+1))
	tests := []struct {
		name string
		b    []byte
		want error
	}{
		{"too many chunk streams", manyStreams, ErrTooManyChunkStreams},
		{"command too large to keep", bigCommand, ErrMessageTooLarge},
		{"set chunk size 0", AppendMessage(nil, 128, CSIDControl, 0, TypeSetChunkSize, 0, []byte{0, 0, 0, 0}), ErrBadChunkSize},
		{"set chunk size too large", AppendMessage(nil, 128, CSIDControl, 0, TypeSetChunkSize, 0, []byte{0x7f, 0xff, 0xff, 0xff}), ErrBadChunkSize},
		{"short set chunk size", AppendMessage(nil, 128, CSIDControl, 0, TypeSetChunkSize, 0, []byte{1}), ErrBadChunkSize},
		{"fmt 3 on a new chunk stream", []byte{0xc5, 1, 2, 3}, ErrNoPreviousHeader},
		{"fmt 1 on a new chunk stream", []byte{0x45, 0, 0, 0, 0, 0, 1, 8, 1}, ErrNoPreviousHeader},
		{"truncated header", []byte{0x03, 0, 0}, io.ErrUnexpectedEOF},
		{"truncated payload", []byte{0x03, 0, 0, 0, 0, 0, 9, 20, 0, 0, 0, 0, 1}, io.ErrUnexpectedEOF},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := NewReader(bufio.NewReader(bytes.NewReader(tt.b)))
			var err error
			for err == nil {
				_, err = r.Read()
			}
			if !errors.Is(err, tt.want) {
				t.Errorf("err = %v, want %v", err, tt.want)
			}
		})
	}
}

func FuzzChunkReader(f *testing.F) {
	f.Add(AppendMessage(AppendSetChunkSize(nil, 4096), 4096, CSIDVideo, 0x01000000, TypeVideo, 1, make([]byte, 5000)))
	f.Add([]byte{0x04, 0, 0, 10, 0, 0, 2, TypeAudio, 1, 0, 0, 0, 0xa1, 0xa2, 0x44, 0, 0, 23, 0, 0, 1, TypeAudio, 0xb1, 0xc4, 0xd1})
	f.Add([]byte{0x02, 0, 0, 0, 0, 0, 4, TypeAbort, 0, 0, 0, 0, 0, 0, 0, 4})
	f.Fuzz(func(t *testing.T, b []byte) {
		r := NewReader(bufio.NewReader(bytes.NewReader(b)))
		r.KeepMedia = true
		r.MaxKeptMessage = 1 << 16
		for range 10000 {
			m, err := r.Read()
			if err != nil {
				return
			}
			if m.Payload != nil && len(m.Payload) != m.Length {
				t.Fatalf("payload %d bytes, length %d", len(m.Payload), m.Length)
			}
		}
	})
}
