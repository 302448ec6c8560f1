package chunk

import (
	"bytes"
	"errors"
	"runtime"
	"testing"
)

// TestMediaKept: with Limits.MaxMedia the scanner emits audio, video and
// data messages, reassembled across chunks and interleaved with other
// chunk streams, each in a buffer of its own; without it, none.
func TestMediaKept(t *testing.T) {
	video := bytes.Repeat([]byte{0x17, 1, 2, 3}, 100) // 400 bytes: 4 chunks of 128
	audio := []byte{0xaf, 1, 9, 9}
	// Build by hand: video's first chunk, an audio message, the rest of video.
	b := newStream()
	b.basic(0, 6)
	b.header(0, 40, len(video), TypeVideo, 1)
	b.b = append(b.b, video[:128]...)
	b.msg(0, 4, 41, TypeAudio, 1, audio)
	for off := 128; off < len(video); off += 128 {
		b.basic(3, 6)
		b.b = append(b.b, video[off:min(off+128, len(video))]...)
	}
	b.msg(0, 4, 42, TypeDataAMF0, 1, []byte{2, 0, 1, 'x'})
	b.msg(0, 4, 43, TypeDataAMF3, 1, []byte{0, 2, 0, 1, 'y'})
	b.msg(0, 4, 44, TypeAggregate, 1, []byte{1, 2, 3})

	var got []Message
	sc := NewScanner(Limits{MaxMedia: 1 << 10})
	if err := sc.Feed(b.b, func(m Message) error { got = append(got, m); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(got) != 4 {
		t.Fatalf("%d messages, want audio, video, two data: %+v", len(got), got)
	}
	want := []struct {
		typ uint8
		ts  uint32
		p   []byte
	}{{TypeAudio, 41, audio}, {TypeVideo, 40, video}, {TypeDataAMF0, 42, []byte{2, 0, 1, 'x'}}, {TypeDataAMF3, 43, []byte{0, 2, 0, 1, 'y'}}}
	for i, w := range want {
		if got[i].Type != w.typ || got[i].Timestamp != w.ts || !bytes.Equal(got[i].Payload, w.p) {
			t.Errorf("message %d: type %d ts %d %x, want type %d ts %d %x", i, got[i].Type, got[i].Timestamp, got[i].Payload, w.typ, w.ts, w.p)
		}
	}
	// Kept payloads stay valid: the scanner never writes them again.
	more := newStream()
	more.msg(0, 4, 50, TypeAudio, 1, []byte{0xaf, 1, 7, 7})
	if err := sc.Feed(more.b, func(Message) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got[0].Payload, audio) {
		t.Errorf("an emitted media payload changed: %x", got[0].Payload)
	}

	var n int
	if err := NewScanner(Limits{}).Feed(b.b, func(Message) error { n++; return nil }); err != nil || n != 0 {
		t.Errorf("default limits: %d messages, %v; want media skipped", n, err)
	}
}

// TestMediaTooLarge: a media message over MaxMedia, or too many unfinished
// ones at once, fails with ErrTooLarge before anything is buffered.
func TestMediaTooLarge(t *testing.T) {
	b := newStream()
	b.basic(0, 6)
	b.header(0, 0, 2000, TypeVideo, 1)
	err := NewScanner(Limits{MaxMedia: 1000}).Feed(b.b, nil)
	if !errors.Is(err, ErrTooLarge) {
		t.Errorf("2000-byte video over a 1000-byte limit: %v, want ErrTooLarge", err)
	}
	// Three unfinished 800-byte messages on three chunk streams: 2400 > 2×1000.
	b = newStream()
	for _, csid := range []uint32{4, 5, 6} {
		b.basic(0, csid)
		b.header(0, 0, 800, TypeVideo, 1)
		b.b = append(b.b, make([]byte, 128)...)
	}
	err = NewScanner(Limits{MaxMedia: 1000}).Feed(b.b, nil)
	if !errors.Is(err, ErrTooLarge) {
		t.Errorf("2400 bytes of unfinished media over 2×1000: %v, want ErrTooLarge", err)
	}
}

// TestMediaMemoryFollowsBytes: headers that declare large media messages
// cost what their bytes cost, not what they declare. Fifty scanners each
// told of two 4 MiB video messages, with a few bytes of payload, must not
// reserve 400 MiB.
func TestMediaMemoryFollowsBytes(t *testing.T) {
	const declared = 4 << 20
	var scanners []*Scanner
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	for range 50 {
		b := newStream()
		for _, csid := range []uint32{4, 5} {
			b.basic(0, csid)
			b.header(0, 0, declared, TypeVideo, 1)
			b.b = append(b.b, make([]byte, 100)...)
		}
		sc := NewScanner(Limits{MaxMedia: 16 << 20})
		if err := sc.Feed(b.b, nil); err != nil {
			t.Fatal(err)
		}
		scanners = append(scanners, sc)
	}
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(scanners)
	// 100 unfinished messages at the 64 KiB up-front reservation are
	// 6.4 MiB; at their declared length they would be 400 MiB.
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 32<<20 {
		t.Errorf("100 declared 4 MiB messages with 100 bytes each allocated %d MiB", grew>>20)
	}
}
