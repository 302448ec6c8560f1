package rtmpt

import (
	"bytes"
	"errors"
	"io"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"
)

// hooks records what a Conn gives its attached sink and source.
type hooks struct {
	mu       sync.Mutex
	sunk     bytes.Buffer
	ready    bytes.Buffer // what the source has ready for the next poll
	srcErr   error        // returned by the source once ready is empty
	sinkEnds []error
	srcEnds  []error
}

func (h *hooks) sink(p []byte) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.sunk.Write(p)
	return nil
}

func (h *hooks) read(p []byte) (int, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.ready.Len() == 0 {
		return 0, h.srcErr
	}
	return h.ready.Read(p)
}

func (h *hooks) sinkEnd(err error) { h.mu.Lock(); h.sinkEnds = append(h.sinkEnds, err); h.mu.Unlock() }
func (h *hooks) srcEnd(err error)  { h.mu.Lock(); h.srcEnds = append(h.srcEnds, err); h.mu.Unlock() }

func (h *hooks) snapshot() (sunk string, sinkEnds, srcEnds []error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.sunk.String(), append([]error(nil), h.sinkEnds...), append([]error(nil), h.srcEnds...)
}

// attachRig: a session whose handler attaches hooks once the test says so.
func attachRig(t *testing.T, cfg Config) (c *rawClient, id string, conn *Conn, h *hooks) {
	t.Helper()
	conns := make(chan *Conn, 1)
	_, addr := startServer(t, cfg, recordingHandler(conns))
	c = dialRaw(t, addr, "")
	id = c.open()
	return c, id, recvConn(t, conns), &hooks{}
}

// TestAttachCarriesBothWays: bytes queued before AttachSink reach the sink
// first, then every /send body in order; Write's bytes leave before the
// source's, and polls carry what the source has ready; /close ends the
// sink with io.EOF, and Close ends the source with net.ErrClosed, once each.
func TestAttachCarriesBothWays(t *testing.T) {
	c, id, conn, h := attachRig(t, Config{})
	if status, _ := c.post("/send/"+id+"/0", []byte("early ")); status != 200 {
		t.Fatal("send 0")
	}
	if _, err := conn.Write([]byte("queued ")); err != nil {
		t.Fatal(err)
	}
	conn.AttachSink(h.sink, h.sinkEnd)
	h.mu.Lock()
	h.ready.WriteString("pulled")
	h.mu.Unlock()
	conn.AttachSource(h.read, h.srcEnd)
	status, reply := c.post("/send/"+id+"/1", []byte("late"))
	if status != 200 || len(reply) == 0 {
		t.Fatal("send 1")
	}
	got := reply[1:] // an in-turn reply: it carries server bytes too
	for seq := 2; len(got) < len("queued pulled"); seq++ {
		status, reply := c.post("/idle/"+id+"/"+strconv.Itoa(seq), []byte{0})
		if status != 200 || len(reply) == 0 {
			t.Fatalf("idle %d: %d %q", seq, status, reply)
		}
		got = append(got, reply[1:]...)
		if seq > 100 {
			t.Fatalf("after 100 polls the client has %q", got)
		}
	}
	if string(got) != "queued pulled" {
		t.Fatalf("client got %q, want the queued bytes, then the source's", got)
	}
	if status, _ := c.post("/close/"+id, nil); status != 200 {
		t.Fatal("close")
	}
	if sunk, ends, _ := h.snapshot(); sunk != "early late" || len(ends) != 1 || ends[0] != io.EOF {
		t.Fatalf("sink got %q, ends %v; want \"early late\" and one io.EOF", sunk, ends)
	}
	conn.Close()
	conn.Close()
	if _, sinkEnds, srcEnds := h.snapshot(); len(sinkEnds) != 1 || len(srcEnds) != 1 || !errors.Is(srcEnds[0], net.ErrClosed) {
		t.Fatalf("ends after Close: sink %v, source %v; want one each, the source's net.ErrClosed", sinkEnds, srcEnds)
	}
}

// TestAttachSourceEnd: the source's error ends it once, after the bytes it
// had ready; later polls carry nothing from it.
func TestAttachSourceEnd(t *testing.T) {
	c, id, conn, h := attachRig(t, Config{})
	h.ready.WriteString("bye")
	h.srcErr = io.EOF
	conn.AttachSource(h.read, h.srcEnd)
	var got []byte
	for seq := 0; seq < 4; seq++ {
		_, reply := c.post("/idle/"+id+"/"+strconv.Itoa(seq), []byte{0})
		got = append(got, reply[1:]...)
	}
	if _, _, ends := h.snapshot(); string(got) != "bye" || len(ends) != 1 || ends[0] != io.EOF {
		t.Fatalf("client got %q, source ends %v; want \"bye\" and one io.EOF", got, ends)
	}
}

// TestAttachSinkIdleAndLate: a session that goes idle ends its sink with
// ErrSessionIdle; attaching to a stream that has ended reports the end at
// once, from the call.
func TestAttachSinkIdleAndLate(t *testing.T) {
	c, id, conn, h := attachRig(t, Config{IdleTimeout: 200 * time.Millisecond})
	if status, _ := c.post("/send/"+id+"/0", []byte("x")); status != 200 {
		t.Fatal("send")
	}
	conn.AttachSink(h.sink, h.sinkEnd)
	waitFor(t, "the idle end", func() bool { _, ends, _ := h.snapshot(); return len(ends) > 0 })
	if sunk, ends, _ := h.snapshot(); sunk != "x" || len(ends) != 1 || !errors.Is(ends[0], ErrSessionIdle) {
		t.Fatalf("sink got %q, ends %v; want \"x\" and one ErrSessionIdle", sunk, ends)
	}
	late := &hooks{}
	conn.AttachSink(late.sink, late.sinkEnd)
	if _, ends, _ := late.snapshot(); len(ends) != 1 || !errors.Is(ends[0], ErrSessionIdle) {
		t.Fatalf("late attach: ends %v, want ErrSessionIdle at once", ends)
	}
}

// TestAttachSinkFailure: a sink that fails ends the client's stream with its
// error, once; the session goes on answering (the relay closes the Conn).
func TestAttachSinkFailure(t *testing.T) {
	c, id, conn, _ := attachRig(t, Config{})
	boom := errors.New("server gone")
	var mu sync.Mutex
	var ends []error
	conn.AttachSink(func([]byte) error { return boom }, func(err error) { mu.Lock(); ends = append(ends, err); mu.Unlock() })
	for seq := 0; seq < 3; seq++ {
		if status, _ := c.post("/send/"+id+"/"+strconv.Itoa(seq), []byte("data")); status != 200 {
			t.Fatalf("send %d: %d", seq, status)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(ends) != 1 || ends[0] != boom {
		t.Fatalf("ends %v, want one %v", ends, boom)
	}
}
