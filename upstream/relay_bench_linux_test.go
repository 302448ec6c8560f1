//go:build linux

package upstream

import (
	"bytes"
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

	"golang.org/x/sys/unix"
)

// The relay's benchmarks, each once per mode ("events": the event loop, the
// default between TCP sockets; "goroutines": RelayConfig.Goroutines, the relay
// before it) in the same run:
//
//	go test -run '^$' -bench 'RelayIdleMemory' -benchtime 2000x -benchmem ./upstream
//	go test -run '^$' -bench 'RelayLive' -benchtime 200000x -benchmem ./upstream
//	go test -run '^$' -bench 'RelayTCP' -benchtime 2s -benchmem ./upstream
//
// For the idle and live benchmarks one op is one session and one delivered
// message; -benchtime Nx fixes N (each session needs four descriptors here).

var benchModes = []struct {
	name string
	cfg  RelayConfig
}{
	{"events", RelayConfig{}},
	{"goroutines", RelayConfig{Goroutines: true}},
}

// fdBudget is how many sessions (four sockets each in these benchmarks) the
// descriptor limit allows, with room for the rest of the process.
func fdBudget(b *testing.B) int {
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		b.Fatal(err)
	}
	if lim.Cur < lim.Max {
		lim.Cur = lim.Max
		_ = unix.Setrlimit(unix.RLIMIT_NOFILE, &lim)
		_ = unix.Getrlimit(unix.RLIMIT_NOFILE, &lim)
	}
	return (int(lim.Cur) - 200) / 5
}

// pairs makes n client-side and n server-side TCP pairs over loopback,
// through one listener (the test's own tcpPair registers two cleanups and a
// listener per pair, which is too slow for thousands).
func pairs(b *testing.B, n int) (clientApp, clientEdge, serverEdge, serverApp []*net.TCPConn) {
	ln, err := net.ListenTCP("tcp", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	one := func() (*net.TCPConn, *net.TCPConn) {
		a, err := net.DialTCP("tcp", nil, ln.Addr().(*net.TCPAddr))
		if err != nil {
			b.Fatal(err)
		}
		c, err := ln.AcceptTCP()
		if err != nil {
			b.Fatal(err)
		}
		return a, c
	}
	for range n {
		a, c := one()
		clientApp, clientEdge = append(clientApp, a), append(clientEdge, c)
		c2, a2 := one()
		serverEdge, serverApp = append(serverEdge, c2), append(serverApp, a2)
	}
	b.Cleanup(func() {
		for i := range clientApp {
			clientApp[i].Close()
			serverApp[i].Close()
			clientEdge[i].Close()
			serverEdge[i].Close()
		}
	})
	return
}

// rssBytes is the process's resident set (VmRSS).
func rssBytes() int64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for line := range strings.SplitSeq(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// liveBytes is the Go heap in use after a collection plus goroutine stacks.
func liveBytes() int64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapAlloc + ms.StackInuse)
}

func cpuTime() time.Duration {
	var ru unix.Rusage
	_ = unix.Getrusage(unix.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkRelayIdleMemory: b.N relayed sessions over loopback that moved a
// few bytes each way and then went quiet (idle publishers, paused players).
// Reports the Go memory (heap after GC + stacks) and the RSS they added, per
// session, and the goroutines per session. The sockets of both ends exist
// before the first measurement, so what is counted is the relay's own state
// (minus the edge's net.Conns the event loop lets go).
func BenchmarkRelayIdleMemory(b *testing.B) {
	for _, mode := range benchModes {
		b.Run(mode.name, func(b *testing.B) {
			n := b.N
			if limit := fdBudget(b); n > limit {
				b.Fatalf("%d sessions need %d descriptors; the limit allows %d sessions (use -benchtime %dx)", n, 4*n, limit, limit)
			}
			cApp, cEdge, sEdge, sApp := pairs(b, n)
			// Start the pollers before measuring: they are per process, not per session.
			warm := startTCPRelay(b, mode.cfg, nil)
			warm.clientApp.Close()
			warm.serverApp.Close()
			receive(b, warm.done)

			goBefore := stableGoroutines()
			memBefore, rssBefore := liveBytes(), rssBytes()
			b.ResetTimer()
			ended := make(chan RelayStats, n)
			handles := make([]*Relaying, n)
			msg, got := []byte("hello"), make([]byte, 5)
			for i := range n {
				handles[i] = Start(cEdge[i], sEdge[i], mode.cfg, nil, func(st RelayStats) { ended <- st })
				for _, c := range [][2]*net.TCPConn{{cApp[i], sApp[i]}, {sApp[i], cApp[i]}} {
					if _, err := c[0].Write(msg); err != nil {
						b.Fatal(err)
					}
					if _, err := io.ReadFull(c[1], got); err != nil || !bytes.Equal(got, msg) {
						b.Fatalf("session %d: %q %v", i, got, err)
					}
				}
			}
			b.StopTimer()
			goAfter := stableGoroutines()
			memAfter, rssAfter := liveBytes(), rssBytes()
			b.ReportMetric(float64(memAfter-memBefore)/float64(n), "go-B/session")
			b.ReportMetric(float64(rssAfter-rssBefore)/float64(n), "rss-B/session")
			b.ReportMetric(float64(goAfter-goBefore)/float64(n), "goroutines/session")
			for _, h := range handles {
				h.Close("bench over")
			}
			for range n {
				receive(b, ended)
			}
		})
	}
}

// BenchmarkRelayLive is the load of a live edge: sessions players, each sent
// a 400-byte message every 10 ms by its server (100 messages/s, about
// 320 kbit/s), the client sending nothing. One op is one message delivered.
// Reports the process's CPU time (getrusage, user+system) per message and per
// GB; "direct" runs the same load with no relay (the load generator's own
// cost, to subtract).
func BenchmarkRelayLive(b *testing.B) {
	const (
		sessions = 1000
		msgSize  = 400
		interval = 10 * time.Millisecond
		writers  = 4
	)
	modes := append([]struct {
		name string
		cfg  RelayConfig
	}{{"direct", RelayConfig{}}}, benchModes...)
	for _, mode := range modes {
		b.Run(mode.name, func(b *testing.B) {
			if limit := fdBudget(b); sessions > limit {
				b.Fatalf("needs %d sessions, the descriptor limit allows %d", sessions, limit)
			}
			cApp, cEdge, sEdge, sApp := pairs(b, sessions)
			ended := make(chan RelayStats, sessions)
			var handles []*Relaying
			players, sources := make([]*net.TCPConn, sessions), make([]*net.TCPConn, sessions)
			for i := range sessions {
				if mode.name == "direct" {
					// The player reads the server app's own socket pair.
					players[i], sources[i] = cApp[i], cEdge[i]
					continue
				}
				handles = append(handles, Start(cEdge[i], sEdge[i], mode.cfg, nil, func(st RelayStats) { ended <- st }))
				players[i], sources[i] = cApp[i], sApp[i]
			}
			var received atomic.Int64
			var readers sync.WaitGroup
			for _, p := range players {
				readers.Add(1)
				go func() {
					defer readers.Done()
					buf := make([]byte, 4096)
					for {
						n, err := p.Read(buf)
						received.Add(int64(n))
						if err != nil {
							return
						}
					}
				}()
			}
			total := int64(b.N) * msgSize
			msg := bytes.Repeat([]byte{0xAF}, msgSize)
			var sent atomic.Int64
			runtime.GC()
			b.ResetTimer()
			cpu0, t0 := cpuTime(), time.Now()
			var gen sync.WaitGroup
			for w := range writers {
				gen.Add(1)
				go func() {
					defer gen.Done()
					tick := time.NewTicker(interval)
					defer tick.Stop()
					for range tick.C {
						for i := w; i < sessions; i += writers {
							if sent.Add(msgSize) > total {
								return
							}
							if _, err := sources[i].Write(msg); err != nil {
								b.Error(err)
								return
							}
						}
					}
				}()
			}
			gen.Wait()
			for deadline := time.Now().Add(waitGuard); received.Load() < total && time.Now().Before(deadline); {
				time.Sleep(time.Millisecond)
			}
			cpu, wall := cpuTime()-cpu0, time.Since(t0)
			b.StopTimer()
			if got := received.Load(); got != total {
				b.Fatalf("players received %d bytes, %d were sent", got, total)
			}
			b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/msg")
			b.ReportMetric(cpu.Seconds()/(float64(total)/1e9), "cpu-s/GB")
			b.ReportMetric(100*cpu.Seconds()/wall.Seconds(), "cpu-%")
			for _, h := range handles {
				h.Close("bench over")
			}
			for range handles {
				receive(b, ended)
			}
			for i := range sessions {
				sources[i].Close()
				players[i].Close()
			}
			readers.Wait()
		})
	}
}

// BenchmarkRelayTCP measures relay throughput TCP→TCP over loopback (splice on Linux),
// with the process's CPU time per GB.
// Check that splice happens with:
//
//	go test -c -o /tmp/upstream.test ./upstream &&
//	strace -f -c -e trace=splice,read,write /tmp/upstream.test -test.run='^$' -test.bench=RelayTCP
func BenchmarkRelayTCP(b *testing.B) {
	for _, mode := range benchModes {
		b.Run(mode.name, func(b *testing.B) {
			const chunk = 1 << 20
			rig := startTCPRelay(b, mode.cfg, nil)
			data := make([]byte, chunk)
			drained := make(chan int64, 1)
			go func() { n, _ := io.Copy(io.Discard, rig.serverApp); drained <- n }()
			b.SetBytes(chunk)
			b.ReportAllocs()
			b.ResetTimer()
			cpu0 := cpuTime()
			for b.Loop() {
				if _, err := rig.clientApp.Write(data); err != nil {
					b.Fatal(err)
				}
			}
			rig.clientApp.(closeWriter).CloseWrite()
			n := receive(b, drained)
			cpu := cpuTime() - cpu0
			b.StopTimer()
			b.ReportMetric(cpu.Seconds()/(float64(n)/1e9), "cpu-s/GB")
			rig.serverApp.Close()
			stats := receive(b, rig.done)
			if stats.ClientToServer != n {
				b.Fatalf("relay counted %d, server received %d", stats.ClientToServer, n)
			}
		})
	}
}
