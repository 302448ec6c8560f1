package rtmpt

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestOutOfOrderWithinWindow: bodies are read in sequence order whatever
// order they arrive in; ahead-of-turn requests are answered at once with
// the interval byte alone, and idles consume numbers too.
func TestOutOfOrderWithinWindow(t *testing.T) {
	conns := make(chan *Conn, 1)
	srv, addr := startServer(t, Config{}, recordingHandler(conns))
	c := dialRaw(t, addr, "")
	id := c.open()
	conn := recvConn(t, conns)
	if _, err := conn.Write([]byte("S")); err != nil {
		t.Fatal(err)
	}
	arrivals := []struct {
		cmd  string
		seq  int
		body string
	}{
		{"send", 3, "D"}, {"send", 1, "B"}, {"idle", 2, "\x00"}, {"send", 5, "F"}, {"send", 0, "A"}, {"send", 4, "E"},
	}
	for _, a := range arrivals {
		status, body := c.post("/"+a.cmd+"/"+id+"/"+strconv.Itoa(a.seq), []byte(a.body))
		if status != 200 {
			t.Fatalf("%s %d: status %d", a.cmd, a.seq, status)
		}
		switch a.seq {
		case 0: // in turn: carries the pending server byte
			if string(body) != "\x01S" {
				t.Fatalf("in-turn reply %q, want \\x01S", body)
			}
		default:
			if len(body) != 1 {
				t.Fatalf("%s %d reply %q: only in-turn replies carry data", a.cmd, a.seq, body)
			}
		}
	}
	if got := readFull(t, conn, 5); string(got) != "ABDEF" {
		t.Fatalf("handler read %q, want ABDEF", got)
	}
	if st := srv.Stats(); st.Reordered != 4 {
		t.Fatalf("reordered = %d, want 4", st.Reordered)
	}
	// seq 6 is next: the session continues normally.
	if status, _ := c.post("/send/"+id+"/6", []byte("G")); status != 200 {
		t.Fatal("seq 6 refused")
	}
	if got := readFull(t, conn, 1); string(got) != "G" {
		t.Fatalf("read %q, want G", got)
	}
}

// TestDuplicateRequest: a resent request is answered again (the same reply
// for the latest one, whose reply may have been lost) and its body is not
// fed twice. Older duplicates and duplicates of held requests get the
// interval byte.
func TestDuplicateRequest(t *testing.T) {
	conns := make(chan *Conn, 1)
	srv, addr := startServer(t, Config{}, recordingHandler(conns))
	c := dialRaw(t, addr, "")
	id := c.open()
	conn := recvConn(t, conns)
	if _, err := conn.Write([]byte("reply-data")); err != nil {
		t.Fatal(err)
	}
	_, first := c.post("/send/"+id+"/0", []byte("once"))
	_, again := c.post("/send/"+id+"/0", []byte("once"))
	if string(first) != "\x01reply-data" || !bytes.Equal(first, again) {
		t.Fatalf("first %q, resent %q: want the same reply with the data", first, again)
	}
	c.post("/send/"+id+"/1", []byte("-two"))
	if _, old := c.post("/send/"+id+"/0", []byte("once")); len(old) != 1 {
		t.Fatalf("older duplicate reply %q, want the interval byte", old)
	}
	c.post("/send/"+id+"/3", []byte("-four"))
	if _, dup := c.post("/send/"+id+"/3", []byte("-four")); len(dup) != 1 {
		t.Fatalf("held duplicate reply %q, want the interval byte", dup)
	}
	c.post("/send/"+id+"/2", []byte("-three"))
	want := "once-two-three-four"
	if got := readFull(t, conn, len(want)); string(got) != want {
		t.Fatalf("read %q, want %q", got, want)
	}
	_ = conn.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	if n, err := conn.Read(make([]byte, 64)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("extra read: %d bytes, %v: a duplicate body was fed", n, err)
	}
	if st := srv.Stats(); st.Duplicates != 3 || st.BytesIn != uint64(len(want)) {
		t.Fatalf("duplicates=%d bytesIn=%d", st.Duplicates, st.BytesIn)
	}
}

// TestPipelined: librtmp writes several POSTs without waiting; the replies
// come back in request order on that connection and the bytes in order.
func TestPipelined(t *testing.T) {
	_, addr := startServer(t, Config{}, echoHandler)
	c := dialRaw(t, addr, "")
	id := c.open()
	var batch strings.Builder
	want := ""
	for seq := range 20 {
		part := strconv.Itoa(seq) + ";"
		want += part
		batch.WriteString(request("/send/"+id+"/"+strconv.Itoa(seq), []byte(part)))
	}
	c.send(batch.String()) // one write: all 20 requests in flight at once
	var echoed []byte
	for range 20 {
		_, resp, body := c.response()
		if resp.StatusCode != 200 || len(body) < 1 || body[0] != 1 {
			t.Fatalf("pipelined reply: status %d body %q", resp.StatusCode, body)
		}
		echoed = append(echoed, body[1:]...)
	}
	for seq := 20; len(echoed) < len(want); seq++ {
		_, body := c.post("/idle/"+id+"/"+strconv.Itoa(seq), []byte{0})
		echoed = append(echoed, body[1:]...)
	}
	if string(echoed) != want {
		t.Fatalf("echo %q, want %q", echoed, want)
	}
}

// TestSessionAcrossConnections: sessions are keyed by id, not by TCP
// connection; stray slashes and empty bodies are tolerated.
func TestSessionAcrossConnections(t *testing.T) {
	conns := make(chan *Conn, 1)
	srv, addr := startServer(t, Config{}, recordingHandler(conns))
	id := dialRaw(t, addr, "").open()
	conn := recvConn(t, conns)
	steps := []struct{ path, body string }{
		{"//fcs//ident2", ""},
		{"/idle/" + id + "/0", ""},
		{"//send//" + id + "//1/", "ab"},
		{"/send/" + id + "/2", "cd"},
		{"/idle/" + id + "/3?x=1", ""},
	}
	for _, s := range steps {
		status, body := dialRaw(t, addr, "").post(s.path, []byte(s.body))
		wantStatus := 200
		if strings.Contains(s.path, "fcs") {
			wantStatus = 404
		} else if len(body) < 1 {
			t.Fatalf("%s: empty reply", s.path)
		}
		if status != wantStatus {
			t.Fatalf("%s: status %d, want %d", s.path, status, wantStatus)
		}
	}
	if got := readFull(t, conn, 4); string(got) != "abcd" {
		t.Fatalf("read %q, want abcd", got)
	}
	if status, body := dialRaw(t, addr, "").post("/close/"+id, nil); status != 200 || !bytes.Equal(body, []byte{0}) {
		t.Fatalf("close without seq and body: %d %q", status, body)
	}
	_ = conn.SetReadDeadline(time.Now().Add(waitTimeout))
	if _, err := conn.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("Read after close: %v, want EOF", err)
	}
	if srv.Sessions() != 0 {
		t.Fatal("session not removed")
	}
}

// TestBackPressure: a client that stops polling makes Write block at
// Config.Buffer bytes instead of growing memory; polling resumes the flow
// and every byte arrives, in order, in replies of at most maxReplyData.
func TestBackPressure(t *testing.T) {
	const buffer = 100 << 10
	conns := make(chan *Conn, 1)
	_, addr := startServer(t, Config{Buffer: buffer}, recordingHandler(conns))
	c := dialRaw(t, addr, "")
	id := c.open()
	conn := recvConn(t, conns)
	want := make([]byte, 3*buffer+123)
	for i := range want {
		want[i] = byte(i * 7)
	}
	written := make(chan error, 1)
	go func() {
		_, err := conn.Write(want)
		written <- err
	}()
	waitFor(t, "output buffer full", func() bool { return conn.out.pending() == buffer })
	select {
	case err := <-written:
		t.Fatalf("Write returned (%v) with %d bytes unpolled", err, len(want)-buffer)
	default:
	}
	var got []byte
	for seq := 0; len(got) < len(want); seq++ {
		status, body := c.post("/idle/"+id+"/"+strconv.Itoa(seq), []byte{0})
		if status != 200 || len(body) < 1 || len(body)-1 > maxReplyData {
			t.Fatalf("poll %d: status %d, %d bytes", seq, status, len(body))
		}
		got = append(got, body[1:]...)
		if conn.out.pending() > buffer {
			t.Fatalf("pending %d above the buffer", conn.out.pending())
		}
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("bytes differ at %d", firstDiff(got, want))
	}
	if err := <-written; err != nil {
		t.Fatalf("Write: %v", err)
	}
}

// TestHandlerCloseDrains: after the handler writes and closes, the client
// still gets the bytes, then a reply with interval 0, then 404.
func TestHandlerCloseDrains(t *testing.T) {
	srv, addr := startServer(t, Config{}, func(c *Conn) {
		_, _ = c.Write([]byte("bye"))
		c.Close()
	})
	tc := dialTunnel(t, addr, ClientOptions{})
	_ = tc.SetReadDeadline(time.Now().Add(waitTimeout))
	got, err := io.ReadAll(tc)
	if err != nil || string(got) != "bye" {
		t.Fatalf("read %q, %v; want bye then EOF", got, err)
	}
	waitFor(t, "session ended", func() bool { return srv.Sessions() == 0 })
}

// TestServerClose: Close ends every session (handler Read: EOF) and Serve
// returns; later requests are refused.
func TestServerClose(t *testing.T) {
	conns := make(chan *Conn, 2)
	srv, addr := startServer(t, Config{}, recordingHandler(conns))
	c := dialRaw(t, addr, "")
	c.open()
	c.open()
	a, b := recvConn(t, conns), recvConn(t, conns)
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	for _, conn := range []*Conn{a, b} {
		_ = conn.SetReadDeadline(time.Now().Add(waitTimeout))
		if _, err := conn.Read(make([]byte, 1)); err != io.EOF {
			t.Fatalf("Read: %v, want EOF", err)
		}
	}
	if srv.Sessions() != 0 {
		t.Fatal("sessions left")
	}
	p1, p2 := net.Pipe()
	defer p2.Close()
	if err := srv.ServeConn(p1); !errors.Is(err, ErrServerClosed) {
		t.Fatalf("ServeConn after Close: %v", err)
	}
}

// TestConnDeadlines: Set*Deadline makes blocked Read and Write return a
// timeout net.Error; clearing it makes them block again.
func TestConnDeadlines(t *testing.T) {
	conns := make(chan *Conn, 1)
	_, addr := startServer(t, Config{Buffer: 10}, recordingHandler(conns))
	c := dialRaw(t, addr, "")
	id := c.open()
	conn := recvConn(t, conns)
	if conn.ID() != id {
		t.Fatalf("ID %q, want %q", conn.ID(), id)
	}
	if conn.LocalAddr().String() != addr {
		t.Fatalf("LocalAddr %s, want %s", conn.LocalAddr(), addr)
	}
	_ = conn.SetDeadline(time.Now().Add(20 * time.Millisecond))
	_, err := conn.Read(make([]byte, 1))
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("Read: %v, want a timeout", err)
	}
	n, err := conn.Write(make([]byte, 25))
	if !errors.As(err, &ne) || !ne.Timeout() || n != 10 {
		t.Fatalf("Write: %d, %v; want 10 bytes then a timeout", n, err)
	}
	_ = conn.SetDeadline(time.Time{})
	c.post("/send/"+id+"/0", []byte("z"))
	if got := readFull(t, conn, 1); string(got) != "z" {
		t.Fatalf("read %q after clearing the deadline", got)
	}
}

// TestConcurrentOutOfOrder: batches of requests sent concurrently, each on
// its own connection and in shuffled order, still reach the handler in
// sequence order, once each.
func TestConcurrentOutOfOrder(t *testing.T) {
	const window, batches = 8, 12
	conns := make(chan *Conn, 1)
	srv, addr := startServer(t, Config{ReorderWindow: window}, recordingHandler(conns))
	id := dialRaw(t, addr, "").open()
	conn := recvConn(t, conns)
	var want []byte
	for b := range batches {
		errs := make(chan string, window)
		for _, i := range rand.Perm(window) {
			seq := b*window + i
			body := []byte{byte(seq)}
			if seq%5 == 4 {
				body = nil // an idle
			} else {
				want = append(want, byte(seq))
			}
			go func() {
				cmd := "send"
				if body == nil {
					cmd = "idle"
				}
				// No t.Fatal in spawned goroutines: report through the channel.
				c, err := net.Dial("tcp", addr)
				if err != nil {
					errs <- err.Error()
					return
				}
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(waitTimeout))
				if _, err := io.WriteString(c, request("/"+cmd+"/"+id+"/"+strconv.Itoa(seq), append([]byte{}, body...))); err != nil {
					errs <- err.Error()
					return
				}
				resp, err := http.ReadResponse(bufio.NewReader(c), nil)
				if err != nil {
					errs <- err.Error()
					return
				}
				resp.Body.Close()
				if resp.StatusCode != 200 {
					errs <- cmd + " " + strconv.Itoa(seq) + ": " + resp.Status
					return
				}
				errs <- ""
			}()
		}
		for range window {
			if e := <-errs; e != "" {
				t.Fatal(e)
			}
		}
	}
	slices.Sort(want) // built in the shuffled sending order
	if got := readFull(t, conn, len(want)); !bytes.Equal(got, want) {
		t.Fatalf("handler read %v, want %v", got, want)
	}
	if srv.Stats().BytesIn != uint64(len(want)) || srv.Sessions() != 1 {
		t.Fatalf("bytes in %d, sessions %d", srv.Stats().BytesIn, srv.Sessions())
	}
}
