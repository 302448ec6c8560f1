package upstream

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rtmp-edge/rtmp-edge/rtmpt"
)

// tunnelRig is an rtmpt.Client ↔ [rtmpt.Server | Start(tunnel conn, TCP conn)] ↔ server app,
// the edge's shape for an RTMPT session.
type tunnelRig struct {
	client    net.Conn // the tunnel's client end
	serverApp net.Conn // the media server's end of the relayed TCP conn
	done      chan RelayStats
}

func startTunnelRig(t *testing.T, tcfg rtmpt.Config, cfg RelayConfig) *tunnelRig {
	t.Helper()
	return startInspectedTunnelRig(t, tcfg, cfg, nil)
}

func startInspectedTunnelRig(t *testing.T, tcfg rtmpt.Config, cfg RelayConfig, inspect func([]byte) bool) *tunnelRig {
	t.Helper()
	addr, apps, done := startTunnelServerInspect(t, tcfg, cfg, inspect)
	ctx, cancel := context.WithTimeout(context.Background(), waitGuard)
	defer cancel()
	client, err := rtmpt.Dial(ctx, addr, rtmpt.ClientOptions{PollInterval: 2 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	return &tunnelRig{client: client, serverApp: receive(t, apps), done: done}
}

// startTunnelServer serves RTMPT on loopback; each session is relayed by
// Start to a fresh TCP conn whose far end goes to apps.
func startTunnelServer(t *testing.T, tcfg rtmpt.Config, cfg RelayConfig) (addr string, apps chan net.Conn, done chan RelayStats) {
	t.Helper()
	return startTunnelServerInspect(t, tcfg, cfg, nil)
}

func startTunnelServerInspect(t *testing.T, tcfg rtmpt.Config, cfg RelayConfig, inspect func([]byte) bool) (addr string, apps chan net.Conn, done chan RelayStats) {
	t.Helper()
	apps, done = make(chan net.Conn, 1), make(chan RelayStats, 1)
	srv, err := rtmpt.New(tcfg, func(c *rtmpt.Conn) {
		serverEdge, serverApp := tcpPair(t)
		apps <- serverApp
		Start(c, serverEdge, cfg, inspect, func(st RelayStats) { done <- st })
	})
	if err != nil {
		t.Fatal(err)
	}
	ln := listen(t, "127.0.0.1:0")
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return ln.Addr().String(), apps, done
}

// post sends one RTMPT request and returns the reply body.
func post(t *testing.T, addr, path string, body []byte) []byte {
	t.Helper()
	resp, err := http.Post("http://"+addr+path, "application/x-fcs", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("%s: status %d, %v", path, resp.StatusCode, err)
	}
	return b
}

// relayGoroutines counts goroutines whose stack is in the relay's code.
func relayGoroutines() int {
	buf := make([]byte, 1<<22)
	buf = buf[:runtime.Stack(buf, true)]
	n := 0
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "upstream.(*relay)") {
			n++
		}
	}
	return n
}

// TestTunnelRelayParked: an RTMPT session relayed to a TCP conn is carried
// by the tunnel's own requests: 1 MiB each way arrives exactly and in order,
// counted, while no goroutine of the relay exists once it started; the
// client's /close ends it "client closed".
func TestTunnelRelayParked(t *testing.T) {
	rig := startTunnelRig(t, rtmpt.Config{}, RelayConfig{})
	for deadline := time.Now().Add(waitGuard); relayGoroutines() != 0; {
		if time.Now().After(deadline) {
			t.Fatalf("%d relay goroutines for one parked tunnel session, want 0", relayGoroutines())
		}
		time.Sleep(5 * time.Millisecond)
	}
	up, down := randomBytes(t, 1<<20), randomBytes(t, 1<<20)
	go func() { _, _ = rig.client.Write(up) }()
	go func() { _, _ = rig.serverApp.Write(down) }()
	// Both ends read at once: the Go client stops polling while 256 KiB it
	// received are unread, and then sends nothing either.
	gotUp, gotDown := make([]byte, len(up)), make([]byte, len(down))
	upErr := make(chan error, 1)
	go func() {
		_ = rig.serverApp.SetReadDeadline(time.Now().Add(waitGuard))
		_, err := io.ReadFull(rig.serverApp, gotUp)
		upErr <- err
	}()
	_ = rig.client.SetReadDeadline(time.Now().Add(waitGuard))
	if _, err := io.ReadFull(rig.client, gotDown); err != nil {
		t.Fatalf("client read: %v", err)
	}
	if err := receive(t, upErr); err != nil {
		t.Fatalf("server read: %v", err)
	}
	if !bytes.Equal(gotUp, up) || !bytes.Equal(gotDown, down) {
		t.Fatal("bytes differ from what was sent")
	}
	if n := relayGoroutines(); n != 0 {
		t.Errorf("%d relay goroutines after the transfer, want 0", n)
	}
	rig.client.Close()
	st := receive(t, rig.done)
	if st.End != "client closed" || st.ClientToServer != int64(len(up)) || st.ServerToClient != int64(len(down)) {
		t.Fatalf("stats %+v, want client closed and %d bytes each way", st, len(up))
	}
	_ = rig.serverApp.SetReadDeadline(time.Now().Add(waitGuard))
	if _, err := rig.serverApp.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("server side after the client's close: %v, want EOF", err)
	}
}

// TestTunnelRelayParkedServerCloses: the media server's close reaches the
// tunnel client at its next poll, after the bytes sent before it.
func TestTunnelRelayParkedServerCloses(t *testing.T) {
	rig := startTunnelRig(t, rtmpt.Config{}, RelayConfig{})
	if _, err := rig.serverApp.Write([]byte("last words")); err != nil {
		t.Fatal(err)
	}
	rig.serverApp.Close()
	_ = rig.client.SetReadDeadline(time.Now().Add(waitGuard))
	got, err := io.ReadAll(rig.client)
	if string(got) != "last words" {
		t.Fatalf("client got %q (%v), want the bytes sent before the close", got, err)
	}
	if st := receive(t, rig.done); st.End != "server closed" {
		t.Fatalf("End %q, want server closed", st.End)
	}
}

// TestTunnelRelayParkedClientIdle: a client that stops polling ends the
// parked relay by the tunnel's idle timeout, "client idle", and the media
// server's conn is closed.
func TestTunnelRelayParkedClientIdle(t *testing.T) {
	addr, apps, done := startTunnelServer(t, rtmpt.Config{IdleTimeout: 300 * time.Millisecond}, RelayConfig{})
	id := strings.TrimSuffix(string(post(t, addr, "/open/1", []byte{0})), "\n")
	serverApp := receive(t, apps)
	post(t, addr, "/send/"+id+"/0", []byte("abc"))
	if _, err := io.ReadFull(serverApp, make([]byte, 3)); err != nil {
		t.Fatal(err)
	}
	// No more requests: a client that vanished without /close.
	if st := receive(t, done); st.End != "client idle" {
		t.Fatalf("End %q, want client idle", st.End)
	}
	_ = serverApp.SetReadDeadline(time.Now().Add(waitGuard))
	if _, err := serverApp.Read(make([]byte, 1)); err == nil {
		t.Fatal("the server side is still open")
	}
}

// TestTunnelRelayParkedIdleTimeout: a client that goes on polling while no
// byte moves either way ends by the relay's own idle timeout.
func TestTunnelRelayParkedIdleTimeout(t *testing.T) {
	rig := startTunnelRig(t, rtmpt.Config{}, RelayConfig{IdleTimeout: 300 * time.Millisecond})
	if st := receive(t, rig.done); st.End != "idle timeout" {
		t.Fatalf("End %q, want idle timeout", st.End)
	}
}

// TestTunnelRelayParkedServerStalls: a media server that stops reading
// while the client sends ends the relay "server stalled" (WriteTimeout),
// bounding the request that waits on it.
func TestTunnelRelayParkedServerStalls(t *testing.T) {
	rig := startTunnelRig(t, rtmpt.Config{}, RelayConfig{WriteTimeout: 300 * time.Millisecond})
	go func() {
		chunk := make([]byte, 64<<10)
		for {
			if _, err := rig.client.Write(chunk); err != nil {
				return
			}
		}
	}()
	if st := receive(t, rig.done); st.End != "server stalled" {
		t.Fatalf("End %q, want server stalled", st.End)
	}
}

// TestTunnelRelayParkedInspect: inspect sees the client's first bytes, in
// order, after they were written to the server, until it says done; the
// tunnel's requests carry it, so not even the inspect phase holds a relay
// goroutine. A panic in inspect ends the relay as an internal error.
func TestTunnelRelayParkedInspect(t *testing.T) {
	var mu sync.Mutex
	var seen bytes.Buffer
	rig := startInspectedTunnelRig(t, rtmpt.Config{}, RelayConfig{}, func(p []byte) bool {
		mu.Lock()
		defer mu.Unlock()
		seen.Write(p)
		return strings.Contains(seen.String(), "publish")
	})
	for _, part := range []string{"connect ", "createStream ", "publish ", "media"} {
		if _, err := rig.client.Write([]byte(part)); err != nil {
			t.Fatal(err)
		}
		_ = rig.serverApp.SetReadDeadline(time.Now().Add(waitGuard))
		if _, err := io.ReadFull(rig.serverApp, make([]byte, len(part))); err != nil {
			t.Fatalf("server read of %q: %v", part, err)
		}
		if part == "createStream " {
			if n := relayGoroutines(); n != 0 {
				t.Errorf("%d relay goroutines while inspecting, want 0", n)
			}
		}
	}
	mu.Lock()
	got := seen.String()
	mu.Unlock()
	if !strings.HasPrefix(got, "connect createStream publish") || strings.Contains(got, "media") {
		t.Fatalf("inspect saw %q, want the bytes up to publish and nothing after it said done", got)
	}

	panicky := startInspectedTunnelRig(t, rtmpt.Config{}, RelayConfig{}, func([]byte) bool { panic("inspector bug") })
	if _, err := panicky.client.Write([]byte("boom")); err != nil {
		t.Fatal(err)
	}
	if st := receive(t, panicky.done); !strings.HasPrefix(st.End, "internal error: panic in client→server copy: inspector bug") {
		t.Fatalf("End %q, want the recovered panic", st.End)
	}
}
