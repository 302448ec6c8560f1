package upstream

import (
	"bytes"
	"crypto/rand"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// tcpPair returns two connected TCP conns on loopback.
func tcpPair(t testing.TB) (*net.TCPConn, *net.TCPConn) {
	t.Helper()
	ln := listen(t, "127.0.0.1:0")
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			close(accepted)
			return
		}
		accepted <- c
	}()
	a, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	b := receive(t, accepted)
	if b == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { a.Close(); b.Close() })
	return a.(*net.TCPConn), b.(*net.TCPConn)
}

// relayRig is client app ↔ [edge: client conn | Relay | server conn] ↔ server app.
type relayRig struct {
	clientApp, serverApp net.Conn
	done                 chan RelayStats
}

func startRelay(t testing.TB, clientApp, clientEdge, serverEdge, serverApp net.Conn, cfg RelayConfig, inspect func([]byte) bool) *relayRig {
	t.Helper()
	r := &relayRig{clientApp: clientApp, serverApp: serverApp, done: make(chan RelayStats, 1)}
	go func() { r.done <- Relay(clientEdge, serverEdge, cfg, inspect) }()
	return r
}

func startTCPRelay(t testing.TB, cfg RelayConfig, inspect func([]byte) bool) *relayRig {
	t.Helper()
	clientApp, clientEdge := tcpPair(t)
	serverEdge, serverApp := tcpPair(t)
	return startRelay(t, clientApp, clientEdge, serverEdge, serverApp, cfg, inspect)
}

func randomBytes(t testing.TB, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// sendAndHalfClose writes data then closes the write half; errors go to errc.
func sendAndHalfClose(c net.Conn, data []byte, errc chan<- error) {
	_, err := c.Write(data)
	if err == nil {
		err = c.(closeWriter).CloseWrite()
	}
	errc <- err
}

func TestRelayBytesBothWaysExact(t *testing.T) {
	forEachMode(t, func(t *testing.T, mode RelayConfig) {
		const size = 8 << 20
		// Either side may still be sending when the other is done.
		mode.ClientCloseLinger, mode.ServerCloseLinger = -1, -1
		rig := startTCPRelay(t, mode, nil)
		up, down := randomBytes(t, size), randomBytes(t, size)

		errc := make(chan error, 2)
		go sendAndHalfClose(rig.clientApp, up, errc)
		go sendAndHalfClose(rig.serverApp, down, errc)
		type read struct {
			data []byte
			err  error
		}
		atServer, atClient := make(chan read, 1), make(chan read, 1)
		go func() { b, err := io.ReadAll(rig.serverApp); atServer <- read{b, err} }()
		go func() { b, err := io.ReadAll(rig.clientApp); atClient <- read{b, err} }()

		for range 2 {
			if err := receive(t, errc); err != nil {
				t.Fatalf("send: %v", err)
			}
		}
		s, c := receive(t, atServer), receive(t, atClient)
		if s.err != nil || c.err != nil {
			t.Fatalf("read: server %v, client %v", s.err, c.err)
		}
		if !bytes.Equal(s.data, up) {
			t.Errorf("server received %d bytes, not the %d the client sent", len(s.data), len(up))
		}
		if !bytes.Equal(c.data, down) {
			t.Errorf("client received %d bytes, not the %d the server sent", len(c.data), len(down))
		}
		stats := receive(t, rig.done)
		if stats.ClientToServer != size || stats.ServerToClient != size {
			t.Errorf("counts %d/%d, want %d both ways", stats.ClientToServer, stats.ServerToClient, size)
		}
		if stats.End != "client closed" && stats.End != "server closed" {
			t.Errorf("End %q, want client closed or server closed", stats.End)
		}
	})
}

func TestRelayHalfClose(t *testing.T) {
	forEachMode(t, func(t *testing.T, mode RelayConfig) {
		rig := startTCPRelay(t, mode, nil)
		rig.clientApp.Write([]byte("request"))
		rig.clientApp.(closeWriter).CloseWrite()

		// The server sees the request, then EOF: the client's half-close went through.
		got, err := io.ReadAll(rig.serverApp)
		if err != nil || string(got) != "request" {
			t.Fatalf("server read %q, %v; want \"request\" then EOF", got, err)
		}
		// The other direction still works after the half-close.
		rig.serverApp.Write([]byte("late reply"))
		rig.serverApp.Close()
		got, err = io.ReadAll(rig.clientApp)
		if err != nil || string(got) != "late reply" {
			t.Fatalf("client read %q, %v; want \"late reply\" then EOF", got, err)
		}
		stats := receive(t, rig.done)
		if stats.End != "client closed" {
			t.Errorf("End %q, want \"client closed\" (the first side to end)", stats.End)
		}
		if stats.ClientToServer != 7 || stats.ServerToClient != 10 {
			t.Errorf("counts %d/%d, want 7/10", stats.ClientToServer, stats.ServerToClient)
		}
	})
}

func TestRelayIdleTimeout(t *testing.T) {
	forEachMode(t, func(t *testing.T, mode RelayConfig) {
		rig := startTCPRelay(t, RelayConfig{IdleTimeout: 100 * time.Millisecond, Goroutines: mode.Goroutines}, nil)
		rig.clientApp.Write([]byte("x")) // one byte, then silence both ways
		stats := receive(t, rig.done)
		if stats.End != "idle timeout" {
			t.Fatalf("End %q, want \"idle timeout\"", stats.End)
		}
		if stats.ClientToServer != 1 {
			t.Errorf("ClientToServer %d, want 1", stats.ClientToServer)
		}
		// Both conns were closed by the relay.
		rig.clientApp.SetReadDeadline(time.Now().Add(waitGuard))
		if _, err := rig.clientApp.Read(make([]byte, 1)); err != io.EOF {
			t.Errorf("client app read after idle end: %v, want EOF", err)
		}
	})
}

func TestRelayNotIdleWhileOneDirectionFlows(t *testing.T) {
	forEachMode(t, func(t *testing.T, mode RelayConfig) {
		// The client (a player) sends nothing for many idle periods while the server streams.
		// Idle is long enough that a loaded machine's scheduling delays between
		// two writes never add up to it; the stream spans three idle periods.
		const idle = time.Second
		const writes = 30
		rig := startTCPRelay(t, RelayConfig{IdleTimeout: idle, Goroutines: mode.Goroutines}, nil)
		go io.Copy(io.Discard, rig.clientApp)
		for range writes {
			if _, err := rig.serverApp.Write([]byte("m")); err != nil {
				t.Fatalf("server write: %v (relay ended early?)", err)
			}
			time.Sleep(idle / 10)
		}
		rig.serverApp.Close()
		stats := receive(t, rig.done)
		if stats.End != "server closed" {
			t.Fatalf("End %q, want \"server closed\": a quiet client direction must not be idle while the server streams", stats.End)
		}
		if stats.ServerToClient != writes {
			t.Errorf("ServerToClient %d, want %d", stats.ServerToClient, writes)
		}
	})
}

func TestRelayIdleDisabled(t *testing.T) {
	forEachMode(t, func(t *testing.T, mode RelayConfig) {
		rig := startTCPRelay(t, RelayConfig{IdleTimeout: -1, Goroutines: mode.Goroutines}, nil)
		rig.clientApp.Write([]byte("ping"))
		buf := make([]byte, 4)
		if _, err := io.ReadFull(rig.serverApp, buf); err != nil || string(buf) != "ping" {
			t.Fatalf("server read %q, %v", buf, err)
		}
		rig.clientApp.Close()
		if _, err := rig.serverApp.Read(buf); err != io.EOF {
			t.Fatalf("server read after client close: %v, want EOF", err)
		}
		rig.serverApp.Close()
		stats := receive(t, rig.done)
		if stats.End != "client closed" {
			t.Fatalf("End %q, want \"client closed\"", stats.End)
		}
	})
}

func TestRelayInspectSeesFirstBytesThenStops(t *testing.T) {
	forEachMode(t, func(t *testing.T, mode RelayConfig) {
		var mu sync.Mutex
		var seen bytes.Buffer
		calls := 0
		inspect := func(b []byte) bool {
			mu.Lock()
			defer mu.Unlock()
			calls++
			seen.Write(b)
			return seen.Len() >= 10
		}
		rig := startTCPRelay(t, mode, inspect)
		first, later := []byte("0123456789"), []byte("after-inspection")
		rig.clientApp.Write(first)
		// Wait until the server has the first bytes: inspect has run on them by then.
		buf := make([]byte, len(first))
		if _, err := io.ReadFull(rig.serverApp, buf); err != nil {
			t.Fatal(err)
		}
		rig.clientApp.Write(later)
		rig.clientApp.(closeWriter).CloseWrite()
		rest, err := io.ReadAll(rig.serverApp)
		if err != nil || string(rest) != string(later) {
			t.Fatalf("server read %q, %v; want %q", rest, err, later)
		}
		rig.serverApp.Close()
		stats := receive(t, rig.done)

		mu.Lock()
		defer mu.Unlock()
		if seen.String() != string(first) {
			t.Errorf("inspect saw %q, want exactly %q", seen.String(), first)
		}
		if calls == 0 {
			t.Error("inspect never called")
		}
		if want := int64(len(first) + len(later)); stats.ClientToServer != want {
			t.Errorf("ClientToServer %d, want %d", stats.ClientToServer, want)
		}
	})
}

func TestRelayInspectStopsAfterLimit(t *testing.T) {
	forEachMode(t, func(t *testing.T, mode RelayConfig) {
		var mu sync.Mutex
		seen := 0
		inspect := func(b []byte) bool {
			mu.Lock()
			defer mu.Unlock()
			seen += len(b)
			return false // never satisfied
		}
		rig := startTCPRelay(t, mode, inspect)
		data := randomBytes(t, 3*inspectLimit)
		errc := make(chan error, 1)
		go sendAndHalfClose(rig.clientApp, data, errc)
		got, err := io.ReadAll(rig.serverApp)
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("server read %d bytes (%v), want the %d sent", len(got), err, len(data))
		}
		rig.serverApp.Close()
		receive(t, rig.done)
		mu.Lock()
		defer mu.Unlock()
		if seen != inspectLimit {
			t.Errorf("inspect saw %d bytes, want exactly the first %d", seen, inspectLimit)
		}
	})
}

func TestRelayInspectPanicIsRecovered(t *testing.T) {
	forEachMode(t, func(t *testing.T, mode RelayConfig) {
		rig := startTCPRelay(t, mode, func([]byte) bool { panic("inspector bug") })
		rig.clientApp.Write([]byte("boom"))
		stats := receive(t, rig.done)
		// On goroutines the copier recovers it, on the event loop the loop.
		if !strings.HasPrefix(stats.End, "internal error: panic in ") || !strings.HasSuffix(stats.End, ": inspector bug") {
			t.Fatalf("End %q, want the recovered panic", stats.End)
		}
	})
}

func TestRelayServerReset(t *testing.T) {
	forEachMode(t, func(t *testing.T, mode RelayConfig) {
		rig := startTCPRelay(t, mode, nil)
		rig.serverApp.(*net.TCPConn).SetLinger(0) // close with RST
		rig.serverApp.Close()
		stats := receive(t, rig.done)
		if !strings.HasPrefix(stats.End, "server error: ") || !strings.Contains(stats.End, "connection reset") {
			t.Fatalf("End %q, want a server error naming the reset", stats.End)
		}
		// The client is cut off too: an error on one side closes both.
		rig.clientApp.SetReadDeadline(time.Now().Add(waitGuard))
		if _, err := rig.clientApp.Read(make([]byte, 1)); err != io.EOF {
			t.Errorf("client app read: %v, want EOF", err)
		}
	})
}

func TestRelayNonTCPClient(t *testing.T) {
	// An RTMPT tunnel conn is not TCP: no splice, no CloseWrite. net.Pipe stands in for it.
	clientApp, clientEdge := net.Pipe()
	serverEdge, serverApp := tcpPair(t)
	rig := startRelay(t, clientApp, clientEdge, serverEdge, serverApp, RelayConfig{}, nil)
	go func() { // echo server, closing when the client is gone
		io.Copy(serverApp, serverApp)
		serverApp.Close()
	}()

	data := randomBytes(t, 1<<20)
	go clientApp.Write(data)
	got := make([]byte, len(data))
	if _, err := io.ReadFull(clientApp, got); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, data) {
		t.Fatal("echo through the relay differs")
	}
	clientApp.Close()
	stats := receive(t, rig.done)
	if stats.End != "client closed" {
		t.Errorf("End %q, want \"client closed\"", stats.End)
	}
	if stats.ClientToServer != int64(len(data)) || stats.ServerToClient != int64(len(data)) {
		t.Errorf("counts %d/%d, want %d both", stats.ClientToServer, stats.ServerToClient, len(data))
	}
}

// TestStartCloseEndsWithReason: a relay started with Start and closed from
// outside reports the given reason to done, after both conns are closed.
func TestStartCloseEndsWithReason(t *testing.T) {
	forEachMode(t, func(t *testing.T, mode RelayConfig) {
		client, clientPeer := tcpPair(t)
		server, serverPeer := tcpPair(t)
		done := make(chan RelayStats, 1)
		h := Start(client, server, mode, nil, func(st RelayStats) { done <- st })
		if _, err := clientPeer.Write([]byte("abc")); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 3)
		if _, err := io.ReadFull(serverPeer, buf); err != nil {
			t.Fatal(err)
		}
		h.Close("shutdown")
		select {
		case st := <-done:
			if st.End != "shutdown" || st.ClientToServer != 3 {
				t.Fatalf("stats %+v, want End shutdown and 3 bytes in", st)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("done was not called after Close")
		}
		_ = serverPeer.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := serverPeer.Read(buf); err == nil {
			t.Fatal("the server side is still open after Close")
		}
	})
}

// TestRelayCountsLiveOnTheBufferedPath: through a non-socket conn (an RTMPT
// tunnel, TLS) the counters move with each write, not once per 256 KiB
// copy turn: a slow tunnel's bytes show while they flow.
func TestRelayCountsLiveOnTheBufferedPath(t *testing.T) {
	clientApp, clientEdge := net.Pipe()
	serverEdge, serverApp := tcpPair(t)
	counters := new(Counters)
	h := Start(clientEdge, serverEdge, RelayConfig{Counters: counters}, nil, nil)
	t.Cleanup(func() { h.Close("test over"); clientApp.Close() })
	if _, err := clientApp.Write(make([]byte, 1000)); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(serverApp, make([]byte, 1000)); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(5 * time.Second); counters.ClientToServer.Load() < 1000 && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
	}
	if got := counters.ClientToServer.Load(); got != 1000 {
		t.Fatalf("1000 bytes relayed, the counter says %d while the copy turn goes on", got)
	}
}
