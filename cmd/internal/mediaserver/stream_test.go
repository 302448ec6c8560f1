package mediaserver

import (
	"errors"
	"log/slog"
	"testing"
)

// nopSink lets a subscriber be inspected through its queue without a writer.
type nopSink struct{}

func (nopSink) write(*mediaMsg) error { return nil }
func (nopSink) close()                {}

var (
	meta      = &mediaMsg{kind: kindMeta, payload: []byte("\x02\x00\x0aonMetaData\x05")}
	avcSeq    = &mediaMsg{kind: kindVideo, payload: []byte{0x17, 0x00, 1}}
	aacSeq    = &mediaMsg{kind: kindAudio, payload: []byte{0xaf, 0x00, 2}}
	key1      = &mediaMsg{kind: kindVideo, ts: 0, payload: []byte{0x17, 0x01, 3}}
	inter1    = &mediaMsg{kind: kindVideo, ts: 40, payload: []byte{0x27, 0x01, 4}}
	audio1    = &mediaMsg{kind: kindAudio, ts: 46, payload: []byte{0xaf, 0x01, 5}}
	key2      = &mediaMsg{kind: kindVideo, ts: 1000, payload: []byte{0x17, 0x01, 6}}
	inter2    = &mediaMsg{kind: kindVideo, ts: 1040, payload: []byte{0x27, 0x01, 7}}
	audioOnly = &mediaMsg{kind: kindAudio, ts: 23, payload: []byte{0xaf, 0x01, 8}}
)

func drain(s *subscriber) []*mediaMsg {
	var out []*mediaMsg
	for {
		select {
		case m := <-s.queue:
			out = append(out, m)
		default:
			return out
		}
	}
}

func newTestStream(t *testing.T) (*hub, *liveStream) {
	t.Helper()
	h := newHub()
	ls, err := h.publish("live/demo")
	if err != nil {
		t.Fatal(err)
	}
	return h, ls
}

func newTestSubscriber(ls *liveStream) *subscriber {
	return newSubscriber(ls, nopSink{}, slog.New(slog.DiscardHandler))
}

func sameMessages(t *testing.T, got, want []*mediaMsg) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d messages, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("message %d: got %+v, want %+v", i, got[i], want[i])
		}
	}
}

func TestSubscriberStartsAtKeyframe(t *testing.T) {
	tests := []struct {
		name      string
		published []*mediaMsg // before the subscriber joins
		after     []*mediaMsg // after it joined
		want      []*mediaMsg
	}{
		{
			name:      "late joiner gets metadata, sequence headers and the cached GOP first",
			published: []*mediaMsg{meta, avcSeq, aacSeq, key1, inter1, audio1},
			after:     []*mediaMsg{key2},
			want:      []*mediaMsg{meta, avcSeq, aacSeq, key1, inter1, audio1, key2},
		},
		{
			name:      "the cache holds only the last GOP",
			published: []*mediaMsg{avcSeq, key1, inter1, key2, inter2},
			want:      []*mediaMsg{avcSeq, key2, inter2},
		},
		{
			name:      "before the first keyframe, frames and audio wait for it",
			published: []*mediaMsg{avcSeq, aacSeq},
			after:     []*mediaMsg{inter1, audio1, key2, inter2, audio1},
			want:      []*mediaMsg{avcSeq, aacSeq, key2, inter2, audio1},
		},
		{
			name:      "audio-only streams are not gated",
			published: []*mediaMsg{aacSeq},
			after:     []*mediaMsg{audioOnly},
			want:      []*mediaMsg{aacSeq, audioOnly},
		},
		{
			name:  "an early player gets everything from the start",
			after: []*mediaMsg{meta, avcSeq, aacSeq, key1, inter1},
			want:  []*mediaMsg{meta, avcSeq, aacSeq, key1, inter1},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, ls := newTestStream(t)
			for _, m := range tt.published {
				ls.publish(m)
			}
			s := newTestSubscriber(ls)
			ls.subscribe(s)
			for _, m := range tt.after {
				ls.publish(m)
			}
			sameMessages(t, drain(s), tt.want)
		})
	}
}

func TestGOPCacheIsBounded(t *testing.T) {
	_, ls := newTestStream(t)
	ls.publish(avcSeq)
	ls.publish(key1)
	for range maxGOPMessages {
		ls.publish(inter1)
	}
	if ls.gop != nil {
		t.Fatalf("GOP of %d messages is still cached, limit %d", len(ls.gop), maxGOPMessages)
	}
	s := newTestSubscriber(ls)
	ls.subscribe(s)
	ls.publish(inter1)
	ls.publish(key2)
	sameMessages(t, drain(s), []*mediaMsg{avcSeq, key2})
}

func TestSlowSubscriberFails(t *testing.T) {
	_, ls := newTestStream(t)
	s := newTestSubscriber(ls)
	ls.subscribe(s)
	ls.publish(key1)
	for range subscriberQueue {
		ls.publish(inter1)
	}
	select {
	case <-s.failed:
		if !errors.Is(s.failErr, ErrSlowConsumer) {
			t.Errorf("failErr = %v, want ErrSlowConsumer", s.failErr)
		}
	default:
		t.Fatal("subscriber with a full queue did not fail")
	}
}

func TestPublisherLifecycle(t *testing.T) {
	h, ls := newTestStream(t)
	if _, err := h.publish("live/demo"); !errors.Is(err, ErrAlreadyPublishing) {
		t.Fatalf("second publisher: err = %v, want ErrAlreadyPublishing", err)
	}
	s := newTestSubscriber(ls)
	ls.subscribe(s)
	ls.publish(avcSeq)
	ls.publish(key1)
	ls.stopPublishing()
	got := drain(s)
	if len(got) != 3 || got[2].kind != kindEnd {
		t.Fatalf("subscriber got %d messages (last %+v), want avcSeq, key1, end", len(got), got[len(got)-1])
	}
	if ls.videoSeq != nil || ls.gop != nil || ls.meta != nil {
		t.Error("caches survived the publisher")
	}
	// The stream stays known while a player waits on it, and a new publisher resumes it.
	if h.streams["live/demo"] != ls {
		t.Fatal("stream with a waiting player was forgotten")
	}
	if again, err := h.publish("live/demo"); err != nil || again != ls {
		t.Fatalf("republish: %v (same stream: %v)", err, again == ls)
	}
	ls.publish(inter1)
	ls.publish(key2)
	sameMessages(t, drain(s), []*mediaMsg{key2})
	ls.stopPublishing()
	ls.unsubscribe(s)
	if len(h.streams) != 0 {
		t.Errorf("idle stream not forgotten: %v", h.streams)
	}
}
