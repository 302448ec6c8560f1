package rtmpt

import (
	"bytes"
	"net"
	"sync/atomic"
	"testing"
	"time"
)

// memConn is an accepted connection whose client sent exactly the given
// bytes; replies are discarded.
type memConn struct {
	r      *bytes.Reader
	remote net.Addr
}

func (c *memConn) Read(p []byte) (int, error)       { return c.r.Read(p) }
func (c *memConn) Write(p []byte) (int, error)      { return len(p), nil }
func (c *memConn) Close() error                     { return nil }
func (c *memConn) LocalAddr() net.Addr              { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 80} }
func (c *memConn) RemoteAddr() net.Addr             { return c.remote }
func (c *memConn) SetDeadline(time.Time) error      { return nil }
func (c *memConn) SetReadDeadline(time.Time) error  { return nil }
func (c *memConn) SetWriteDeadline(time.Time) error { return nil }

// FuzzServeConn feeds arbitrary bytes as one HTTP connection: nothing
// panics, and after Close no session, per-IP slot or handler is left.
func FuzzServeConn(f *testing.F) {
	f.Add([]byte(request("/fcs/ident2", []byte{0}) + request("/open/1", []byte{0}) + request("/open/1", nil)))
	f.Add([]byte(request("//open//1", nil) + request("/idle/abc/0", []byte{0}) + request("/close/abc", nil)))
	f.Add([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
	f.Add([]byte("POST /send/0123456789abcdef0123456789abcdef/0 HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc"))
	f.Add([]byte("POST /open/1 HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n\r\n"))
	f.Add([]byte("\x03\x00\x00\x00"))
	f.Add([]byte(request("/open/1", nil) + request("/send/x/1", make([]byte, 1000)) + request("/send/x/2", make([]byte, 1000))))
	f.Fuzz(func(t *testing.T, data []byte) {
		var running atomic.Int32
		// A budget of a few bodies, so the fuzzer reaches the over-budget paths.
		srv, err := New(Config{MaxBody: 1024, MaxSessions: 4, MaxSessionsPerIP: 4, MemoryBudget: 4096}, func(c *Conn) {
			running.Add(1)
			defer running.Add(-1)
			echoHandler(c)
		})
		if err != nil {
			t.Fatal(err)
		}
		_ = srv.ServeConn(&memConn{r: bytes.NewReader(data), remote: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2), Port: 5000}})
		_ = srv.Close()
		if srv.Sessions() != 0 || srv.table.ipCount("127.0.0.2") != 0 {
			t.Fatalf("sessions left after Close: %d", srv.Sessions())
		}
		deadline := time.Now().Add(waitTimeout)
		for running.Load() != 0 {
			if time.Now().After(deadline) {
				t.Fatalf("%d handlers still running", running.Load())
			}
			time.Sleep(time.Millisecond)
		}
		// Every byte charged to the memory budget came back: a leak would
		// lock all clients out once enough of them had passed.
		if st := srv.Stats(); st.MemoryInUse != 0 || st.MemoryParked != 0 || st.MemoryPeak > st.MemoryBudget {
			t.Fatalf("memory still charged after Close: in use %d, parked %d (peak %d of %d)", st.MemoryInUse, st.MemoryParked, st.MemoryPeak, st.MemoryBudget)
		}
	})
}

// FuzzSequence applies arbitrary send/idle sequence numbers to one session.
// The body of send n is always the byte n (as a real resend repeats its
// body). Unless the session failed, the handler must have received, in
// order and once each, the sends among the numbers whose turn has passed.
func FuzzSequence(f *testing.F) {
	f.Add([]byte{0, 1, 2, 3})
	f.Add([]byte{3, 1, 0x82, 0, 0, 4, 5})
	f.Add([]byte{9, 8, 7, 6, 5, 4, 3, 2, 1, 0})
	f.Add([]byte{0x80, 1, 1, 1, 0x82, 2, 3})
	f.Fuzz(func(t *testing.T, ops []byte) {
		srv, err := New(Config{ReorderWindow: 4}, func(*Conn) {})
		if err != nil {
			t.Fatal(err)
		}
		defer srv.Close()
		remote := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2), Port: 5000}
		sess, _, err := srv.openSession(remote, remote)
		if err != nil {
			t.Fatal(err)
		}
		first := map[uint64]command{} // the first accepted request for each number
		failed := false
		for _, op := range ops {
			seq := uint64(op & 0x0f)
			cmd := cmdSend
			if op&0x80 != 0 {
				cmd = cmdIdle
			}
			if _, seen := first[seq]; !seen {
				first[seq] = cmd
			}
			if _, fail := sess.serve(cmd, seq, []byte{byte(seq)}); fail != "" {
				failed = true
				break
			}
		}
		if failed {
			if srv.Sessions() != 0 {
				t.Fatal("failed session still listed")
			}
			return
		}
		sess.mu.Lock()
		next := sess.next
		sess.mu.Unlock()
		var want []byte
		for seq := range next {
			if first[seq] == cmdSend {
				want = append(want, byte(seq))
			}
		}
		got, _ := sess.conn.in.take(0, 1<<20)
		if !bytes.Equal(got, want) {
			t.Fatalf("ops %v: handler got %v, want %v (next %d)", ops, got, want, next)
		}
	})
}

// FuzzBudget drives two sessions sharing a small memory budget with
// arbitrary sends (sequence number and body size from each byte) while
// their handlers read nothing: the charged bytes never pass the budget,
// held bodies never pass half of it, and everything charged comes back
// when the sessions end.
func FuzzBudget(f *testing.F) {
	f.Add([]byte{0x10, 0x21, 0xf2, 0xf0, 0x11})
	f.Add([]byte{0xf1, 0xf2, 0xf3, 0xf4, 0x80, 0xf0})
	f.Add([]byte{0xf0, 0xf1, 0xf2, 0xf3, 0xf4, 0xf5, 0xf6})
	f.Add([]byte{0xf8, 0xf8, 0xf8, 0x00, 0xf8, 0x01})
	f.Fuzz(func(t *testing.T, ops []byte) {
		const limit = 8192
		srv, err := New(Config{MemoryBudget: limit, MaxBody: 4096, Buffer: 2048, ReorderWindow: 4, IdleTimeout: time.Millisecond}, func(*Conn) {})
		if err != nil {
			t.Fatal(err)
		}
		defer srv.Close()
		var sess [2]*session
		for i := range sess {
			remote := &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(2+i)), Port: 5000}
			if sess[i], _, err = srv.openSession(remote, remote); err != nil {
				t.Fatal(err)
			}
			// Writes queue what fits and return instead of waiting for polls.
			_ = sess[i].conn.SetWriteDeadline(time.Unix(1, 0))
		}
		for i, op := range ops {
			s := sess[i%2]
			seq := uint64(op & 0x07)
			body := make([]byte, int(op>>4)*250)
			if op&0x08 != 0 {
				// The handler writes instead: the out queue and the kept reply.
				_, _ = s.conn.Write(body)
			} else {
				_, _ = s.serve(cmdSend, seq, body)
			}
			st := srv.Stats()
			if st.MemoryInUse > limit || st.MemoryParked > limit/2 || st.MemoryInUse < 0 || st.MemoryParked < 0 {
				t.Fatalf("op %d: in use %d, parked %d, budget %d", i, st.MemoryInUse, st.MemoryParked, limit)
			}
		}
		for _, s := range sess {
			_ = s.conn.Close()
			s.end(endClientClose)
		}
		if st := srv.Stats(); st.MemoryInUse != 0 || st.MemoryParked != 0 {
			t.Fatalf("charged after the sessions ended: in use %d, parked %d", st.MemoryInUse, st.MemoryParked)
		}
	})
}
