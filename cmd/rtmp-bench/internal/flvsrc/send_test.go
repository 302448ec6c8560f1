package flvsrc

import (
	"bufio"
	"bytes"
	"errors"
	"testing"

	"github.com/rtmp-edge/rtmp-edge/cmd/rtmp-bench/internal/rtmpraw"
)

// capture collects what Send writes and closes done after n writes.
type capture struct {
	writes [][]byte
	n      int
	done   chan struct{}
}

func (c *capture) write(b []byte) error {
	c.writes = append(c.writes, bytes.Clone(b))
	if len(c.writes) == c.n {
		close(c.done)
	}
	return nil
}

func readMessages(t *testing.T, b []byte, chunkSize int) []rtmpraw.Message {
	t.Helper()
	r := rtmpraw.NewReader(bufio.NewReader(bytes.NewReader(append(rtmpraw.AppendSetChunkSize(nil, uint32(chunkSize)), b...))))
	r.KeepMedia = true
	r.MaxKeptMessage = 1 << 20
	var out []rtmpraw.Message
	for {
		m, err := r.Read()
		if err != nil {
			return out[1:] // without the Set Chunk Size
		}
		m.Payload = bytes.Clone(m.Payload)
		out = append(out, m)
	}
}

func TestSendUnpacedBatchesWholeMessages(t *testing.T) {
	c := &capture{n: 3, done: make(chan struct{})}
	if err := Send(c.done, NewSynthetic(SyntheticParams{}), c.write, SendOptions{StreamID: 1, ChunkSize: 4096}); err != nil {
		t.Fatal(err)
	}
	for i, w := range c.writes {
		if len(w) < sendBatch {
			t.Errorf("write %d is %d bytes, want a batch of at least %d", i, len(w), sendBatch)
		}
	}
	msgs := readMessages(t, bytes.Join(c.writes, nil), 4096)
	ref := NewSynthetic(SyntheticParams{})
	for i, m := range msgs {
		want := ref.Next()
		if m.Type != want.Type || m.Timestamp != want.Timestamp || !bytes.Equal(m.Payload, want.Data) || m.StreamID != 1 {
			t.Fatalf("message %d: type %d ts %d (%d bytes), want type %d ts %d (%d bytes)", i, m.Type, m.Timestamp, len(m.Payload), want.Type, want.Timestamp, len(want.Data))
		}
	}
	if msgs[0].Type != TagScript || !bytes.HasPrefix(msgs[0].Payload, setDataFrame) {
		t.Error("a publisher's metadata must carry @setDataFrame")
	}
}

func TestSendPacedWritesEachMessageForPlayers(t *testing.T) {
	c := &capture{n: 4, done: make(chan struct{})}
	// A high bitrate keeps the pacing waits short; each write is one message.
	if err := Send(c.done, NewSynthetic(SyntheticParams{}), c.write, SendOptions{StreamID: 1, ChunkSize: 128, Bitrate: 1e9, ToPlayer: true}); err != nil {
		t.Fatal(err)
	}
	for i, w := range c.writes {
		if got := len(readMessages(t, w, 128)); got != 1 {
			t.Errorf("write %d carries %d messages, want 1", i, got)
		}
	}
	meta := readMessages(t, c.writes[0], 128)[0]
	if meta.Type != TagScript || bytes.HasPrefix(meta.Payload, setDataFrame) || !bytes.HasPrefix(meta.Payload, rtmpraw.AppendString(nil, "onMetaData")) {
		t.Errorf("players get onMetaData without @setDataFrame, got %q", meta.Payload[:20])
	}
}

func TestSendReturnsTheWriteError(t *testing.T) {
	boom := errors.New("boom")
	err := Send(make(chan struct{}), NewSynthetic(SyntheticParams{}), func([]byte) error { return boom }, SendOptions{ChunkSize: 128})
	if !errors.Is(err, boom) {
		t.Errorf("err = %v, want the write error", err)
	}
}
