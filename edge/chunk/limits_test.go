package chunk

import (
	"encoding/binary"
	"testing"
)

func TestLimitsDefaultsAndCaps(t *testing.T) {
	tests := []struct {
		lim                      Limits
		wantCommand, wantChunkSz uint32
	}{
		{Limits{}, DefaultMaxCommand, DefaultMaxChunkSize},
		{Limits{MaxCommand: -1, MaxChunkSize: -1}, DefaultMaxCommand, DefaultMaxChunkSize},
		{Limits{MaxCommand: 1 << 30, MaxChunkSize: 1 << 40}, 0xFFFFFF, 0x7FFFFFFF},
		{Limits{MaxCommand: 512, MaxChunkSize: 4096}, 512, 4096},
	}
	for _, tt := range tests {
		s := NewScanner(tt.lim)
		if s.maxCommand != tt.wantCommand || s.maxChunkSize != tt.wantChunkSz {
			t.Errorf("%+v: maxCommand %d, maxChunkSize %d; want %d, %d", tt.lim, s.maxCommand, s.maxChunkSize, tt.wantCommand, tt.wantChunkSz)
		}
	}
}

// The largest chunk size the spec allows is accepted when the limit allows it.
func TestScannerChunkSizeAtLimits(t *testing.T) {
	for _, n := range []uint32{1, 128, 4096, 60000, 0xFFFFFF} {
		s := NewScanner(Limits{})
		data := newStream().msg(0, 2, 0, TypeSetChunkSize, 0, binary.BigEndian.AppendUint32(nil, n)).b
		if err := s.Feed(data, nil); err != nil || s.ChunkSize() != int(n) {
			t.Errorf("Set Chunk Size %d: err %v, ChunkSize %d", n, err, s.ChunkSize())
		}
	}
	s := NewScanner(Limits{MaxChunkSize: 0x7FFFFFFF})
	if err := s.Feed(newStream().msg(0, 2, 0, TypeSetChunkSize, 0, u32(0x7FFFFFFF)).b, nil); err != nil {
		t.Errorf("0x7FFFFFFF with the limit raised: %v", err)
	}
}

func TestScannerEmptyFeeds(t *testing.T) {
	s := NewScanner(Limits{})
	if err := s.Feed(nil, nil); err != nil || s.Consumed() != 0 {
		t.Fatalf("Feed(nil): %v, consumed %d", err, s.Consumed())
	}
	// A zero-length media message (allowed, skipped) needs no payload bytes.
	if err := s.Feed(newStream().msg(0, 4, 0, TypeAudio, 1, nil).b, nil); err != nil || s.cur != nil {
		t.Fatalf("empty audio message: %v", err)
	}
}
