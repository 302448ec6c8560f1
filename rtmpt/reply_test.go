package rtmpt

import (
	"bytes"
	"strconv"
	"strings"
	"testing"
)

// librtmpContentLength mimics librtmp's HTTP_read: the status line must start
// with "HTTP/1.1 200 ", then the first "Content-" (case-sensitive) must be
// followed by "length:" (case-insensitive), and atoi runs at ptr+16.
func librtmpContentLength(header string) (int, bool) {
	if !strings.HasPrefix(header, "HTTP/1.1 200 ") {
		return 0, false
	}
	i := strings.Index(header[13:], "Content-")
	if i < 0 {
		return 0, false
	}
	ptr := header[13+i:]
	if len(ptr) < 16 || !strings.EqualFold(ptr[8:15], "length:") {
		// librtmp would look for the next "Content-"; our replies have
		// Content-Type first, so search again like it does.
		j := strings.Index(ptr[8:], "Content-")
		if j < 0 {
			return 0, false
		}
		ptr = ptr[8+j:]
		if len(ptr) < 16 || !strings.EqualFold(ptr[8:15], "length:") {
			return 0, false
		}
	}
	// atoi skips leading whitespace and reads digits.
	rest := strings.TrimLeft(ptr[16:], " \t")
	end := strings.IndexFunc(rest, func(r rune) bool { return r < '0' || r > '9' })
	n, err := strconv.Atoi(rest[:end])
	return n, err == nil && ptr[15] == ' '
}

// checkTunnelHeaders asserts every header RTMPT clients depend on.
func checkTunnelHeaders(t *testing.T, what, header string, status string, bodyLen int) {
	t.Helper()
	if !strings.HasPrefix(header, "HTTP/1.1 "+status+"\r\n") {
		t.Errorf("%s: status line %q, want HTTP/1.1 %s", what, strings.SplitN(header, "\r\n", 2)[0], status)
	}
	for _, line := range []string{
		"\r\nContent-Type: application/x-fcs\r\n",
		"\r\nContent-Length: " + strconv.Itoa(bodyLen) + "\r\n",
		"\r\nConnection: Keep-Alive\r\n",
		"\r\nCache-Control: no-cache\r\n",
	} {
		if !strings.Contains(header, line) {
			t.Errorf("%s: header line %q missing in %q", what, strings.TrimSpace(line), header)
		}
	}
	for _, bad := range []string{"Transfer-Encoding", "chunked", "Server:", "Date:"} {
		if strings.Contains(header, bad) {
			t.Errorf("%s: unexpected %q in %q", what, bad, header)
		}
	}
	if status == "200 OK" {
		n, ok := librtmpContentLength(header)
		if !ok || n != bodyLen {
			t.Errorf("%s: librtmp's parser reads Content-Length %d ok=%v, want %d", what, n, ok, bodyLen)
		}
	}
}

func TestReplyFormat(t *testing.T) {
	srv, addr := startServer(t, Config{}, echoHandler)
	c := dialRaw(t, addr, "")

	c.send(request("/fcs/ident2", []byte{0}))
	hdr, _, body := c.response()
	checkTunnelHeaders(t, "ident2", hdr, "404 Not Found", 0)
	if len(body) != 0 {
		t.Errorf("ident2 body %q, want empty", body)
	}

	c.send(request("/open/1", []byte{0}))
	hdr, _, body = c.response()
	checkTunnelHeaders(t, "open", hdr, "200 OK", 33)
	if len(body) != 33 || body[32] != '\n' || bytes.Count(body, []byte("\n")) != 1 || bytes.ContainsRune(body, '\r') {
		t.Fatalf("open body %q: want 32 id characters and exactly one \\n", body)
	}
	if !validID(string(body[:32])) {
		t.Fatalf("open id %q is not alphanumeric", body[:32])
	}
	id := string(body[:32])

	// send: interval byte 1 (data flowed); the echo may or may not be back yet.
	c.send(request("/send/"+id+"/0", []byte("hello")))
	hdr, _, body = c.response()
	checkTunnelHeaders(t, "send", hdr, "200 OK", len(body))
	if len(body) < 1 || body[0] != 1 {
		t.Fatalf("send reply %q: want interval byte 1 first", body)
	}
	echoed := body[1:]
	for seq := 1; len(echoed) < 5; seq++ {
		c.send(request("/idle/"+id+"/"+strconv.Itoa(seq), []byte{0}))
		hdr, _, body = c.response()
		checkTunnelHeaders(t, "idle", hdr, "200 OK", len(body))
		if len(body) < 1 || body[0] == 0 {
			t.Fatalf("idle reply %q: want a non-zero interval byte first", body)
		}
		echoed = append(echoed, body[1:]...)
	}
	if string(echoed) != "hello" {
		t.Fatalf("echoed %q, want hello", echoed)
	}

	c.send(request("/close/"+id+"/99", []byte{0}))
	hdr, _, body = c.response()
	checkTunnelHeaders(t, "close", hdr, "200 OK", 1)
	if !bytes.Equal(body, []byte{0}) {
		t.Fatalf("close reply %q, want the single byte 0", body)
	}
	// No idle count: when the echo is back before the send's reply, the
	// send carries it and no idle is needed.
	st := srv.Stats()
	if st.Requests["fcs"] != 1 || st.Requests["open"] != 1 || st.Requests["send"] != 1 || st.Requests["close"] != 1 {
		t.Errorf("requests by command %v", st.Requests)
	}
	if st.BytesIn != 5 || st.BytesOut != 5 || st.SessionsOpened != 1 || st.SessionsClosed != 1 {
		t.Errorf("stats %+v", st)
	}
}

// TestErrorRepliesKeepHeaders: RTMPT errors carry the same headers, so
// clients that parse strictly still read a well-formed reply.
func TestErrorRepliesKeepHeaders(t *testing.T) {
	_, addr := startServer(t, Config{MaxBody: 16}, echoHandler)
	c := dialRaw(t, addr, "")
	cases := []struct {
		path   string
		body   []byte
		status string
	}{
		{"/idle/0123456789abcdef0123456789abcdef/0", []byte{0}, "404 Not Found"},
		{"/idle/bad-id/0", []byte{0}, "400 Bad Request"},
		{"/open/1", make([]byte, 17), "413 Request Entity Too Large"},
	}
	for _, tc := range cases {
		c.send(request(tc.path, tc.body))
		hdr, _, _ := c.response()
		checkTunnelHeaders(t, tc.path, hdr, tc.status, 0)
		if strings.HasPrefix(tc.status, "413") {
			c = dialRaw(t, addr, "") // fasthttp closes after an oversized body
		}
	}
}

func TestSessionIDsUnique(t *testing.T) {
	_, addr := startServer(t, Config{MaxSessionsPerIP: 200, MaxSessions: 200}, echoHandler)
	c := dialRaw(t, addr, "")
	seen := map[string]bool{}
	for range 200 {
		id := c.open()
		if len(id) != 2*idBytes || seen[id] {
			t.Fatalf("id %q: want %d fresh hex characters", id, 2*idBytes)
		}
		seen[id] = true
	}
}

// TestIntervalGrowth: 1 while data flows, then 3, 5, 9, 17, 33 after each
// run of emptiesPerStep+1 empty replies, back to 1 when data flows again.
func TestIntervalGrowth(t *testing.T) {
	in := make(chan []byte, 1)
	srv, addr := startServer(t, Config{}, func(c *Conn) {
		defer c.Close()
		b := make([]byte, 64)
		n, _ := c.Read(b)
		in <- b[:n]
		_, _ = c.Read(b) // until the end
	})
	_ = srv
	c := dialRaw(t, addr, "")
	id := c.open()
	seq := 0
	next := func(cmd string, body []byte) byte {
		t.Helper()
		status, reply := c.post("/"+cmd+"/"+id+"/"+strconv.Itoa(seq), body)
		seq++
		if status != 200 || len(reply) != 1 {
			t.Fatalf("%s: status %d reply %q, want 200 and one byte", cmd, status, reply)
		}
		return reply[0]
	}
	var got []byte
	for range (emptiesPerStep+1)*len(intervals) + 3 {
		got = append(got, next("idle", []byte{0}))
	}
	var want []byte
	step, empties := 0, 0
	for range len(got) {
		empties++
		if empties > emptiesPerStep && step < len(intervals)-1 {
			step++
			empties = 0
		}
		want = append(want, intervals[step])
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("interval bytes\n got %v\nwant %v", got, want)
	}
	if want[len(want)-1] != 33 {
		t.Fatalf("test did not reach the top step")
	}
	if b := next("send", []byte("x")); b != 1 {
		t.Fatalf("interval after data = %d, want 1", b)
	}
	<-in
	if b := next("idle", []byte{0}); b != 1 {
		t.Fatalf("interval on the first empty reply after data = %d, want 1", b)
	}
}

// TestConnectionHeader: Keep-Alive for keep-alive requests, and a single
// "Connection: close" (no contradicting Keep-Alive) when the client asked to
// close; the status line stays HTTP/1.1 for HTTP/1.0 requests (librtmp).
func TestConnectionHeader(t *testing.T) {
	_, addr := startServer(t, Config{}, echoHandler)
	cases := []struct {
		req, want string
	}{
		{"POST /fcs/ident2 HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\n\x00", "\r\nConnection: Keep-Alive\r\n"},
		{"POST /fcs/ident2 HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 1\r\n\r\n\x00", "\r\nConnection: close\r\n"},
		{"POST /fcs/ident2 HTTP/1.0\r\nContent-Length: 1\r\n\r\n\x00", "\r\nConnection: close\r\n"},
		{"POST /fcs/ident2 HTTP/1.0\r\nConnection: Keep-Alive\r\nContent-Length: 1\r\n\r\n\x00", "\r\nConnection: keep-alive\r\n"},
	}
	for _, tc := range cases {
		c := dialRaw(t, addr, "")
		c.send(tc.req)
		hdr, _, _ := c.response()
		if !strings.HasPrefix(hdr, "HTTP/1.1 404 ") || !strings.Contains(hdr, tc.want) || strings.Count(hdr, "Connection:") != 1 {
			t.Errorf("%q: reply header %q, want HTTP/1.1 and one %q", tc.req, hdr, strings.TrimSpace(tc.want))
		}
	}
}
