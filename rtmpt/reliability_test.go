package rtmpt

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/yutopp/go-rtmp"
)

// refusals records what Options.OnRefuse reports, by reason.
type refusals struct {
	mu sync.Mutex
	n  map[string]uint64
}

func (r *refusals) hook(reason string, remote net.Addr, err error) {
	if remote == nil || err == nil {
		panic(fmt.Sprintf("OnRefuse(%q, %v, %v): remote and err must be set", reason, remote, err))
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.n == nil {
		r.n = map[string]uint64{}
	}
	r.n[reason]++
}

func (r *refusals) get(reason string) uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.n[reason]
}

// checkHookMatchesStats: every refusal counted in Stats was reported once
// through the hook, and nothing else was.
func (r *refusals) checkMatches(t *testing.T, st Stats) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	for reason, n := range st.Rejected {
		if r.n[reason] != n {
			t.Errorf("reason %s: Stats %d, OnRefuse %d", reason, n, r.n[reason])
		}
	}
	for reason := range r.n {
		if _, ok := st.Rejected[reason]; !ok {
			t.Errorf("OnRefuse reported %q, which Stats does not know", reason)
		}
	}
}

func startServerOpts(t testing.TB, cfg Config, opts Options, handle func(*Conn)) (*Server, string) {
	t.Helper()
	srv, err := NewServer(cfg, handle, opts)
	if err != nil {
		t.Fatalf("NewServer: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	t.Cleanup(func() {
		_ = srv.Close()
		select {
		case <-served:
		case <-time.After(waitTimeout):
			t.Errorf("Serve did not return after Close")
		}
	})
	return srv, ln.Addr().String()
}

// heapInUse is the live heap after two collections (the second frees what
// finalizers of the first released).
func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}

// vmRSS reads the process's resident set from /proc (0 where there is none).
func vmRSS() uint64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseUint(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// TestMemoryBudgetFlood: 1000 sessions each park 8 early 8 KiB bodies
// (64 MiB if nothing bounded them). With a 2 MiB budget the accounted bytes
// never pass it, the heap grows by no more than the budget plus a fixed
// base, the sessions over budget fail (counted and reported), and a good
// session is still served afterwards.
func TestMemoryBudgetFlood(t *testing.T) {
	const (
		budgetBytes = 2 << 20
		sessions    = 1000
		early       = 8
		bodySize    = 8 << 10
		workers     = 8
		// Fixed base: session structs of the survivors, fasthttp's pooled
		// per-connection buffers, the test's own garbage not yet returned.
		// The unbounded figure is 64 MiB, so the check cannot pass by luck.
		slack = 6 << 20
	)
	var ref refusals
	srv, addr := startServerOpts(t, Config{
		MemoryBudget: budgetBytes, MaxSessions: sessions + 10, MaxSessionsPerIP: sessions + 10,
		MaxBody: 64 << 10, IdleTimeout: time.Minute,
	}, Options{OnRefuse: ref.hook}, echoHandler)

	conns := make([]*rawClient, workers)
	for i := range conns {
		conns[i] = dialRaw(t, addr, "127.0.0.2")
		_ = conns[i].conn.SetDeadline(time.Now().Add(2 * time.Minute))
	}
	base := heapInUse()
	rssBase := vmRSS()

	body := make([]byte, bodySize)
	var peakSeen atomic.Int64
	var wg sync.WaitGroup
	var failed atomic.Int32
	for w := range workers {
		c := conns[w]
		wg.Go(func() {
			for range sessions / workers {
				id := c.open()
				// Pipelined: seq 0 never comes, 1..8 are all held.
				var reqs strings.Builder
				for seq := 1; seq <= early; seq++ {
					reqs.WriteString(request("/send/"+id+"/"+strconv.Itoa(seq), body))
				}
				c.send(reqs.String())
				for range early {
					_, resp, _ := c.response()
					if resp.StatusCode == 503 {
						failed.Add(1)
					}
				}
				if u := srv.Stats().MemoryInUse; u > peakSeen.Load() {
					peakSeen.Store(u)
				}
			}
		})
	}
	wg.Wait()

	st := srv.Stats()
	grown := int64(heapInUse()) - int64(base)
	t.Logf("heap grew %d KiB (budget %d KiB); VmRSS %d → %d KiB; in use %d, parked %d, peak %d; live sessions %d, over budget %d",
		grown>>10, budgetBytes>>10, rssBase>>10, vmRSS()>>10, st.MemoryInUse, st.MemoryParked, st.MemoryPeak, st.Sessions, st.Rejected[RejectMemoryBudget])
	if st.MemoryPeak > budgetBytes || peakSeen.Load() > budgetBytes || st.MemoryInUse > budgetBytes {
		t.Errorf("accounted bytes passed the budget: peak %d, seen %d, now %d", st.MemoryPeak, peakSeen.Load(), st.MemoryInUse)
	}
	if st.MemoryParked > budgetBytes/2 {
		t.Errorf("held bodies %d, above half the budget", st.MemoryParked)
	}
	if grown > budgetBytes+slack {
		t.Errorf("heap grew by %d bytes, above budget %d + base %d", grown, budgetBytes, slack)
	}
	over := st.Rejected[RejectMemoryBudget]
	if over < sessions*9/10 || uint64(failed.Load()) != over {
		t.Errorf("sessions failed over budget: %d (503s seen %d), want most of %d", over, failed.Load(), sessions)
	}
	if st.Sessions+int(over) != sessions {
		t.Errorf("live %d + failed %d != %d: a failed session kept its slot, or a good one was lost", st.Sessions, over, sessions)
	}
	ref.checkMatches(t, st)

	// Not the edge: a new session carrying traffic in turn is served.
	c := dialRaw(t, addr, "127.0.0.3")
	id := c.open()
	if status, _ := c.post("/send/"+id+"/0", []byte("hello")); status != 200 {
		t.Fatalf("good session after the flood: send status %d", status)
	}
	var got []byte
	for seq := 1; len(got) < 5 && seq < 1000; seq++ {
		status, reply := c.post("/idle/"+id+"/"+strconv.Itoa(seq), []byte{0})
		if status != 200 {
			t.Fatalf("good session after the flood: idle status %d", status)
		}
		got = append(got, reply[1:]...)
	}
	if string(got) != "hello" {
		t.Fatalf("good session echoed %q", got)
	}
}

// TestMemoryBudgetWrite: a handler whose client does not poll fills the
// out queue; past the budget its Write fails with ErrSessionFailed and the
// session is gone, while the accounted bytes return to zero.
func TestMemoryBudgetWrite(t *testing.T) {
	var ref refusals
	writeErr := make(chan error, 1)
	srv, addr := startServerOpts(t, Config{MemoryBudget: 64 << 10, MaxBody: 1024, Buffer: 1 << 20}, Options{OnRefuse: ref.hook}, func(c *Conn) {
		defer c.Close()
		var err error
		for err == nil {
			_, err = c.Write(make([]byte, 4096))
		}
		writeErr <- err
	})
	dialRaw(t, addr, "").open()
	select {
	case err := <-writeErr:
		if !errors.Is(err, ErrSessionFailed) || !strings.Contains(err.Error(), "budget") {
			t.Fatalf("Write: %v, want ErrSessionFailed naming the budget", err)
		}
	case <-time.After(waitTimeout):
		t.Fatal("Write never failed")
	}
	waitFor(t, "session gone", func() bool { return srv.Sessions() == 0 })
	st := srv.Stats()
	if st.MemoryInUse != 0 || st.Rejected[RejectMemoryBudget] != 1 || st.SessionsFailed != 1 || st.MemoryPeak > 64<<10 {
		t.Fatalf("in use %d, memory_budget %d, failed %d, peak %d", st.MemoryInUse, st.Rejected[RejectMemoryBudget], st.SessionsFailed, st.MemoryPeak)
	}
	ref.checkMatches(t, st)
}

// TestMemoryReturnsToZero: after sessions of every ending kind, nothing
// stays charged to the budget (an accounting leak would lock everyone out
// in the end).
func TestMemoryReturnsToZero(t *testing.T) {
	srv, addr := startServer(t, Config{IdleTimeout: 200 * time.Millisecond, OpenTimeout: 200 * time.Millisecond, MaxSessionsPerIP: 100}, echoHandler)
	for i := range 12 {
		c := dialRaw(t, addr, "")
		id := c.open()
		c.post("/send/"+id+"/2", make([]byte, 3000)) // held
		c.post("/send/"+id+"/0", make([]byte, 5000)) // in turn: fed with what follows? 1 is missing
		c.post("/send/"+id+"/1", make([]byte, 7000)) // fills the gap: 1 and 2 fed, echoed
		switch i % 3 {
		case 0:
			c.post("/close/"+id, nil)
		case 1:
			c.post("/idle/"+id+"/3", []byte{0}) // takes a reply; then idle timeout
		case 2: // never again: idle timeout with output pending
		}
	}
	waitFor(t, "sessions ended", func() bool { return srv.Sessions() == 0 })
	waitFor(t, "memory returned", func() bool { return srv.Stats().MemoryInUse == 0 && srv.Stats().MemoryParked == 0 })
}

// lazyRelay pipes a session to the RTMP server at backend like
// relayHandler, but dials only once the client has sent a byte, so a flood
// of empty sessions costs no backend connections (the edge, too, routes
// only after the handshake).
func lazyRelay(backend string) func(*Conn) {
	return func(c *Conn) {
		defer c.Close()
		first := make([]byte, 1)
		if _, err := io.ReadFull(c, first); err != nil {
			return
		}
		up, err := net.Dial("tcp", backend)
		if err != nil {
			return
		}
		defer up.Close()
		if _, err := up.Write(first); err != nil {
			return
		}
		go func() {
			_, _ = io.Copy(up, c)
			_ = up.(*net.TCPConn).CloseWrite()
		}()
		_, _ = io.Copy(c, up)
	}
}

// TestOpenFloodThenRealClient: 1000 /open/1 from 100 addresses, each on a
// connection closed at once, fill MaxSessions; a real RTMP client (go-rtmp
// through the tunnel client) right after is served at once: its /open
// displaces the oldest session that never carried a byte, and it completes
// the handshake and connect.
func TestOpenFloodThenRealClient(t *testing.T) {
	const flood = 1000
	var ref refusals
	ev := &rtmpEvents{}
	backend := startRTMPServer(t, ev)
	srv, addr := startServerOpts(t, Config{MaxSessions: flood}, Options{OnRefuse: ref.hook}, lazyRelay(backend))
	var wg sync.WaitGroup
	var sent atomic.Int32
	for w := range 20 {
		wg.Go(func() {
			for i := range flood / 20 {
				ip := fmt.Sprintf("127.0.1.%d", 1+(w*(flood/20)+i)%100)
				d := net.Dialer{Timeout: waitTimeout, LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
				c, err := d.Dial("tcp", addr)
				if err != nil {
					t.Errorf("dial: %v", err)
					return
				}
				_, _ = io.WriteString(c, request("/open/1", []byte{0}))
				_ = c.Close()
				sent.Add(1)
			}
		})
	}
	wg.Wait()
	waitFor(t, "the flood's opens served", func() bool { return srv.Stats().Requests["open"] == uint64(sent.Load()) })
	st := srv.Stats()
	t.Logf("after the flood: %d live, %d pending, rejected %v", st.Sessions, st.SessionsPending, st.Rejected)
	if st.Sessions != flood {
		t.Fatalf("flood left %d sessions, want the table full (%d)", st.Sessions, flood)
	}

	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	local, stop, err := Bridge(ctx, addr, ClientOptions{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.9")}})
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	log := logrus.New()
	log.SetOutput(io.Discard)
	cc, err := rtmp.Dial("rtmp", local, &rtmp.ConnConfig{Logger: log})
	if err != nil {
		t.Fatalf("real client after the flood: handshake: %v", err)
	}
	defer cc.Close()
	if err := cc.Connect(nil); err != nil {
		t.Fatalf("real client after the flood: connect: %v", err)
	}
	st = srv.Stats()
	if st.Rejected[RejectSessionLimit] != 0 || st.Rejected[RejectEvicted] == 0 || ev.connects.Load() != 1 {
		t.Fatalf("session_limit %d (want 0), evicted %d (want > 0), connects %d", st.Rejected[RejectSessionLimit], st.Rejected[RejectEvicted], ev.connects.Load())
	}
	ref.checkMatches(t, st)
}

// TestAbandonedSessionsFreeSlots: sessions that never send a byte end after
// OpenTimeout (reason abandoned) although IdleTimeout is long; a session
// that carries data stays.
func TestAbandonedSessionsFreeSlots(t *testing.T) {
	var ref refusals
	srv, addr := startServerOpts(t, Config{OpenTimeout: 200 * time.Millisecond, IdleTimeout: time.Minute}, Options{OnRefuse: ref.hook}, echoHandler)
	c := dialRaw(t, addr, "127.0.0.2")
	for range 10 {
		c.open()
	}
	live := dialRaw(t, addr, "127.0.0.3")
	liveID := live.confirmedOpen()
	// A session leaves the table before its end is counted and reported:
	// wait for all three.
	waitFor(t, "abandoned sessions ended, counted and reported", func() bool {
		ref.mu.Lock()
		reported := ref.n[RejectAbandoned]
		ref.mu.Unlock()
		return srv.Sessions() == 1 && srv.Stats().Rejected[RejectAbandoned] >= 10 && reported >= 10
	})
	st := srv.Stats()
	if st.Rejected[RejectAbandoned] != 10 || st.SessionsPending != 0 || srv.table.ipCount("127.0.0.2") != 0 {
		t.Fatalf("abandoned %d, pending %d, slots of 127.0.0.2 %d", st.Rejected[RejectAbandoned], st.SessionsPending, srv.table.ipCount("127.0.0.2"))
	}
	if srv.table.get(liveID) == nil {
		t.Fatal("the session that carried data was ended")
	}
	ref.checkMatches(t, st)
}

// TestPerIPDisplacesOwnPending: at MaxSessionsPerIP, a new open from that
// IP displaces its own oldest pending session, never another IP's, and is
// refused when all of its sessions carry data.
func TestPerIPDisplacesOwnPending(t *testing.T) {
	srv, addr := startServer(t, Config{MaxSessionsPerIP: 2, IdleTimeout: time.Minute}, echoHandler)
	other := dialRaw(t, addr, "127.0.0.3")
	otherID := other.open() // pending, other IP
	a := dialRaw(t, addr, "127.0.0.2")
	first, second := a.open(), a.open()
	third := a.open() // displaces first
	if srv.table.get(first) != nil || srv.table.get(second) == nil || srv.table.get(third) == nil || srv.table.get(otherID) == nil {
		t.Fatal("wrong session displaced")
	}
	for i, id := range []string{second, third} {
		if status, _ := a.post("/send/"+id+"/0", []byte{3}); status != 200 {
			t.Fatalf("send %d: %d", i, status)
		}
	}
	if status, _ := a.post("/open/1", []byte{0}); status != 503 {
		t.Fatalf("open with every slot carrying data: status %d, want 503", status)
	}
	if st := srv.Stats(); st.Rejected[RejectEvicted] != 1 || st.Rejected[RejectPerIPLimit] != 1 {
		t.Fatalf("evicted %d, per_ip_limit %d", st.Rejected[RejectEvicted], st.Rejected[RejectPerIPLimit])
	}
}

// TestHandlerClosedClientGone: the handler closed with output pending and
// the client never polls again: the slot is free after OpenTimeout, not
// after the (long) IdleTimeout.
func TestHandlerClosedClientGone(t *testing.T) {
	replied := make(chan struct{})
	closed := make(chan struct{})
	srv, addr := startServer(t, Config{OpenTimeout: 200 * time.Millisecond, IdleTimeout: time.Minute}, func(c *Conn) {
		defer close(closed)
		_, _ = io.ReadFull(c, make([]byte, 1))
		<-replied // write after the client's last request: nothing takes it
		_, _ = c.Write([]byte("bye"))
		c.Close()
	})
	c := dialRaw(t, addr, "")
	id := c.open()
	c.post("/send/"+id+"/0", []byte{3})
	close(replied)
	<-closed
	if srv.Sessions() != 1 {
		t.Fatal("session ended before the linger")
	}
	waitFor(t, "session ended", func() bool { return srv.Sessions() == 0 })
	if st := srv.Stats(); st.SessionsFailed != 0 || st.SessionsClosed != 1 {
		t.Fatalf("failed %d closed %d: a handler that closed is not a failure", st.SessionsFailed, st.SessionsClosed)
	}
}

// TestHTTPTimeouts: a request whose headers or body do not arrive within
// HTTPReadTimeout gets 408 (or the connection closed) and is counted and
// reported as http_timeout; a connection that sends nothing is closed after
// HTTPReadTimeout (fasthttp, reducing memory, waits for a first byte
// without a request context, and so cannot tell it from a client that
// closed; the edge's sniffer, which reads that byte, times it); a
// keep-alive connection idle after a complete request is closed without a
// refusal. The session IdleTimeout (long here) plays no part.
func TestHTTPTimeouts(t *testing.T) {
	var ref refusals
	srv, addr := startServerOpts(t, Config{HTTPReadTimeout: 200 * time.Millisecond, HTTPIdleTimeout: 200 * time.Millisecond, IdleTimeout: time.Minute},
		Options{OnRefuse: ref.hook}, echoHandler)
	for _, partial := range []string{
		"POST /open/1 HTTP/1.1\r\nHost: x\r\n",                              // headers never end
		"POST /open/1 HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc", // body never ends
		"", // nothing at all: closed, not counted
	} {
		c := dialRaw(t, addr, "")
		if partial != "" {
			c.send(partial)
		}
		reply, err := io.ReadAll(c.br) // the server closes
		if err != nil {
			t.Fatalf("%q: read: %v", partial, err)
		}
		if len(reply) > 0 && !strings.HasPrefix(string(reply), "HTTP/1.1 408 ") {
			t.Errorf("%q: reply %q, want 408 or nothing", partial, reply)
		}
	}
	if n := srv.Stats().Rejected[RejectHTTPTimeout]; n != 2 {
		t.Errorf("http_timeout = %d, want 2", n)
	}
	// Idle keep-alive: served once, then closed quietly.
	c := dialRaw(t, addr, "")
	c.open()
	if _, err := c.br.ReadByte(); !errors.Is(err, io.EOF) {
		var ne net.Error
		if !errors.As(err, &ne) || ne.Timeout() {
			t.Fatalf("idle keep-alive connection not closed by the server: %v", err)
		}
	}
	st := srv.Stats()
	if st.Rejected[RejectHTTPTimeout] != 2 {
		t.Errorf("idle keep-alive close counted as a refusal: http_timeout = %d", st.Rejected[RejectHTTPTimeout])
	}
	ref.checkMatches(t, st)
}

// TestOnRefuseEveryRequestReason: each kind of refused request is counted
// under its reason and reported once through OnRefuse.
func TestOnRefuseEveryRequestReason(t *testing.T) {
	var ref refusals
	srv, addr := startServerOpts(t, Config{MaxBody: 1024, MaxSessionsPerIP: 1, ReorderWindow: 2}, Options{OnRefuse: ref.hook}, echoHandler)
	c := dialRaw(t, addr, "127.0.0.2")
	id := c.confirmedOpen()
	other := dialRaw(t, addr, "127.0.0.3")
	steps := []struct {
		c      *rawClient
		raw    string
		status int
		reason string
	}{
		{c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", 405, RejectMethod},
		{c, request("/index.html", nil), 404, RejectPath},
		{c, request("/send/a-b/0", nil), 400, RejectMalformed},
		{c, request("/idle/0123456789abcdef0123456789abcdef/0", nil), 404, RejectUnknownSession},
		{other, request("/idle/"+id+"/1", nil), 404, RejectForeignIP},
		{c, request("/open/1", nil), 503, RejectPerIPLimit},
		{c, request("/send/"+id+"/9", []byte{1}), 404, RejectReorder},
		{c, request("/idle/"+id+"/1", nil), 404, RejectUnknownSession},
	}
	for _, s := range steps {
		s.c.send(s.raw)
		_, resp, _ := s.c.response()
		if resp.StatusCode != s.status {
			t.Errorf("%.40q: status %d, want %d", s.raw, resp.StatusCode, s.status)
		}
	}
	big := dialRaw(t, addr, "127.0.0.4")
	big.send(request("/open/1", make([]byte, 2000)))
	if _, resp, _ := big.response(); resp.StatusCode != 413 {
		t.Errorf("large body: status %d, want 413", resp.StatusCode)
	}
	st := srv.Stats()
	want := map[string]uint64{RejectMethod: 1, RejectPath: 1, RejectMalformed: 1, RejectUnknownSession: 2, RejectForeignIP: 1,
		RejectPerIPLimit: 1, RejectReorder: 1, RejectBodyTooLarge: 1}
	for reason, n := range st.Rejected {
		if n != want[reason] {
			t.Errorf("Rejected[%s] = %d, want %d", reason, n, want[reason])
		}
	}
	ref.checkMatches(t, st)
	if len(RejectReasons()) != len(st.Rejected) {
		t.Errorf("RejectReasons() has %d reasons, Stats %d", len(RejectReasons()), len(st.Rejected))
	}
}
