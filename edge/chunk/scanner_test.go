package chunk

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

// collect feeds data in the given pieces and returns copies of the emitted
// messages and Feed's error.
func collect(lim Limits, pieces ...[]byte) ([]Message, error) {
	s := NewScanner(lim)
	var got []Message
	emit := func(m Message) error {
		m.Payload = bytes.Clone(m.Payload)
		got = append(got, m)
		return nil
	}
	for _, p := range pieces {
		if err := s.Feed(p, emit); err != nil {
			return got, err
		}
	}
	return got, nil
}

// checkSplits feeds data whole, split at every byte boundary and byte by
// byte, and checks that every way gives the same messages and error.
func checkSplits(t *testing.T, lim Limits, data []byte) ([]Message, error) {
	t.Helper()
	return checkSplitsEvery(t, lim, data, 1)
}

// checkSplitsEvery is checkSplits with splits every step bytes.
func checkSplitsEvery(t *testing.T, lim Limits, data []byte, step int) ([]Message, error) {
	t.Helper()
	want, wantErr := collect(lim, data)
	same := func(how string, got []Message, err error) {
		t.Helper()
		if !reflect.DeepEqual(got, want) || fmt.Sprint(err) != fmt.Sprint(wantErr) {
			t.Fatalf("%s: got %d messages, err %v; whole: %d messages, err %v", how, len(got), err, len(want), wantErr)
		}
	}
	for i := 1; i < len(data); i += step {
		got, err := collect(lim, data[:i], data[i:])
		same(fmt.Sprintf("split at %d", i), got, err)
	}
	pieces := make([][]byte, len(data))
	for i := range data {
		pieces[i] = data[i : i+1]
	}
	got, err := collect(lim, pieces...)
	same("byte by byte", got, err)
	return want, wantErr
}

func payload(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte('a' + i%26)
	}
	return b
}

func u32(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }

func TestScannerHandBuilt(t *testing.T) {
	connect := payload(300) // > 128: three chunks separated by 0xC3
	media := payload(5000)
	type want struct {
		csid uint32
		typ  uint8
		msid uint32
		ts   uint32
		n    int
	}
	tests := []struct {
		name      string
		data      []byte
		want      []want
		chunkSize int
	}{
		{
			name: "multi-chunk connect at 128",
			data: newStream().msg(0, 3, 0, TypeCommandAMF0, 0, connect).b,
			want: []want{{3, 20, 0, 0, 300}},
		},
		{
			name:      "OBS: Set Chunk Size 4096 then connect in one chunk",
			data:      newStream().setChunkSize(4096).msg(0, 3, 0, TypeCommandAMF0, 0, payload(5000)).b,
			want:      []want{{2, 1, 0, 0, 4}, {3, 20, 0, 0, 5000}},
			chunkSize: 4096,
		},
		{
			name: "csid 64 (2-byte form) and 320 (3-byte form)",
			data: newStream().msg(0, 64, 0, TypeCommandAMF0, 0, connect).msg(0, 320, 7, TypeCommandAMF0, 1, payload(10)).b,
			want: []want{{64, 20, 0, 0, 300}, {320, 20, 1, 7, 10}},
		},
		{
			name: "csid 65599, the largest",
			data: newStream().msg(0, 65599, 0, TypeUserControl, 0, payload(6)).b,
			want: []want{{65599, 4, 0, 0, 6}},
		},
		{
			name: "csid 100 in the 3-byte form",
			data: func() []byte {
				s := newStream()
				s.basic3(0, 100)
				s.header(0, 0, 4, TypeAck, 0)
				return s.raw(1, 2, 3, 4).b
			}(),
			want: []want{{100, 3, 0, 0, 4}},
		},
		{
			name: "extended timestamp on fmt 0 and repeated on fmt-3 continuations",
			data: newStream().msg(0, 3, 0x01000000, TypeCommandAMF0, 1, connect).b,
			want: []want{{3, 20, 1, 0x01000000, 300}},
		},
		{
			name: "extended delta on fmt 1, then fmt 3 new message with the extended delta",
			data: func() []byte {
				s := newStream().msg(0, 3, 5, TypeCommandAMF0, 1, payload(10))
				s.msg(1, 3, 0x01000000, TypeCommandAMF0, 0, payload(200))
				s.msg(3, 3, 0x01000000, TypeCommandAMF0, 0, payload(200))
				return s.b
			}(),
			want: []want{{3, 20, 1, 5, 10}, {3, 20, 1, 5 + 0x01000000, 200}, {3, 20, 1, 5 + 2*0x01000000, 200}},
		},
		{
			name: "fmt 3 new message after fmt 0: delta is the fmt-0 timestamp",
			data: newStream().msg(0, 4, 10, TypeUserControl, 0, payload(6)).msg(3, 4, 0, 0, 0, payload(6)).b,
			want: []want{{4, 4, 0, 10, 6}, {4, 4, 0, 20, 6}},
		},
		{
			name: "fmt 2 new message reuses length and type",
			data: newStream().msg(0, 4, 10, TypeUserControl, 1, payload(6)).msg(2, 4, 3, 0, 0, payload(6)).b,
			want: []want{{4, 4, 1, 10, 6}, {4, 4, 1, 13, 6}},
		},
		{
			name: "media skipped, commands around it kept",
			data: newStream().msg(0, 3, 0, TypeCommandAMF0, 1, payload(20)).
				msg(0, 6, 0, TypeVideo, 1, media).msg(0, 4, 0, TypeAudio, 1, payload(0)).
				msg(0, 5, 0, TypeDataAMF0, 1, payload(300)).
				msg(1, 3, 0, TypeCommandAMF0, 0, payload(30)).b,
			want: []want{{3, 20, 1, 0, 20}, {3, 20, 1, 0, 30}},
		},
		{
			name: "interleaved chunk streams",
			data: func() []byte {
				s := newStream()
				a, v := payload(300), payload(200)
				s.basic(0, 3)
				s.header(0, 0, len(a), TypeCommandAMF0, 0)
				s.raw(a[:128]...)
				s.basic(0, 6)
				s.header(0, 0, len(v), TypeVideo, 1)
				s.raw(v[:128]...)
				s.basic(0, 2)
				s.header(0, 0, 4, TypeWindowAckSize, 0)
				s.raw(0, 0, 0x10, 0)
				s.basic(3, 3)
				s.raw(a[128:256]...)
				s.basic(3, 6)
				s.raw(v[128:]...)
				s.basic(3, 3)
				s.raw(a[256:]...)
				return s.b
			}(),
			want: []want{{2, 5, 0, 0, 4}, {3, 20, 0, 0, 300}},
		},
		{
			name: "Abort drops the unfinished message, the next one is read whole",
			data: func() []byte {
				s := newStream()
				s.basic(0, 3)
				s.header(0, 0, 300, TypeCommandAMF0, 0)
				s.raw(connect[:128]...)
				s.msg(0, 2, 0, TypeAbort, 0, u32(3))
				s.msg(0, 3, 0, TypeCommandAMF0, 0, payload(40))
				return s.b
			}(),
			want: []want{{2, 2, 0, 0, 4}, {3, 20, 0, 0, 40}},
		},
		{
			name:      "Set Chunk Size 1",
			data:      newStream().setChunkSize(1).msg(0, 3, 0, TypeCommandAMF0, 0, payload(5)).b,
			want:      []want{{2, 1, 0, 0, 4}, {3, 20, 0, 0, 5}},
			chunkSize: 1,
		},
		{
			name: "AMF3 command (type 17) kept",
			data: newStream().msg(0, 3, 0, TypeCommandAMF3, 0, payload(12)).b,
			want: []want{{3, 17, 0, 0, 12}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := checkSplits(t, Limits{}, tt.data)
			if err != nil {
				t.Fatalf("Feed: %v", err)
			}
			var gotW []want
			for _, m := range got {
				gotW = append(gotW, want{m.CSID, m.Type, m.StreamID, m.Timestamp, len(m.Payload)})
			}
			if !reflect.DeepEqual(gotW, tt.want) {
				t.Errorf("messages = %+v, want %+v", gotW, tt.want)
			}
			s := NewScanner(Limits{})
			s.Feed(tt.data, nil)
			if s.Consumed() != int64(len(tt.data)) {
				t.Errorf("Consumed = %d, want %d", s.Consumed(), len(tt.data))
			}
			wantCS := tt.chunkSize
			if wantCS == 0 {
				wantCS = DefaultChunkSize
			}
			if s.ChunkSize() != wantCS {
				t.Errorf("ChunkSize = %d, want %d", s.ChunkSize(), wantCS)
			}
		})
	}
}

// The payload of the connect split in 128-byte chunks comes back whole.
func TestScannerPayloadIntact(t *testing.T) {
	p := payload(1000)
	got, err := checkSplits(t, Limits{}, newStream().msg(0, 3, 0, TypeCommandAMF0, 0, p).b)
	if err != nil || len(got) != 1 || !bytes.Equal(got[0].Payload, p) {
		t.Fatalf("got %d messages, err %v", len(got), err)
	}
}

func TestScannerHostile(t *testing.T) {
	many := newStream()
	for csid := uint32(3); csid < 3+MaxChunkStreams+1; csid++ {
		many.msg(0, csid, 0, TypeVideo, 1, payload(1))
	}
	unfinished := newStream()
	for csid := uint32(3); csid < 6; csid++ {
		unfinished.basic(0, csid)
		unfinished.header(0, 0, 60000, TypeCommandAMF0, 0)
		unfinished.raw(payload(128)...)
	}
	tests := []struct {
		name    string
		data    []byte
		lim     Limits
		want    error
		wantMsg string
	}{
		{"chunk size 0", newStream().msg(0, 2, 0, TypeSetChunkSize, 0, u32(0)).b, Limits{}, ErrChunkSize, "0x00000000"},
		{"chunk size with the top bit", newStream().msg(0, 2, 0, TypeSetChunkSize, 0, u32(0x80000000)).b, Limits{}, ErrChunkSize, "0x80000000"},
		{"chunk size above the limit", newStream().msg(0, 2, 0, TypeSetChunkSize, 0, u32(65537)).b, Limits{MaxChunkSize: 65536}, ErrChunkSize, "65537"},
		{"chunk size above 0xFFFFFF by default", newStream().msg(0, 2, 0, TypeSetChunkSize, 0, u32(0x1000000)).b, Limits{}, ErrChunkSize, "16777216"},
		{"short Set Chunk Size", newStream().msg(0, 2, 0, TypeSetChunkSize, 0, []byte{1, 0}).b, Limits{}, ErrChunkSize, "2-byte"},
		{"short Abort", newStream().msg(0, 2, 0, TypeAbort, 0, []byte{1}).b, Limits{}, ErrMalformed, "Abort"},
		{"connect over MaxCommand", newStream().msg(0, 3, 0, TypeCommandAMF0, 0, payload(1001)).b, Limits{MaxCommand: 1000}, ErrTooLarge, "1001-byte"},
		{"connect over the default MaxCommand (header alone)", newStream().raw(0x03, 0, 0, 0, 0x01, 0, 0x01, 20, 0, 0, 0, 0).b, Limits{}, ErrTooLarge, "65537-byte"},
		{"too many unfinished commands", unfinished.b, Limits{}, ErrTooLarge, "unfinished"},
		{"empty command", newStream().msg(0, 3, 0, TypeCommandAMF0, 0, nil).b, Limits{}, ErrMalformed, "empty"},
		{"fmt 3 on an unknown csid", []byte{0xC3, 1, 2, 3}, Limits{}, ErrMalformed, "fmt-3 header on chunk stream 3"},
		{"fmt 1 on an unknown csid", newStream().msg(1, 5, 0, TypeCommandAMF0, 0, payload(4)).b, Limits{}, ErrMalformed, "fmt-1"},
		{"fmt 0 in the middle of a message", func() []byte {
			s := newStream()
			s.basic(0, 3)
			s.header(0, 0, 300, TypeCommandAMF0, 0)
			s.raw(payload(128)...)
			return s.msg(0, 3, 0, TypeCommandAMF0, 0, payload(4)).b
		}(), Limits{}, ErrMalformed, "missing"},
		{"too many chunk streams", many.b, Limits{}, ErrMalformed, "more than 64"},
		{"HTTP garbage", []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), Limits{}, ErrMalformed, "never had a fmt-0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := checkSplits(t, tt.lim, tt.data)
			if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.wantMsg) {
				t.Fatalf("err = %v, want %v mentioning %q", err, tt.want, tt.wantMsg)
			}
			s := NewScanner(tt.lim)
			s.Feed(tt.data, nil)
			if err2 := s.Feed([]byte{0x03}, nil); err2 == nil || err2.Error() != err.Error() {
				t.Errorf("after the error Feed returned %v, want the same error again", err2)
			}
		})
	}
}

// emit's error stops Feed at once, is returned as is and sticks; Consumed
// points just past the message.
func TestScannerEmitError(t *testing.T) {
	first := newStream().msg(0, 3, 0, TypeCommandAMF0, 0, payload(300)).b
	data := append(bytes.Clone(first), newStream().msg(0, 3, 0, TypeCommandAMF0, 0, payload(10)).b...)
	stop := errors.New("stop")
	s := NewScanner(Limits{})
	calls := 0
	err := s.Feed(data, func(Message) error { calls++; return stop })
	if err != stop || calls != 1 {
		t.Fatalf("err = %v after %d calls, want stop after 1", err, calls)
	}
	if s.Consumed() != int64(len(first)) {
		t.Errorf("Consumed = %d, want %d", s.Consumed(), len(first))
	}
	if err := s.Feed(nil, nil); err != stop {
		t.Errorf("later Feed = %v, want stop", err)
	}
}

// Idle chunk streams do not keep large buffers.
func TestScannerReleasesLargeBuffers(t *testing.T) {
	s := NewScanner(Limits{})
	if err := s.Feed(newStream().msg(0, 3, 0, TypeCommandAMF0, 0, payload(20000)).b, nil); err != nil {
		t.Fatal(err)
	}
	if st := s.lookup(3); st == nil || cap(st.buf) > spareBufferLen {
		t.Errorf("chunk stream 3 keeps a %d-byte buffer", cap(st.buf))
	}
	if s.reserved != 0 {
		t.Errorf("reserved = %d after the message ended", s.reserved)
	}
}
