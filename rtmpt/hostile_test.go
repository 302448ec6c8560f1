package rtmpt

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// recordingHandler hands each session's Conn to the test.
func recordingHandler(conns chan<- *Conn) func(*Conn) {
	return func(c *Conn) { conns <- c }
}

func recvConn(t *testing.T, conns <-chan *Conn) *Conn {
	t.Helper()
	select {
	case c := <-conns:
		t.Cleanup(func() { c.Close() })
		return c
	case <-time.After(waitTimeout):
		t.Fatal("handler not started")
		return nil
	}
}

func TestUnknownSession(t *testing.T) {
	srv, addr := startServer(t, Config{}, echoHandler)
	c := dialRaw(t, addr, "")
	for _, path := range []string{
		"/send/0123456789abcdef0123456789abcdef/0",
		"/idle/0123456789abcdef0123456789abcdef/0",
		"/close/0123456789abcdef0123456789abcdef",
		"/close/2", // Shumway: a close without the session id
	} {
		if status, _ := c.post(path, []byte{0}); status != 404 {
			t.Errorf("%s: status %d, want 404", path, status)
		}
	}
	st := srv.Stats()
	if st.Rejected[RejectUnknownSession] != 4 || st.SessionsOpened != 0 {
		t.Errorf("unknown_session=%d opened=%d, want 4 and 0", st.Rejected[RejectUnknownSession], st.SessionsOpened)
	}
}

// TestForeignIP: a session belongs to the IP that opened it; another IP
// (127.0.0.3 vs the owner 127.0.0.2) gets 404 and changes nothing.
func TestForeignIP(t *testing.T) {
	conns := make(chan *Conn, 1)
	srv, addr := startServer(t, Config{}, recordingHandler(conns))
	owner := dialRaw(t, addr, "127.0.0.2")
	id := owner.open()
	conn := recvConn(t, conns)
	if got := ipString(conn.RemoteAddr()); got != "127.0.0.2" {
		t.Fatalf("Conn.RemoteAddr IP = %s, want 127.0.0.2", got)
	}
	if _, err := conn.Write([]byte("for the owner")); err != nil {
		t.Fatal(err)
	}

	thief := dialRaw(t, addr, "127.0.0.3")
	for _, path := range []string{"/send/" + id + "/0", "/idle/" + id + "/0", "/close/" + id, "/close/" + id + "/0"} {
		status, body := thief.post(path, []byte("stolen"))
		if status != 404 || len(body) != 0 {
			t.Errorf("foreign %s: status %d body %q, want 404 and nothing", path, status, body)
		}
	}
	if srv.Stats().Rejected[RejectForeignIP] != 4 {
		t.Errorf("foreign_ip = %d, want 4", srv.Stats().Rejected[RejectForeignIP])
	}
	// Nothing changed: the owner's seq 0 is still its turn, the pending
	// output is intact, and the handler saw no stolen bytes.
	status, body := owner.post("/send/"+id+"/0", []byte("mine"))
	if status != 200 || string(body[1:]) != "for the owner" {
		t.Fatalf("owner send: status %d body %q", status, body)
	}
	if got := readFull(t, conn, 4); string(got) != "mine" {
		t.Fatalf("handler read %q, want mine", got)
	}
	if srv.Sessions() != 1 {
		t.Fatalf("sessions = %d, want 1", srv.Sessions())
	}
}

func TestOversizedBody(t *testing.T) {
	conns := make(chan *Conn, 1)
	srv, addr := startServer(t, Config{MaxBody: 1024}, recordingHandler(conns))
	c := dialRaw(t, addr, "")
	id := c.open()
	conn := recvConn(t, conns)
	status, _ := c.post("/send/"+id+"/0", make([]byte, 1025))
	if status != 413 {
		t.Fatalf("status %d, want 413", status)
	}
	if srv.Stats().Rejected[RejectBodyTooLarge] != 1 || srv.Stats().BytesIn != 0 {
		t.Fatalf("stats %+v: want one body_too_large and no bytes in", srv.Stats())
	}
	// The session is intact: seq 0 is still expected, at the limit exactly.
	c2 := dialRaw(t, addr, "")
	if status, _ := c2.post("/send/"+id+"/0", bytes.Repeat([]byte("a"), 1024)); status != 200 {
		t.Fatalf("send at the limit: status %d", status)
	}
	readFull(t, conn, 1024)
}

// TestReorderWindowExceeded: more ahead-of-turn requests than the window
// fail the session: Read reports ErrSessionFailed, later requests get 404.
func TestReorderWindowExceeded(t *testing.T) {
	conns := make(chan *Conn, 1)
	srv, addr := startServer(t, Config{ReorderWindow: 3}, recordingHandler(conns))
	c := dialRaw(t, addr, "")
	id := c.open()
	conn := recvConn(t, conns)
	for seq := 1; seq <= 3; seq++ { // held: within the window
		status, body := c.post("/send/"+id+"/"+strconv.Itoa(seq), []byte("x"))
		if status != 200 || len(body) != 1 {
			t.Fatalf("held seq %d: status %d body %q", seq, status, body)
		}
	}
	if status, _ := c.post("/send/"+id+"/4", []byte("x")); status != 404 {
		t.Fatalf("seq 4 beyond the window: status %d, want 404", status)
	}
	_ = conn.SetReadDeadline(time.Now().Add(waitTimeout))
	if _, err := conn.Read(make([]byte, 8)); !errors.Is(err, ErrSessionFailed) {
		t.Fatalf("Read after failure: %v, want ErrSessionFailed", err)
	}
	if _, err := conn.Write([]byte("x")); !errors.Is(err, ErrSessionEnded) {
		t.Fatalf("Write after failure: %v, want ErrSessionEnded", err)
	}
	if status, _ := c.post("/send/"+id+"/0", []byte("x")); status != 404 {
		t.Fatalf("request after failure: status %d, want 404", status)
	}
	if st := srv.Stats(); st.SessionsFailed != 1 || srv.Sessions() != 0 {
		t.Fatalf("failed=%d sessions=%d, want 1 and 0", st.SessionsFailed, srv.Sessions())
	}
}

// TestFarAheadFails: a sequence number beyond next+window fails at once.
func TestFarAheadFails(t *testing.T) {
	srv, addr := startServer(t, Config{ReorderWindow: 4}, echoHandler)
	c := dialRaw(t, addr, "")
	id := c.open()
	if status, _ := c.post("/send/"+id+"/5", []byte("x")); status != 404 {
		t.Fatalf("status %d, want 404", status)
	}
	if srv.Sessions() != 0 || srv.Stats().SessionsFailed != 1 {
		t.Fatalf("session not failed")
	}
}

// TestGapNeverFills: a held request whose predecessor never comes fails the
// session after the idle timeout, even while the client keeps talking.
func TestGapNeverFills(t *testing.T) {
	conns := make(chan *Conn, 1)
	srv, addr := startServer(t, Config{IdleTimeout: 500 * time.Millisecond}, recordingHandler(conns))
	c := dialRaw(t, addr, "")
	id := c.open()
	conn := recvConn(t, conns)
	if status, _ := c.post("/send/"+id+"/1", []byte("x")); status != 200 {
		t.Fatalf("held send: status %d", status)
	}
	// Resending the held request keeps the session active, so only the gap
	// rule can end it.
	// (A new connection each time: fasthttp closes keep-alive connections
	// idle for the short IdleTimeout, and a loaded machine may pause that long.)
	waitFor(t, "gap failure", func() bool {
		status, _ := dialRaw(t, addr, "").post("/send/"+id+"/1", []byte("x"))
		return status == 404
	})
	st := srv.Stats()
	if st.SessionsFailed != 1 || st.SessionsIdleTimeout != 0 {
		t.Fatalf("failed=%d idle=%d, want the gap rule (1, 0)", st.SessionsFailed, st.SessionsIdleTimeout)
	}
	_ = conn.SetReadDeadline(time.Now().Add(waitTimeout))
	if _, err := conn.Read(make([]byte, 1)); !errors.Is(err, ErrSessionFailed) || !strings.Contains(err.Error(), "gap") {
		t.Fatalf("Read: %v, want ErrSessionFailed naming the gap", err)
	}
}

// TestIdleTimeout: a session never polled again closes: the handler's Read
// returns ErrSessionIdle (an EOF saying why) after the bytes already sent,
// its Write fails, and the handler's own upstream connection closes as a
// consequence.
func TestIdleTimeout(t *testing.T) {
	upstreamClosed := make(chan struct{})
	readErr := make(chan error, 1)
	writeErr := make(chan error, 1)
	srv, addr := startServer(t, Config{IdleTimeout: 300 * time.Millisecond}, func(c *Conn) {
		defer c.Close()
		// A stand-in for the media-server connection the edge relays to.
		up, down := net.Pipe()
		go func() {
			_, _ = io.Copy(io.Discard, down)
			close(upstreamClosed)
		}()
		n, err := io.Copy(up, c)
		if n != 3 {
			err = fmt.Errorf("copied %d bytes (%v), want 3", n, err)
		}
		readErr <- err
		up.Close()
		// Fill the output until Write fails.
		var werr error
		for werr == nil {
			_, werr = c.Write(make([]byte, 4096))
		}
		writeErr <- werr
	})
	id := dialRaw(t, addr, "").open()
	if status, _ := dialRaw(t, addr, "").post("/send/"+id+"/0", []byte("abc")); status != 200 {
		t.Fatal("send failed")
	}
	select {
	case err := <-readErr:
		if !errors.Is(err, ErrSessionIdle) || !errors.Is(err, io.EOF) {
			t.Fatalf("Read ended with %v, want ErrSessionIdle (an io.EOF)", err)
		}
	case <-time.After(waitTimeout):
		t.Fatal("handler Read never returned EOF")
	}
	select {
	case err := <-writeErr:
		if !errors.Is(err, ErrSessionEnded) {
			t.Fatalf("Write: %v, want ErrSessionEnded", err)
		}
	case <-time.After(waitTimeout):
		t.Fatal("handler Write never failed")
	}
	select {
	case <-upstreamClosed:
	case <-time.After(waitTimeout):
		t.Fatal("upstream not closed")
	}
	if srv.Sessions() != 0 || srv.Stats().SessionsIdleTimeout != 1 {
		t.Fatalf("sessions=%d idle=%d, want 0 and 1", srv.Sessions(), srv.Stats().SessionsIdleTimeout)
	}
	// fasthttp has closed the idle keep-alive connection too: use a new one.
	if status, _ := dialRaw(t, addr, "").post("/idle/"+id+"/1", []byte{0}); status != 404 {
		t.Fatalf("poll after timeout: status %d, want 404", status)
	}
}

// TestNotRTMPT: plain HTTP requests get plain errors and create nothing.
func TestNotRTMPT(t *testing.T) {
	srv, addr := startServer(t, Config{}, echoHandler)
	cases := []struct {
		raw    string
		status int
	}{
		{"GET / HTTP/1.1\r\nHost: x\r\n\r\n", 405},
		{"GET /open/1 HTTP/1.1\r\nHost: x\r\n\r\n", 405},
		{"PUT /open/1 HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\n\x00", 405},
		{request("/", nil), 404},
		{request("/index.html", nil), 404},
		{request("/fcs/other", nil), 404},
		{request("/open", nil), 404},
		{request("/open/1/2", nil), 404},
		{request("/open/x", nil), 400},
		{request("/send/abc", []byte("x")), 400},    // send needs a number
		{request("/send/ab-c/0", []byte("x")), 400}, // bad id
		{request("/send/abc/-1", []byte("x")), 400}, // bad number
		{request("/send/abc/99999999999999999999", nil), 400},
		{request("/"+strings.Repeat("a", 300), nil), 404},
	}
	for _, tc := range cases {
		c := dialRaw(t, addr, "")
		c.send(tc.raw)
		_, resp, _ := c.response()
		if resp.StatusCode != tc.status {
			t.Errorf("%q: status %d, want %d", tc.raw, resp.StatusCode, tc.status)
		}
	}
	if st := srv.Stats(); st.SessionsOpened != 0 || srv.Sessions() != 0 {
		t.Fatalf("a session was created: %+v", st)
	}
}

// TestGarbageRequestLine: fasthttp answers 400 or closes; nothing panics and
// the server keeps serving.
func TestGarbageRequestLine(t *testing.T) {
	srv, addr := startServer(t, Config{}, echoHandler)
	for _, garbage := range []string{
		"\x00\x01\x02\x03\r\n\r\n",
		"POST\r\n\r\n",
		"POST /open/1 HTTP/9.9 extra\r\n\r\n",
		"POST /open/1 HTTP/1.1\r\nContent-Length: -5\r\n\r\n",
		"POST /open/1 HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
		strings.Repeat("A", 10000) + "\r\n\r\n",
	} {
		c := dialRaw(t, addr, "")
		c.send(garbage)
		_ = c.conn.SetReadDeadline(time.Now().Add(waitTimeout))
		reply, err := io.ReadAll(c.br)
		if err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
			var ne net.Error
			if !errors.As(err, &ne) {
				t.Errorf("%q: read: %v", garbage, err)
			}
		}
		if len(reply) > 0 && !bytes.HasPrefix(reply, []byte("HTTP/1.1 4")) {
			t.Errorf("%q: reply %q, want a 4xx or nothing", garbage, reply)
		}
	}
	// Still serving.
	c := dialRaw(t, addr, "")
	c.open()
	if srv.Sessions() != 1 {
		t.Fatalf("sessions = %d, want 1", srv.Sessions())
	}
}

// confirmedOpen opens a session and sends its first byte, so it is live
// (no longer displaceable by new opens).
func (r *rawClient) confirmedOpen() string {
	r.t.Helper()
	id := r.open()
	if status, _ := r.post("/send/"+id+"/0", []byte{3}); status != 200 {
		r.t.Fatalf("first send: status %d", status)
	}
	return id
}

// TestSessionLimits: MaxSessions and MaxSessionsPerIP answer 503 when every
// slot is held by a session that carries data, and the slots come back when
// sessions end.
func TestSessionLimits(t *testing.T) {
	srv, addr := startServer(t, Config{MaxSessions: 3, MaxSessionsPerIP: 2}, echoHandler)
	a := dialRaw(t, addr, "127.0.0.2")
	b := dialRaw(t, addr, "127.0.0.3")
	d := dialRaw(t, addr, "127.0.0.4")
	ids := []string{a.confirmedOpen(), a.confirmedOpen()}
	if status, _ := a.post("/open/1", []byte{0}); status != 503 {
		t.Fatalf("third open from one IP: status %d, want 503", status)
	}
	ids = append(ids, b.confirmedOpen())
	if status, _ := d.post("/open/1", []byte{0}); status != 503 {
		t.Fatalf("open beyond MaxSessions: status %d, want 503", status)
	}
	st := srv.Stats()
	if st.Rejected[RejectPerIPLimit] != 1 || st.Rejected[RejectSessionLimit] != 1 {
		t.Fatalf("rejections %v", st.Rejected)
	}
	for i, id := range ids {
		cl := a
		if i == 2 {
			cl = b
		}
		if status, _ := cl.post("/close/"+id, nil); status != 200 {
			t.Fatalf("close %s: %d", id, status)
		}
	}
	if srv.Sessions() != 0 || srv.table.ipCount("127.0.0.2") != 0 || srv.table.ipCount("127.0.0.3") != 0 {
		t.Fatalf("slots not released: sessions=%d", srv.Sessions())
	}
	d.open()
}

// TestManySessionsReleaseSlots (style rule R7): open and close N sessions
// through every ending path; every counter returns to zero.
func TestManySessionsReleaseSlots(t *testing.T) {
	var handlers atomic.Int32
	srv, addr := startServer(t, Config{IdleTimeout: 100 * time.Millisecond, MaxSessionsPerIP: 100}, func(c *Conn) {
		handlers.Add(1)
		defer handlers.Add(-1)
		echoHandler(c)
	})
	for i := range 30 {
		c := dialRaw(t, addr, "") // the short IdleTimeout also closes idle keep-alive connections
		id := c.open()
		switch i % 3 {
		case 0:
			c.post("/close/"+id+"/0", []byte{0})
		case 1:
			c.post("/send/"+id+"/7", []byte{0}) // held ahead of turn: the gap or idle rule ends it
		case 2: // never polled again: idle timeout
		}
	}
	waitFor(t, "all sessions ended", func() bool { return srv.Sessions() == 0 && handlers.Load() == 0 })
	srv.table.mu.Lock()
	defer srv.table.mu.Unlock()
	if len(srv.table.perIP) != 0 {
		t.Fatalf("per-IP counts left: %v", srv.table.perIP)
	}
}
