package rtmpt

import (
	"bytes"
	"errors"
	"io"
	"strconv"
	"sync"
	"testing"
	"time"
)

// slowWriter records what it is given, a little at a time, slowly, so the
// queue it drains keeps being appended to while its bytes are lent out.
type slowWriter struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (w *slowWriter) Write(p []byte) (int, error) {
	time.Sleep(100 * time.Microsecond)
	p = p[:min(len(p), 700)] // short writes: the rest must stay queued, in order
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.Write(p)
}

func (w *slowWriter) bytes() []byte {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]byte(nil), w.buf.Bytes()...)
}

// TestConnWriteTo: WriteTo delivers every /send body in order to a slow
// writer that takes at most 700 bytes per call, while bodies keep arriving
// (appends while bytes are lent must not move them), and returns nil at
// the session's end.
func TestConnWriteTo(t *testing.T) {
	sink := &slowWriter{}
	done := make(chan error, 1)
	srv, addr := startServer(t, Config{Buffer: 4096}, func(c *Conn) {
		defer c.Close()
		_, err := c.WriteTo(sink)
		done <- err
	})
	cl := dialRaw(t, addr, "")
	id := cl.open()
	var want []byte
	for seq := range 60 {
		body := bytes.Repeat([]byte{byte(seq)}, 100+seq*37)
		want = append(want, body...)
		if status, _ := cl.post("/send/"+id+"/"+strconv.Itoa(seq), body); status != 200 {
			t.Fatalf("send %d: %d", seq, status)
		}
	}
	cl.post("/close/"+id, nil)
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("WriteTo at the end: %v, want nil", err)
		}
	case <-time.After(waitTimeout):
		t.Fatal("WriteTo did not return at the session's end")
	}
	if got := sink.bytes(); !bytes.Equal(got, want) {
		t.Fatalf("WriteTo delivered %d bytes, want %d; first difference at %d", len(got), len(want), firstDiff(got, want))
	}
	waitFor(t, "memory back", func() bool { return srv.Stats().MemoryInUse == 0 })
}

// blockingWriter holds the bytes it is lent until released.
type blockingWriter struct {
	entered, release chan struct{}
}

func (w *blockingWriter) Write(p []byte) (int, error) {
	close(w.entered)
	<-w.release
	return len(p), nil
}

// TestConnWriteToSessionEndsWhileLent: the session fails while WriteTo has
// the queue's bytes out to a writer; WriteTo returns the failure, nothing
// panics and no memory stays charged.
func TestConnWriteToSessionEndsWhileLent(t *testing.T) {
	w := &blockingWriter{entered: make(chan struct{}), release: make(chan struct{})}
	done := make(chan error, 1)
	srv, addr := startServer(t, Config{ReorderWindow: 1}, func(c *Conn) {
		defer c.Close()
		_, err := c.WriteTo(w)
		done <- err
	})
	cl := dialRaw(t, addr, "")
	id := cl.open()
	cl.post("/send/"+id+"/0", []byte("lent"))
	<-w.entered
	cl.post("/send/"+id+"/5", []byte("x")) // beyond the window: the session fails
	waitFor(t, "session failed", func() bool { return srv.Sessions() == 0 })
	close(w.release)
	select {
	case err := <-done:
		if !errors.Is(err, ErrSessionFailed) {
			t.Fatalf("WriteTo: %v, want ErrSessionFailed", err)
		}
	case <-time.After(waitTimeout):
		t.Fatal("WriteTo did not return")
	}
	waitFor(t, "memory back", func() bool { return srv.Stats().MemoryInUse == 0 })
}

// TestConnReadFrom: ReadFrom queues everything up to the reader's EOF for
// the client, through Buffer-sized back-pressure.
func TestConnReadFrom(t *testing.T) {
	data := make([]byte, 100<<10)
	for i := range data {
		data[i] = byte(i * 7)
	}
	res := make(chan error, 1)
	_, addr := startServer(t, Config{Buffer: 8192}, func(c *Conn) {
		defer c.Close()
		n, err := c.ReadFrom(io.LimitReader(bytes.NewReader(data), int64(len(data))))
		if err == nil && n != int64(len(data)) {
			err = errors.New("short ReadFrom: " + strconv.FormatInt(n, 10))
		}
		res <- err
	})
	c := dialTunnel(t, addr, ClientOptions{})
	got := readFull(t, c, len(data))
	if !bytes.Equal(got, data) {
		t.Fatalf("client got different bytes; first difference at %d", firstDiff(got, data))
	}
	select {
	case err := <-res:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(waitTimeout):
		t.Fatal("ReadFrom did not return")
	}
}

// TestQuietQueuesGiveMemoryBackWhilePolled: after a handshake-sized exchange
// both directions go quiet while the client goes on polling (every 100 ms,
// as an idle tunnel does): the queues' drained arrays are given back within
// a few reaper ticks although requests keep arriving. The memory budget
// charges exactly those arrays, so it must fall to 0.
func TestQuietQueuesGiveMemoryBackWhilePolled(t *testing.T) {
	up, down := make([]byte, 1537), make([]byte, 3073)
	srv, addr := startServer(t, Config{}, func(c *Conn) {
		defer c.Close()
		if _, err := io.ReadFull(c, make([]byte, len(up))); err != nil {
			return
		}
		if _, err := c.Write(down); err != nil {
			return
		}
		_, _ = c.Read(make([]byte, 1)) // idle until the session ends
	})
	c := dialRaw(t, addr, "")
	id := c.open()
	if status, _ := c.post("/send/"+id+"/0", up); status != 200 {
		t.Fatalf("send: %d", status)
	}
	seq := 1
	poll := func() int {
		_ = c.conn.SetDeadline(time.Now().Add(waitTimeout))
		status, reply := c.post("/idle/"+id+"/"+strconv.Itoa(seq), []byte{0})
		if status != 200 {
			t.Fatalf("idle %d: %d", seq, status)
		}
		seq++
		return len(reply) - 1
	}
	for got := 0; got < len(down); {
		got += poll()
	}
	if inUse := srv.Stats().MemoryInUse; inUse == 0 {
		t.Fatal("nothing charged right after the exchange: the test would prove nothing")
	}
	for deadline := time.Now().Add(waitTimeout); srv.Stats().MemoryInUse != 0; {
		if time.Now().After(deadline) {
			t.Fatalf("%d bytes still held by a quiet session polled every 100 ms", srv.Stats().MemoryInUse)
		}
		time.Sleep(100 * time.Millisecond)
		poll()
	}
}
