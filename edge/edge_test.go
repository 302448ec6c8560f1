package edge

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/yutopp/go-rtmp"
	rtmpmsg "github.com/yutopp/go-rtmp/message"

	"github.com/rtmp-edge/rtmp-edge/routing"
	"github.com/rtmp-edge/rtmp-edge/upstream"
)

// ---- a media server for the tests: go-rtmp, recording what it is told ----

type backendEvent struct {
	server string
	what   string // "connect", "publish", "play", "close"
	value  string // app or stream name
	remote string
}

type testBackend struct {
	name   string
	addr   string
	events chan backendEvent
	srv    *rtmp.Server
}

type recordingHandler struct {
	rtmp.DefaultHandler
	b      *testBackend
	remote string
}

func (h *recordingHandler) emit(what, value string) {
	select {
	case h.b.events <- backendEvent{server: h.b.name, what: what, value: value, remote: h.remote}:
	default:
	}
}

func (h *recordingHandler) OnConnect(_ uint32, cmd *rtmpmsg.NetConnectionConnect) error {
	h.emit("connect", cmd.Command.App)
	return nil
}

func (h *recordingHandler) OnPublish(_ *rtmp.StreamContext, _ uint32, cmd *rtmpmsg.NetStreamPublish) error {
	h.emit("publish", cmd.PublishingName)
	return nil
}

func (h *recordingHandler) OnPlay(_ *rtmp.StreamContext, _ uint32, cmd *rtmpmsg.NetStreamPlay) error {
	h.emit("play", cmd.StreamName)
	return nil
}

func (h *recordingHandler) OnClose() { h.emit("close", "") }

func startBackend(t *testing.T, name string) *testBackend {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &testBackend{name: name, addr: ln.Addr().String(), events: make(chan backendEvent, 256)}
	b.srv = rtmp.NewServer(&rtmp.ServerConfig{
		OnConnect: func(conn net.Conn) (io.ReadWriteCloser, *rtmp.ConnConfig) {
			return conn, &rtmp.ConnConfig{
				Handler:      &recordingHandler{b: b, remote: conn.RemoteAddr().String()},
				ControlState: rtmp.StreamControlStateConfig{DefaultBandwidthWindowSize: 6 * 1024 * 1024 / 8},
			}
		},
	})
	go func() { _ = b.srv.Serve(ln) }()
	t.Cleanup(func() { _ = b.srv.Close() })
	return b
}

// waitEvent waits for an event of kind what on any of the backends.
func waitEvent(t *testing.T, what string, backends ...*testBackend) backendEvent {
	t.Helper()
	deadline := time.After(5 * time.Second)
	merged := make(chan backendEvent, 16)
	stop := make(chan struct{})
	defer close(stop)
	for _, b := range backends {
		go func() {
			for {
				select {
				case ev := <-b.events:
					if ev.what == what {
						select {
						case merged <- ev:
						case <-stop:
						}
						return
					}
				case <-stop:
					return
				}
			}
		}()
	}
	select {
	case ev := <-merged:
		return ev
	case <-deadline:
		t.Fatalf("no %q event on any media server within 5s", what)
		return backendEvent{}
	}
}

// ---- the edge under test, with its log captured ----

type logBuffer struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	used map[int]bool // records already returned by wait
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) records() []map[string]any {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]any
	for _, line := range strings.Split(l.buf.String(), "\n") {
		var rec map[string]any
		if json.Unmarshal([]byte(line), &rec) == nil {
			out = append(out, rec)
		}
	}
	return out
}

// wait returns the first record not returned before with msg for which
// match is true.
func (l *logBuffer) wait(t *testing.T, msg string, match func(map[string]any) bool) map[string]any {
	t.Helper()
	deadline := time.Now().Add(8 * time.Second)
	for time.Now().Before(deadline) {
		for i, rec := range l.records() {
			if rec["msg"] == msg && (match == nil || match(rec)) && !l.isUsed(i) {
				l.mu.Lock()
				if l.used == nil {
					l.used = map[int]bool{}
				}
				l.used[i] = true
				l.mu.Unlock()
				return rec
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no %q log line matched within 8s; log:\n%s", msg, l.String())
	return nil
}

func (l *logBuffer) isUsed(i int) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.used[i]
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

type testEdge struct {
	*Edge
	log  *logBuffer
	addr string
}

func startEdge(t testing.TB, cfg Config) *testEdge {
	t.Helper()
	logs := &logBuffer{}
	e, err := New(cfg, Options{
		Logger:   slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Registry: prometheus.NewRegistry(),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = e.Serve(ctx, 0)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Error("edge did not stop within 5s")
		}
	})
	return &testEdge{Edge: e, log: logs, addr: e.Addr(cfg.Listeners[0].Name).String()}
}

// testConfig is the seed's set-up in front of the given media servers, with
// short timers so tests run fast.
func testConfig(servers ...routing.ServerConfig) Config {
	return Config{
		Listeners: []ListenerConfig{{
			Name: "rtmp", Address: "127.0.0.1:0", Protocols: []string{ProtoRTMP}, Backend: "media",
			HandshakeTimeout: 2 * time.Second,
		}},
		Backends: []BackendConfig{{
			PoolConfig: routing.PoolConfig{
				Name: "media", Balance: "roundrobin",
				Stick:   routing.StickConfig{Size: 1000, Expire: time.Minute},
				Servers: servers,
			},
			Check: upstream.CheckConfig{Type: "none"},
			// Pinned: these tests' fake clients and servers stop at connect
			// or send bytes that are no publish/play (the session machinery
			// under test is the same in both modes once relaying); the
			// route: command tests set RouteCommand and use real nginx-rtmp.
			Route: RouteConnect,
		}},
	}
}
