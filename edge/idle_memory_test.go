package edge

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"os"
	goruntime "runtime"
	"runtime/pprof"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rtmp-edge/rtmp-edge/routing"
)

// BenchmarkIdleSessionMemory: b.N routed sessions through the edge that
// published and then went quiet (the memory row of bench/run.sh, without its
// processes). It reports the Go heap after a collection plus the goroutine
// stacks, per session, and the goroutines per session: what a session holds
// once it relays. The client and media-server ends live in this process too;
// their sockets exist before the first measurement and their goroutines
// (one per media-server conn, parked in a read) are subtracted.
//
//	go test -run '^$' -bench IdleSessionMemory -benchtime 2000x -benchmem ./edge
//
// With IDLE_HEAP_PROFILE=FILE it also writes a heap profile (in-use objects
// of the edge's idle sessions) there.
func BenchmarkIdleSessionMemory(b *testing.B) {
	n := b.N
	if os.Getenv("IDLE_HEAP_PROFILE") != "" {
		goruntime.MemProfileRate = 1
	}
	server, serverConns := parkingServer(b)
	cfg := testConfig(routing.ServerConfig{Name: "sink", Address: server, MaxConn: 100000})
	cfg.Backends[0].Stick.Size = 100000
	e := startQuietEdge(b, cfg)
	c0c1 := make([]byte, 1537)
	c0c1[0] = 3
	var hello bytes.Buffer
	hello.Write(make([]byte, 1536)) // C2
	hello.Write(command("connect", connectObject))
	hello.Write(command("publish", append([]byte{5}, append(amfString("idle"), amfString("live")...)...)))
	s := make([]byte, 3073)

	// The first session starts the relay's pollers: per process, not per session.
	open := func(addr string) net.Conn {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			b.Fatal(err)
		}
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := c.Write(c0c1); err != nil {
			b.Fatal(err)
		}
		if _, err := io.ReadFull(c, s); err != nil {
			b.Fatal(err)
		}
		if _, err := c.Write(hello.Bytes()); err != nil {
			b.Fatal(err)
		}
		return c
	}
	warm := open(e.addr)
	waitRelaying(b, e, 1)
	warm.Close()
	waitRelaying(b, e, 0)

	// What the test's own ends cost (a client conn, a media-server conn and
	// its goroutine): measured with n clients straight to the server, then
	// subtracted.
	serverConns.Store(0)
	goBefore, memBefore := goruntime.NumGoroutine(), goLiveBytes()
	direct := make([]net.Conn, 0, n)
	for range n {
		direct = append(direct, open(server))
	}
	waitCount(b, serverConns, n)
	testGo, testMem := goruntime.NumGoroutine()-goBefore, goLiveBytes()-memBefore
	for _, c := range direct {
		c.Close()
	}
	direct = nil
	waitCount(b, serverConns, 0)

	goBefore, memBefore = goruntime.NumGoroutine(), goLiveBytes()
	clients := make([]net.Conn, 0, n)
	b.ResetTimer()
	for range n {
		clients = append(clients, open(e.addr))
	}
	waitRelaying(b, e, n)
	b.StopTimer()
	waitCount(b, serverConns, n)
	memAfter, goAfter := goLiveBytes(), goruntime.NumGoroutine()
	b.ReportMetric(float64(memAfter-memBefore-testMem)/float64(n), "go-B/session")
	b.ReportMetric(float64(goAfter-goBefore-testGo)/float64(n), "goroutines/session")
	if path := os.Getenv("IDLE_HEAP_PROFILE"); path != "" {
		f, err := os.Create(path)
		if err != nil {
			b.Fatal(err)
		}
		goruntime.GC()
		if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
			b.Fatal(err)
		}
		f.Close()
	}
	for _, c := range clients {
		c.Close()
	}
	waitRelaying(b, e, 0)
}

// parkingServer answers the handshake and then reads into a tiny buffer
// forever, so its conns cost as little as the test can make them.
func parkingServer(b *testing.B) (string, *atomic.Int64) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { ln.Close() })
	s0s1s2 := make([]byte, 3073)
	s0s1s2[0] = 3
	count := new(atomic.Int64)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				buf := make([]byte, 1537)
				if _, err := io.ReadFull(c, buf); err != nil {
					return
				}
				_, _ = c.Write(s0s1s2)
				count.Add(1)
				defer count.Add(-1)
				for {
					if _, err := c.Read(buf); err != nil {
						return
					}
				}
			}()
		}
	}()
	return ln.Addr().String(), count
}

// waitCount waits until c is n.
func waitCount(b *testing.B, c *atomic.Int64, n int) {
	for deadline := time.Now().Add(60 * time.Second); c.Load() != int64(n); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			b.Fatalf("count %d, want %d", c.Load(), n)
		}
	}
}

// startQuietEdge is startEdge logging at warn into nothing (as the bench
// runs it): the test log buffer would grow by a line per session.
func startQuietEdge(b *testing.B, cfg Config) *testEdge {
	e, err := New(cfg, Options{
		Logger:   slog.New(slog.NewJSONHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelWarn})),
		Registry: prometheus.NewRegistry(),
	})
	if err != nil {
		b.Fatal(err)
	}
	if err := e.Listen(); err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = e.Serve(ctx, 0)
	}()
	b.Cleanup(func() {
		cancel()
		<-done
	})
	return &testEdge{Edge: e, log: &logBuffer{}, addr: e.Addr(cfg.Listeners[0].Name).String()}
}

// waitRelaying waits until the edge has exactly n sessions, all relaying.
func waitRelaying(b *testing.B, e *testEdge, n int) {
	deadline := time.Now().Add(60 * time.Second)
	for {
		relaying, total := 0, 0
		e.sessions.mu.Lock()
		for _, s := range e.sessions.live {
			total++
			s.mu.Lock()
			if s.phase == phaseRelay && s.command != nil {
				relaying++
			}
			s.mu.Unlock()
		}
		e.sessions.mu.Unlock()
		if relaying == n && total == n {
			return
		}
		if time.Now().After(deadline) {
			b.Fatalf("%d sessions relaying (of %d), want %d", relaying, total, n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// goLiveBytes is the Go heap in use after a collection plus goroutine stacks.
func goLiveBytes() int64 {
	goruntime.GC()
	goruntime.GC()
	var ms goruntime.MemStats
	goruntime.ReadMemStats(&ms)
	return int64(ms.HeapAlloc + ms.StackInuse)
}
