package rtmpt

import (
	"io"
	"net"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// handlerBench drives Server.serveHTTP directly with one reused
// fasthttp.RequestCtx, so allocs/op are the server's own per request
// (no HTTP client, no socket).
type handlerBench struct {
	srv  *Server
	ctx  fasthttp.RequestCtx
	id   string
	seq  uint64
	uri  []byte
	conn chan *Conn
}

func newHandlerBench(b *testing.B, handle func(*Conn)) *handlerBench {
	b.Helper()
	h := &handlerBench{conn: make(chan *Conn, 1)}
	srv, err := New(Config{}, func(c *Conn) {
		h.conn <- c
		handle(c)
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = srv.Close() })
	h.srv = srv
	remote := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2), Port: 5000}
	var req fasthttp.Request
	h.ctx.Init(&req, remote, nil)
	h.post("/open/1", []byte{0})
	if h.ctx.Response.StatusCode() != 200 {
		b.Fatalf("open: %d", h.ctx.Response.StatusCode())
	}
	body := h.ctx.Response.Body()
	h.id = string(body[:len(body)-1])
	// A first byte, so the session is live, not pending (which the open
	// timeout would end in the middle of a long run).
	h.next(b, "send", []byte{3})
	return h
}

func (h *handlerBench) post(uri string, body []byte) {
	h.ctx.Request.Header.SetMethod(fasthttp.MethodPost)
	h.ctx.Request.SetRequestURI(uri)
	h.ctx.Request.SetBodyRaw(body)
	h.ctx.Response.Reset()
	h.srv.serveHTTP(&h.ctx)
}

// next posts cmd with the session's next sequence number, building the
// URI in a reused buffer (the benchmark's own allocations stay out).
func (h *handlerBench) next(b *testing.B, cmd string, body []byte) []byte {
	h.uri = append(h.uri[:0], '/')
	h.uri = append(h.uri, cmd...)
	h.uri = append(h.uri, '/')
	h.uri = append(h.uri, h.id...)
	h.uri = append(h.uri, '/')
	h.uri = strconv.AppendUint(h.uri, h.seq, 10)
	h.seq++
	h.ctx.Request.Header.SetMethod(fasthttp.MethodPost)
	h.ctx.Request.SetRequestURIBytes(h.uri)
	h.ctx.Request.SetBodyRaw(body)
	h.ctx.Response.Reset()
	h.srv.serveHTTP(&h.ctx)
	if h.ctx.Response.StatusCode() != 200 {
		b.Fatalf("%s: status %d", cmd, h.ctx.Response.StatusCode())
	}
	return h.ctx.Response.Body()
}

// BenchmarkHandlerIdlePoll: an empty /idle poll (the most frequent request
// of a quiet session).
func BenchmarkHandlerIdlePoll(b *testing.B) {
	h := newHandlerBench(b, func(c *Conn) { _, _ = io.Copy(io.Discard, c) })
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		h.next(b, "idle", idlePad)
	}
}

// BenchmarkHandlerSend: a /send of 100 bytes the handler reads away.
func BenchmarkHandlerSend(b *testing.B) {
	h := newHandlerBench(b, func(c *Conn) { _, _ = io.Copy(io.Discard, c) })
	body := make([]byte, 100)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		h.next(b, "send", body)
	}
}

// BenchmarkHandlerPollData: an /idle whose reply carries 100 bytes the
// handler wrote (a player's poll).
func BenchmarkHandlerPollData(b *testing.B) {
	h := newHandlerBench(b, func(c *Conn) { _, _ = io.Copy(io.Discard, c) })
	h.next(b, "idle", idlePad)
	c := <-h.conn
	data := make([]byte, 100)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if _, err := c.Write(data); err != nil {
			b.Fatal(err)
		}
		if r := h.next(b, "idle", idlePad); len(r) != 101 {
			b.Fatalf("reply of %d bytes", len(r))
		}
	}
}

// BenchmarkIdleSessionMemory reports the Go memory (heap and goroutine
// stacks, after GC) one idle tunnel session costs the server: a real
// keep-alive HTTP connection on loopback, a handshake-sized exchange
// (1537 bytes up, 3073 echoed down, as C0C1 and S0S1S2), then nothing. The
// handler, like the edge's, stays blocked in Read. The client side of the
// same process keeps only its socket. Run with -benchtime=2000x or so: each
// op is one more session kept open until the end; the measure is taken
// after the sessions have been quiet for a few seconds.
func BenchmarkIdleSessionMemory(b *testing.B) {
	idleSessionMemory(b, func(c *Conn) {
		defer c.Close()
		var one [1]byte
		_, _ = c.Read(one[:]) // idle until the session ends
	})
}

// BenchmarkIdleSessionMemoryAttached is BenchmarkIdleSessionMemory with the
// handler attaching a sink and a source (as the edge's relay does) and
// returning: an idle tunnel then holds only its HTTP connection's goroutine.
func BenchmarkIdleSessionMemoryAttached(b *testing.B) {
	idleSessionMemory(b, func(c *Conn) {
		c.AttachSink(func([]byte) error { return nil }, func(error) {})
		c.AttachSource(func([]byte) (int, error) { return 0, nil }, func(error) {})
	})
}

func idleSessionMemory(b *testing.B, idle func(c *Conn)) {
	up, down := make([]byte, 1537), make([]byte, 3073)
	_, addr := startServer(b, Config{MaxSessions: b.N + 1, MaxSessionsPerIP: b.N + 1}, func(c *Conn) {
		buf := make([]byte, len(up))
		if _, err := io.ReadFull(c, buf); err != nil {
			c.Close()
			return
		}
		if _, err := c.Write(down); err != nil {
			c.Close()
			return
		}
		buf = nil
		idle(c)
	})
	conns := make([]net.Conn, 0, b.N)
	b.Cleanup(func() {
		for _, c := range conns {
			c.Close()
		}
	})
	before, beforeStack := goMemory()
	b.ResetTimer()
	for i := range b.N {
		c := dialRaw(b, addr, "")
		id := c.open()
		if status, _ := c.post("/send/"+id+"/0", up); status != 200 {
			b.Fatalf("send: %d", status)
		}
		got, seq := 0, 1
		for ; got < len(down); seq++ {
			status, reply := c.post("/idle/"+id+"/"+strconv.Itoa(seq), []byte{0})
			if status != 200 {
				b.Fatalf("idle: %d", status)
			}
			got += len(reply) - 1
		}
		// One empty poll, as an idle client's next one: the reply kept for
		// a resend is then the shared empty one, as for any quiet session.
		if status, _ := c.post("/idle/"+id+"/"+strconv.Itoa(seq), []byte{0}); status != 200 {
			b.Fatalf("last idle: %d", status)
		}
		_ = c.conn.SetDeadline(time.Time{})
		conns = append(conns, c.conn) // keep the socket only
		_ = i
	}
	b.StopTimer()
	// Idle means idle: let the reaper see the sessions quiet (it gives back
	// drained buffers within trimAfter).
	time.Sleep(trimAfter + 500*time.Millisecond)
	after, afterStack := goMemory()
	b.ReportMetric(float64(after-before)/float64(b.N), "B/session")
	b.ReportMetric(float64(afterStack-beforeStack)/float64(b.N), "stackB/session")
}

// goMemory is heap in use plus goroutine stacks after two collections, and
// the stacks alone.
func goMemory() (total, stacks int64) {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapInuse + ms.StackInuse), int64(ms.StackInuse)
}

// idlePad is the idle body, allocated once so it does not count per op.
var idlePad = []byte{0}

// BenchmarkHandlerSendSink: a /send of 100 bytes that an attached sink (a
// relay writing to its media server) takes from the request itself.
func BenchmarkHandlerSendSink(b *testing.B) {
	h := newHandlerBench(b, func(c *Conn) { c.AttachSink(func([]byte) error { return nil }, func(error) {}) })
	<-h.conn
	body := make([]byte, 100)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		h.next(b, "send", body)
	}
}

// BenchmarkHandlerPollSource: an /idle whose reply carries 100 bytes read
// from an attached source at poll time (a player's poll through a relay).
func BenchmarkHandlerPollSource(b *testing.B) {
	data := make([]byte, 100)
	h := newHandlerBench(b, func(c *Conn) {
		c.AttachSource(func(p []byte) (int, error) { return copy(p, data), nil }, func(error) {})
	})
	<-h.conn
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if r := h.next(b, "idle", idlePad); len(r) != 101 {
			b.Fatalf("reply of %d bytes", len(r))
		}
	}
}
