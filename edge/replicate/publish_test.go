package replicate

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/rtmp-edge/rtmp-edge/edge/amf0"
	"github.com/rtmp-edge/rtmp-edge/edge/chunk"
)

// publisher writes a client's chunk stream the way encoders do (after the
// handshake): connect, createStream, publish, then media on stream 1.
type publisher struct {
	w *chunk.Writer
	b []byte
}

func newPublisher(t testing.TB, stream string) *publisher {
	p := &publisher{w: chunk.NewWriter()}
	p.w.Compress = true
	p.command(t, 0, "connect", 1, amf0.Object{{Key: "app", Value: "live"}, {Key: "tcUrl", Value: "rtmp://x/live"}})
	p.command(t, 0, "createStream", 2, nil)
	p.command(t, 1, "publish", 3, nil, stream, "live")
	return p
}

func (p *publisher) command(t testing.TB, sid uint32, name string, tx float64, obj amf0.Value, args ...amf0.Value) *publisher {
	payload, err := amf0.EncodeCommand(name, tx, obj, args...)
	if err != nil {
		t.Fatal(err)
	}
	p.b = p.w.Append(p.b, chunk.Message{CSID: 3, Type: chunk.TypeCommandAMF0, StreamID: sid, Payload: payload})
	return p
}

func (p *publisher) media(typ uint8, ts uint32, payload []byte) *publisher {
	csid := map[uint8]uint32{chunk.TypeAudio: 4, chunk.TypeVideo: 6}[typ]
	if csid == 0 {
		csid = 5
	}
	p.b = p.w.Append(p.b, chunk.Message{CSID: csid, Type: typ, StreamID: 1, Timestamp: ts, Payload: payload})
	return p
}

func (p *publisher) raw(b ...byte) *publisher { p.b = append(p.b, b...); return p }

var (
	metaPayload = append(append([]byte(nil), metadataPrefix...), 0x08, 0, 0, 0, 0, 0, 0, 9)
	avcConfig   = cat(0x17, 0, 0, 0, 0, 1, 0x42)
	aacConfig   = cat(0xaf, 0, 0x12, 0x10)
	avcKey      = cat(0x17, 1, 0, 0, 0, 0xaa)
	avcInter    = cat(0x27, 1, 0, 0, 0, 0xbb)
	aacFrame    = cat(0xaf, 1, 0xcc)
)

// readyReplica is a replica the pump may queue to, without a session.
func readyReplica(p *Publish) *replica {
	r := newReplica(p, "test")
	r.ready = true
	p.list.Store(&[]*replica{r})
	return r
}

func queued(r *replica) (out []string) {
	for _, e := range r.q[r.head:] {
		out = append(out, string(rune('0'+e.typ))+":"+string(e.payload[:2]))
	}
	return out
}

// TestJoinOrder: a replica starts with the metadata and the sequence
// headers, stamped with the keyframe's time, then the keyframe and what
// follows; nothing before that keyframe.
func TestJoinOrder(t *testing.T) {
	p := newParser(Config{})
	src := newPublisher(t, "s").
		media(chunk.TypeDataAMF0, 0, metaPayload).
		media(chunk.TypeVideo, 0, avcConfig).
		media(chunk.TypeAudio, 0, aacConfig).
		media(chunk.TypeVideo, 0, avcKey).
		media(chunk.TypeAudio, 20, aacFrame).
		media(chunk.TypeVideo, 40, avcInter)
	if err := p.consume(src.b); err != nil {
		t.Fatal(err)
	}
	r := readyReplica(p) // joins now: mid-GOP
	more := newPublisher(t, "s")
	more.b = nil
	*more.w = *src.w // continue the same chunk stream
	more.media(chunk.TypeAudio, 60, aacFrame).
		media(chunk.TypeVideo, 80, avcInter).
		media(chunk.TypeVideo, 1000, avcKey).
		media(chunk.TypeAudio, 1010, aacFrame)
	if err := p.consume(more.b); err != nil {
		t.Fatal(err)
	}
	want := []entry{
		{typ: chunk.TypeDataAMF0, ts: 1000, payload: metaPayload},
		{typ: chunk.TypeVideo, ts: 1000, payload: avcConfig},
		{typ: chunk.TypeAudio, ts: 1000, payload: aacConfig},
		{typ: chunk.TypeVideo, ts: 1000, payload: avcKey},
		{typ: chunk.TypeAudio, ts: 1010, payload: aacFrame},
	}
	got := r.q[r.head:]
	if len(got) != len(want) {
		t.Fatalf("queued %d messages, want %d: %+v", len(got), len(want), got)
	}
	for i, w := range want {
		if got[i].typ != w.typ || got[i].ts != w.ts || string(got[i].payload) != string(w.payload) {
			t.Errorf("message %d: type %d ts %d % x, want type %d ts %d % x", i, got[i].typ, got[i].ts, got[i].payload, w.typ, w.ts, w.payload)
		}
	}
}

// TestJoinAudioOnly: a stream without video starts at any audio frame.
func TestJoinAudioOnly(t *testing.T) {
	p := newParser(Config{})
	r := readyReplica(p)
	src := newPublisher(t, "s").media(chunk.TypeAudio, 0, aacConfig).media(chunk.TypeAudio, 20, aacFrame)
	if err := p.consume(src.b); err != nil {
		t.Fatal(err)
	}
	got := r.q[r.head:]
	if len(got) != 2 || string(got[0].payload) != string(aacConfig) || string(got[1].payload) != string(aacFrame) {
		t.Fatalf("queued %+v, want the AAC config then the frame", got)
	}
}

// TestBufferFull: a replica whose queue would pass Buffer is dropped and
// its queue freed at once.
func TestBufferFull(t *testing.T) {
	p := newParser(Config{Buffer: 8 << 10})
	r := readyReplica(p)
	big := append(append([]byte(nil), avcKey...), make([]byte, 3000)...)
	src := newPublisher(t, "s").media(chunk.TypeVideo, 0, big).media(chunk.TypeVideo, 40, big)
	if err := p.consume(src.b); err != nil {
		t.Fatal(err)
	}
	if r.drop != "" || r.qBytes != 2*(len(big)+entryOverhead) {
		t.Fatalf("two keyframes: drop %q, %d bytes queued", r.drop, r.qBytes)
	}
	src.b = nil
	src.media(chunk.TypeVideo, 80, big)
	if err := p.consume(src.b); err != nil {
		t.Fatal(err)
	}
	if r.drop != "buffer full" || r.qBytes != 0 || len(r.q) != 0 || r.ready {
		t.Fatalf("third keyframe over 8 KiB: drop %q, %d bytes in %d messages queued, ready %v", r.drop, r.qBytes, len(r.q), r.ready)
	}
}

// TestMessageOverBuffer: a message larger than the whole Buffer drops the
// replica with its own reason (it rejoins at a keyframe that fits) and
// replication goes on: the next keyframe is queued for a ready replica.
func TestMessageOverBuffer(t *testing.T) {
	p := newParser(Config{Buffer: 8 << 10})
	r := readyReplica(p)
	huge := append(append([]byte(nil), avcKey...), make([]byte, 20<<10)...)
	src := newPublisher(t, "s").media(chunk.TypeVideo, 0, avcKey).media(chunk.TypeVideo, 40, huge)
	if err := p.consume(src.b); err != nil {
		t.Fatalf("a 20 KiB message with an 8 KiB buffer: %v", err)
	}
	if want := fmt.Sprintf("message of %d bytes over buffer", len(huge)); r.drop != want || r.qBytes != 0 || r.ready {
		t.Fatalf("drop %q (want %q), %d bytes queued, ready %v", r.drop, want, r.qBytes, r.ready)
	}
	r.ready, r.drop = true, "" // as a rejoined session
	src.b = nil
	src.media(chunk.TypeVideo, 80, avcKey)
	if err := p.consume(src.b); err != nil {
		t.Fatal(err)
	}
	if p.stoppedReason() != "" || len(r.q) != 1 {
		t.Fatalf("after the large message: stopped %q, %d messages queued for the rejoined replica", p.stoppedReason(), len(r.q))
	}
}

// TestLag: a replica whose oldest unsent message is older than MaxLag is
// dropped, when the next message comes and on the pump's tick.
func TestLag(t *testing.T) {
	p := newParser(Config{MaxLag: time.Second})
	r := readyReplica(p)
	r.mu.Lock()
	r.started = true
	r.push(entry{typ: chunk.TypeAudio, payload: aacFrame, at: 0})
	r.push(entry{typ: chunk.TypeAudio, payload: aacFrame, at: int64(900 * time.Millisecond)})
	if r.drop != "" {
		t.Fatalf("0.9 s behind: dropped (%s)", r.drop)
	}
	r.push(entry{typ: chunk.TypeAudio, payload: aacFrame, at: int64(1500 * time.Millisecond)})
	r.mu.Unlock()
	if r.drop != "lag 1.5s" {
		t.Fatalf("1.5 s behind: drop %q, want lag 1.5s", r.drop)
	}

	r2 := readyReplica(p)
	r2.mu.Lock()
	r2.started = true
	r2.push(entry{typ: chunk.TypeAudio, payload: aacFrame, at: 0})
	r2.mu.Unlock()
	r2.checkLag(int64(1200 * time.Millisecond))
	if r2.drop != "lag 1.2s" {
		t.Fatalf("tick 1.2 s after the oldest message: drop %q", r2.drop)
	}
}

// hangingDial never connects: its replica stays joining until it ends.
func hangingDial(ctx context.Context, server string) (net.Conn, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}

func waitEnded(t *testing.T, p *Publish) ReplicaInfo {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		rs := p.Replicas()
		if len(rs) == 1 && rs[0].State == StateEnded {
			return rs[0]
		}
		if time.Now().After(deadline) {
			t.Fatalf("replica not ended within 10 s: %+v", rs)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestHostilePublisher: bytes the parser refuses stop replication of that
// publish with the reason; Feed goes on accepting (and dropping) bytes.
func TestHostilePublisher(t *testing.T) {
	huge := newPublisher(t, "s")
	huge.b = huge.w.Append(huge.b, chunk.Message{CSID: 2, Type: chunk.TypeSetChunkSize, Payload: binary.BigEndian.AppendUint32(nil, 0x7FFFFFFF)})
	// Two unfinished 16 MiB video messages on two chunk streams: more
	// than the parser assembles at once (2 × 16 MiB).
	tooMuch := newPublisher(t, "s")
	for _, csid := range []byte{6, 7, 8} {
		tooMuch.raw(csid, 0, 0, 0, 0xFF, 0xFF, 0xFF, chunk.TypeVideo, 1, 0, 0, 0)
		tooMuch.raw(make([]byte, 128)...)
	}
	garbage := newPublisher(t, "s").raw(0x45, 1, 2, 3, 4, 5, 6, 7) // fmt 1 on a chunk stream never started
	for _, c := range []struct {
		name string
		b    []byte
		want string
	}{
		{"Set Chunk Size 0x7FFFFFFF", huge.b, "invalid Set Chunk Size"},
		{"three unfinished 16 MiB video messages", tooMuch.b, "message too large"},
		{"garbage", garbage.b, "malformed chunk stream"},
	} {
		t.Run(c.name, func(t *testing.T) {
			counters := &Counters{}
			p := New(Options{Dial: hangingDial, Stream: "s", Config: Config{Buffer: 1 << 20}, Counters: counters})
			p.Add("media01")
			p.Feed(c.b)
			ri := waitEnded(t, p)
			if !strings.HasPrefix(ri.End, "publisher stream unreadable") || !strings.Contains(ri.End, c.want) {
				t.Errorf("replica ended with %q, want publisher stream unreadable: …%s…", ri.End, c.want)
			}
			if got := counters.Stops(); len(got) != 1 || got["publisher stream unreadable"] != 1 {
				t.Errorf("stops counted %v, want one publisher stream unreadable", got)
			}
			p.Feed(avcKey) // no panic, no effect
			p.Add("media02")
			if rs := p.Close(); len(rs) != 1 {
				t.Errorf("Add after replication stopped started a replica: %+v", rs)
			}
		})
	}
}

// TestIntakeOverflow: more bytes than Buffer waiting for the parser stop
// replication (the publisher is untouched: Feed returns).
func TestIntakeOverflow(t *testing.T) {
	counters := &Counters{}
	p := New(Options{Dial: hangingDial, Stream: "s", Config: Config{Buffer: 64 << 10}, Counters: counters})
	p.Add("media01")
	p.Feed(make([]byte, 65<<10))
	ri := waitEnded(t, p)
	if !strings.HasPrefix(ri.End, "intake overflow") {
		t.Errorf("replica ended with %q, want intake overflow", ri.End)
	}
	p.Close()
	if got := counters.Stops(); len(got) != 1 || got["intake overflow"] != 1 {
		t.Errorf("stops counted %v, want one intake overflow (and none for the publisher's end)", got)
	}
}

// TestCloseEndsJoining: Close ends a replica that is still dialing, and
// returns its report.
func TestCloseEndsJoining(t *testing.T) {
	var dialed = make(chan struct{})
	p := New(Options{Stream: "s", Dial: func(ctx context.Context, server string) (net.Conn, error) {
		close(dialed)
		<-ctx.Done()
		return nil, errors.New("cancelled")
	}})
	p.Add("media01")
	p.Add("media01") // idempotent
	<-dialed
	counters := p.counters
	rs := p.Close()
	if got := counters.Stops(); len(got) != 0 {
		t.Errorf("the publisher's end counted as a stopped replication: %v", got)
	}
	if len(rs) != 1 || rs[0].State != StateEnded || rs[0].End != "publisher ended" {
		t.Fatalf("reports %+v, want media01 ended by the publisher's end", rs)
	}
}
