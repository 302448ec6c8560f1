package edge

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/rtmp-edge/rtmp-edge/edge/handshake"
	"github.com/rtmp-edge/rtmp-edge/routing"
)

// sinkServer is a media server that does the RTMP handshake and then only
// reads (counting what it got) or, when stalled, nothing at all: a hung media
// server whose receive buffer fills up.
type sinkServer struct {
	addr     string
	stalled  bool
	received atomic.Int64
	mu       sync.Mutex
	conns    []net.Conn
}

func startSinkServer(t *testing.T, stalled bool) *sinkServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	s := &sinkServer{addr: ln.Addr().String(), stalled: stalled}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.conns = append(s.conns, c)
			s.mu.Unlock()
			t.Cleanup(func() { c.Close() })
			go func() {
				r := bufio.NewReader(c)
				if _, err := handshake.Serve(r, c); err != nil {
					c.Close()
					return
				}
				if s.stalled {
					return
				}
				buf := make([]byte, 32<<10)
				for {
					n, err := r.Read(buf)
					s.received.Add(int64(n))
					if err != nil {
						c.Close() // like a media server, it closes when its client is gone
						return
					}
				}
			}()
		}
	}()
	return s
}

func (s *sinkServer) conn(t *testing.T) net.Conn {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		s.mu.Lock()
		n := len(s.conns)
		s.mu.Unlock()
		if n > 0 {
			s.mu.Lock()
			defer s.mu.Unlock()
			return s.conns[0]
		}
	}
	t.Fatal("the media server got no connection within 5s")
	return nil
}

// runningEdge is an edge whose Serve the test stops itself.
type runningEdge struct {
	*testEdge
	reg    *prometheus.Registry
	stop   context.CancelFunc
	served chan struct{}
}

func serveEdge(t *testing.T, cfg Config, grace time.Duration) *runningEdge {
	t.Helper()
	logs := &logBuffer{}
	reg := prometheus.NewRegistry()
	e, err := New(cfg, Options{Logger: slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})), Registry: reg})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan struct{})
	go func() {
		defer close(served)
		_ = e.Serve(ctx, grace)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-served:
		case <-time.After(10 * time.Second):
			t.Error("edge did not stop within 10s")
		}
	})
	return &runningEdge{testEdge: &testEdge{Edge: e, log: logs, addr: e.Addr(cfg.Listeners[0].Name).String()}, reg: reg, stop: cancel, served: served}
}

// waitPhase waits until exactly one session is registered and in phase.
func (e *runningEdge) waitSession(t *testing.T, phase string) string {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		all := adminSource{e.Edge}.Sessions()
		if len(all) == 1 && all[0].Phase == phase {
			return all[0].ID
		}
	}
	t.Fatalf("no single session in phase %s within 5s: %+v", phase, adminSource{e.Edge}.Sessions())
	return ""
}

// rawPublisher handshakes with the edge and sends a connect; what it sends
// after C2 is counted in sent.
type rawPublisher struct {
	c    net.Conn
	sent atomic.Int64
}

func startRawPublisher(t *testing.T, addr string) *rawPublisher {
	t.Helper()
	p := &rawPublisher{c: rawHandshake(t, addr)}
	p.write(t, command("connect", connectObject))
	return p
}

func (p *rawPublisher) write(t *testing.T, b []byte) {
	t.Helper()
	_ = p.c.SetWriteDeadline(time.Now().Add(5 * time.Second))
	n, err := p.c.Write(b)
	p.sent.Add(int64(n))
	if err != nil {
		t.Fatalf("write to the edge: %v", err)
	}
}

// flood writes until the edge stops taking bytes (its media server does not
// read) or the conn is closed; it returns at once.
func (p *rawPublisher) flood() {
	go func() {
		buf := make([]byte, 64<<10)
		for total := 0; total < 256<<20; total += len(buf) {
			_ = p.c.SetWriteDeadline(time.Now().Add(30 * time.Second))
			n, err := p.c.Write(buf)
			p.sent.Add(int64(n))
			if err != nil {
				return
			}
		}
	}()
}

func gatherValue(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if hasLabels(m, labels) {
				if m.Counter != nil {
					return m.Counter.GetValue()
				}
				return m.Gauge.GetValue()
			}
		}
	}
	return -1
}

func hasLabels(m *dto.Metric, want map[string]string) bool {
	n := 0
	for _, lp := range m.GetLabel() {
		if v, ok := want[lp.GetName()]; ok && v == lp.GetValue() {
			n++
		}
	}
	return n == len(want)
}

// TestShutdownClosesBothSidesAfterGrace: a publisher whose media server hangs
// (reads nothing, so the edge's writes to it block) is cut when the grace
// period ends, with both of its conns closed and "shutdown" as its end, and
// Serve returns. An edge that closed only the client side would stay blocked
// writing to the media server, and Serve would not return.
func TestShutdownClosesBothSidesAfterGrace(t *testing.T) {
	hung := startSinkServer(t, true)
	e := serveEdge(t, testConfig(routing.ServerConfig{Name: "hung", Address: hung.addr, Upload: true}), 300*time.Millisecond)
	p := startRawPublisher(t, e.addr)
	e.waitSession(t, phaseRelay)
	p.flood()
	// Wait until the edge's writes to the hung server are stuck: its byte
	// count stops growing.
	var last int64 = -1
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		all := adminSource{e.Edge}.Sessions()
		if len(all) == 1 && all[0].BytesIn == last && last > 0 {
			break
		}
		if len(all) == 1 {
			last = all[0].BytesIn
		}
	}

	if !e.Ready() {
		t.Fatal("Ready is false before shutdown")
	}
	e.stop()
	select {
	case <-e.served:
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return after grace: a side of the hung session is still open")
	}
	if e.Ready() {
		t.Error("Ready is still true after shutdown")
	}
	rec := e.log.wait(t, "session end", nil)
	if rec["end"] != endShutdown {
		t.Errorf("session end reason %q, want %q", rec["end"], endShutdown)
	}
	// The media server's side was closed by the edge: after the bytes that
	// were in flight, it reads EOF.
	sc := hung.conn(t)
	_ = sc.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.Copy(io.Discard, sc); err != nil {
		t.Errorf("media server side after shutdown: %v, want EOF", err)
	}
}

// TestShutdownWaitsForGrace: a session that ends by itself within the grace
// period ends with its own reason, not "shutdown".
func TestShutdownWaitsForGrace(t *testing.T) {
	sink := startSinkServer(t, false)
	e := serveEdge(t, testConfig(routing.ServerConfig{Name: "sink", Address: sink.addr, Upload: true}), 5*time.Second)
	p := startRawPublisher(t, e.addr)
	e.waitSession(t, phaseRelay)
	e.stop()
	time.Sleep(200 * time.Millisecond) // shutdown has begun: no new clients
	if c, err := net.DialTimeout("tcp", e.addr, time.Second); err == nil {
		c.Close()
		t.Error("the edge still accepts clients after shutdown began")
	}
	select {
	case <-e.served:
		t.Fatal("Serve returned before the grace period ended, with a session still running")
	default:
	}
	p.c.Close()
	select {
	case <-e.served:
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return after the last session ended")
	}
	if rec := e.log.wait(t, "session end", nil); rec["end"] != "client closed" {
		t.Errorf("session end reason %q, want client closed", rec["end"])
	}
}

// TestBytesCountedLiveAndExactly: while a session runs, its bytes in the API
// and rtmp_edge_bytes_total equal what the client sent after its handshake
// (the replayed connect included), and what the media server received.
func TestBytesCountedLiveAndExactly(t *testing.T) {
	sink := startSinkServer(t, false)
	e := serveEdge(t, testConfig(routing.ServerConfig{Name: "sink", Address: sink.addr, Upload: true}), 0)
	p := startRawPublisher(t, e.addr)
	e.waitSession(t, phaseRelay)
	for i := 0; i < 50; i++ {
		p.write(t, make([]byte, 1000+i))
	}
	want := p.sent.Load()
	var api int64
	var metric float64
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		api = adminSource{e.Edge}.Sessions()[0].BytesIn
		metric = gatherValue(t, e.reg, "rtmp_edge_bytes_total", map[string]string{"direction": "in"})
		if api == want && int64(metric) == want && sink.received.Load() == want {
			break
		}
	}
	if api != want || int64(metric) != want || sink.received.Load() != want {
		t.Fatalf("client sent %d bytes after its handshake; the API says %d, the metric %v, the media server got %d",
			want, api, metric, sink.received.Load())
	}
	if v := gatherValue(t, e.reg, "rtmp_edge_server_bytes_total", map[string]string{"server": "sink", "direction": "in"}); int64(v) != want {
		t.Errorf("per-server bytes in %v, want %d", v, want)
	}
	p.c.Close()
	rec := e.log.wait(t, "session end", nil)
	if got := int64(rec["bytes_in"].(float64)); got != want {
		t.Errorf("session end bytes_in %d, want %d", got, want)
	}
	// After the end the total stays (it moved from live to ended).
	if v := gatherValue(t, e.reg, "rtmp_edge_bytes_total", map[string]string{"direction": "in"}); int64(v) != want {
		t.Errorf("bytes_total after the end %v, want %d", v, want)
	}
}

// TestOperatorEndsASession: DELETE /api/v1/sessions/{id} cuts both sides and
// the session line says who ended it.
func TestOperatorEndsASession(t *testing.T) {
	sink := startSinkServer(t, false)
	e := serveEdge(t, testConfig(routing.ServerConfig{Name: "sink", Address: sink.addr, Upload: true}), 0)
	p := startRawPublisher(t, e.addr)
	id := e.waitSession(t, phaseRelay)
	if err := (adminSource{e.Edge}).EndSession(id); err != nil {
		t.Fatal(err)
	}
	rec := e.log.wait(t, "session end", nil)
	if rec["end"] != endOperator || rec["id"] != id {
		t.Errorf("session end %v, want id %s ended by operator", rec, id)
	}
	_ = p.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.Copy(io.Discard, p.c); err != nil && !strings.Contains(err.Error(), "reset") {
		t.Errorf("client side after the operator ended it: %v, want EOF", err)
	}
	if err := (adminSource{e.Edge}).EndSession(id); err == nil {
		t.Error("ending an ended session again: no error")
	}
}

// TestReloadKeepsSocketsAndRunningSessions: a reload that replaces the only
// server sends new sessions to the new one, while the running session goes on
// with the old one, on the same listening socket.
func TestReloadKeepsSocketsAndRunningSessions(t *testing.T) {
	oldSrv, newSrv := startSinkServer(t, false), startSinkServer(t, false)
	cfg := testConfig(routing.ServerConfig{Name: "old", Address: oldSrv.addr, Upload: true})
	e := serveEdge(t, cfg, 0)
	first := startRawPublisher(t, e.addr)
	e.waitSession(t, phaseRelay)

	cfg2 := testConfig(routing.ServerConfig{Name: "new", Address: newSrv.addr, Upload: true})
	changes, err := e.Reload(cfg2)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(changes, "new") || !strings.Contains(changes, "old") {
		t.Errorf("reload changes %q do not name the added and removed servers", changes)
	}
	if got := e.Addr("rtmp").String(); got != e.addr {
		t.Errorf("listener address %s after reload, was %s: the socket was not kept", got, e.addr)
	}
	second := startRawPublisher(t, e.addr)
	for deadline := time.Now().Add(5 * time.Second); newSrv.received.Load() == 0 && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	if newSrv.received.Load() == 0 {
		t.Fatal("a client after the reload did not reach the new server")
	}
	// The first session still relays to the old server.
	before := oldSrv.received.Load()
	first.write(t, make([]byte, 500))
	for deadline := time.Now().Add(5 * time.Second); oldSrv.received.Load() < before+500 && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	if got := oldSrv.received.Load(); got != before+500 {
		t.Fatalf("old server received %d more bytes after the reload, want 500", got-before)
	}
	first.c.Close()
	second.c.Close()

	// A broken config is refused and changes nothing.
	bad := cfg2
	bad.Backends = nil
	if _, err := e.Reload(bad); err == nil {
		t.Fatal("a config without backends was accepted")
	}
	if v := gatherValue(t, e.reg, "rtmp_edge_reloads_total", map[string]string{"result": "failed"}); v != 1 {
		t.Errorf("reloads_total{failed} = %v, want 1", v)
	}
}

// TestRejectionLinesAreRateLimited: a flood of bad clients writes at most
// rejectionLines "session rejected" lines per listener and reason, then one
// summary at shutdown; the metric counts every one, and a good session's end
// line is never held back.
func TestRejectionLinesAreRateLimited(t *testing.T) {
	sink := startSinkServer(t, false)
	e := serveEdge(t, testConfig(routing.ServerConfig{Name: "sink", Address: sink.addr, Upload: true}), 0)
	const flood = 200
	for i := 0; i < flood; i++ {
		c, err := net.DialTimeout("tcp", e.addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = c.Write([]byte{0xff}) // not RTMP
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, _ = io.Copy(io.Discard, c) // the edge closes it
		c.Close()
	}
	p := startRawPublisher(t, e.addr)
	e.waitSession(t, phaseRelay)
	p.c.Close()
	e.log.wait(t, "session end", nil)
	if v := gatherValue(t, e.reg, "rtmp_edge_rejected_total", map[string]string{"reason": "not_rtmp"}); v != flood {
		t.Errorf("rejected_total{not_rtmp} = %v, want %d", v, flood)
	}
	e.stop()
	<-e.served
	lines, summaries := 0, 0
	for _, rec := range e.log.records() {
		switch msg, _ := rec["msg"].(string); {
		case msg == "session rejected":
			lines++
		case strings.HasPrefix(msg, "session rejected: ") && strings.HasSuffix(msg, " more suppressed"):
			summaries++
			if n, _ := rec["suppressed"].(float64); int(n) != flood-rejectionLines {
				t.Errorf("summary says %v suppressed, want %d", rec["suppressed"], flood-rejectionLines)
			}
		}
	}
	if lines != rejectionLines || summaries != 1 {
		t.Errorf("%d rejection lines and %d summaries for %d bad clients, want %d and 1", lines, summaries, flood, rejectionLines)
	}
}

// TestStalledSessionOnADownServerEnds: a session whose media server has sent
// nothing is left alone while the server is up, and ended ("server down")
// once the checks mark the server down and stall_timeout passes.
func TestStalledSessionOnADownServerEnds(t *testing.T) {
	sink := startSinkServer(t, false) // reads, never answers: silent
	cfg := testConfig(routing.ServerConfig{Name: "sink", Address: sink.addr, Upload: true})
	cfg.Backends[0].StallTimeout = 500 * time.Millisecond
	e := serveEdge(t, cfg, 0)
	p := startRawPublisher(t, e.addr)
	e.waitSession(t, phaseRelay)
	time.Sleep(4 * stallSweep) // silent for longer than stall_timeout, but the server is up
	if n := len(adminSource{e.Edge}.Sessions()); n != 1 {
		t.Fatalf("%d sessions while the server is up, want the silent one still there", n)
	}
	e.rt.Load().backends["media"].pool.Server("sink").SetHealthy(false)
	rec := e.log.wait(t, "session end", nil)
	if rec["end"] != endServerDown {
		t.Errorf("end %q, want %q", rec["end"], endServerDown)
	}
	_ = p.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.Copy(io.Discard, p.c); err != nil && !strings.Contains(err.Error(), "reset") {
		t.Errorf("client side after server down: %v, want it closed", err)
	}
}

// TestTwoListenersOnPortZero: listeners that ask for any free port each get
// a socket of their own (one address string, two sockets).
func TestTwoListenersOnPortZero(t *testing.T) {
	sink := startSinkServer(t, false)
	cfg := testConfig(routing.ServerConfig{Name: "sink", Address: sink.addr, Upload: true})
	second := cfg.Listeners[0]
	second.Name = "rtmp2"
	cfg.Listeners = append(cfg.Listeners, second)
	e := serveEdge(t, cfg, 0)
	a, b := e.Addr("rtmp"), e.Addr("rtmp2")
	if a == nil || b == nil || a.String() == b.String() {
		t.Fatalf("addresses %v and %v, want two sockets", a, b)
	}
}

// TestStallTimeoutLeavesPublishers: a media server sends a publisher next to
// nothing, so a publisher on a server marked down is not cut for silence.
func TestStallTimeoutLeavesPublishers(t *testing.T) {
	sink := startSinkServer(t, false)
	cfg := testConfig(routing.ServerConfig{Name: "sink", Address: sink.addr, Upload: true})
	cfg.Backends[0].StallTimeout = 500 * time.Millisecond
	e := serveEdge(t, cfg, 0)
	p := &rawPublisher{c: rawHandshake(t, e.addr)}
	// {app: "live", type: "nonprivate"}: an encoder's connect.
	obj := append([]byte{3, 0, 3}, "app"...)
	obj = append(obj, amfString("live")...)
	obj = append(append(obj, 0, 4), "type"...)
	obj = append(append(obj, amfString("nonprivate")...), 0, 0, 9)
	p.write(t, command("connect", obj))
	e.waitSession(t, phaseRelay)
	e.rt.Load().backends["media"].pool.Server("sink").SetHealthy(false)
	time.Sleep(4 * stallSweep)
	all := adminSource{e.Edge}.Sessions()
	if len(all) != 1 || all[0].Kind != "publish" {
		t.Fatalf("sessions %+v, want the silent publisher still there", all)
	}
	p.c.Close()
}
