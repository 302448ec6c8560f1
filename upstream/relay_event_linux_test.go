//go:build linux

package upstream

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"runtime"
	"sync"
	"testing"
	"time"
)

// stableGoroutines waits (bounded) until the goroutine count stops changing.
func stableGoroutines() int {
	n := runtime.NumGoroutine()
	for range 50 {
		time.Sleep(20 * time.Millisecond)
		m := runtime.NumGoroutine()
		if m == n {
			break
		}
		n = m
	}
	return n
}

// settleGoroutines waits (bounded) until the goroutine count is at most want,
// and returns the last count seen.
func settleGoroutines(want int) int {
	n := runtime.NumGoroutine()
	for deadline := time.Now().Add(waitGuard); n > want && time.Now().Before(deadline); n = runtime.NumGoroutine() {
		time.Sleep(10 * time.Millisecond)
	}
	return n
}

// carry writes msg at one end and reads it back at the other.
func carry(t *testing.T, from, to net.Conn, msg []byte) {
	t.Helper()
	if _, err := from.Write(msg); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(msg))
	_ = to.SetReadDeadline(time.Now().Add(waitGuard))
	if _, err := io.ReadFull(to, got); err != nil || !bytes.Equal(got, msg) {
		t.Fatalf("carried %q (%v), want %q", got, err, msg)
	}
}

// On the event loop a relayed session holds no goroutine: neither without
// inspect nor once inspect is done (the copiers of the inspect phase hand the
// session over and return).
func TestEventRelayHoldsNoGoroutines(t *testing.T) {
	const sessions = 50
	for _, withInspect := range []bool{false, true} {
		t.Run(fmt.Sprintf("inspect=%v", withInspect), func(t *testing.T) {
			// Pollers start on first use; count after that.
			type session struct {
				clientApp, serverApp net.Conn
				h                    *Relaying
				done                 chan RelayStats
			}
			var list []session
			base := -1
			for i := range sessions + 1 {
				clientApp, clientEdge := tcpPair(t)
				serverEdge, serverApp := tcpPair(t)
				var inspect func([]byte) bool
				if withInspect {
					inspect = func([]byte) bool { return true } // done after the first chunk
				}
				done := make(chan RelayStats, 1)
				h := Start(clientEdge, serverEdge, RelayConfig{IdleTimeout: -1}, inspect, func(st RelayStats) { done <- st })
				carry(t, clientApp, serverApp, []byte("to the server"))
				carry(t, serverApp, clientApp, []byte("to the client"))
				if i == 0 {
					base = stableGoroutines()
					continue
				}
				list = append(list, session{clientApp, serverApp, h, done})
			}
			n := settleGoroutines(base)
			if n-base >= sessions/10 {
				t.Fatalf("%d relays hold %d goroutines, want none", sessions, n-base)
			}
			// And they still relay, both ways, and end with a reason.
			for _, s := range list {
				carry(t, s.clientApp, s.serverApp, []byte("later"))
				carry(t, s.serverApp, s.clientApp, []byte("later"))
				s.h.Close("test over")
				if st := receive(t, s.done); st.End != "test over" || st.ClientToServer != 18 || st.ServerToClient != 18 {
					t.Fatalf("stats %+v, want End \"test over\" and 18 bytes each way", st)
				}
			}
		})
	}
}

// A session handed to the event loop in the middle of a stream loses and
// reorders nothing, whatever the sizes, and whichever side half-closes first;
// mixed with sessions on goroutines. Every byte is checked.
func TestRelayStressRandomTraffic(t *testing.T) {
	const sessions = 200
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	var wg sync.WaitGroup
	errs := make(chan error, sessions)
	for i := range sessions {
		rng := rand.New(rand.NewPCG(seed, uint64(i)))
		clientApp, clientEdge := tcpPair(t)
		serverEdge, serverApp := tcpPair(t)
		cfg := RelayConfig{Goroutines: i%5 == 0, ClientCloseLinger: -1}
		var inspect func([]byte) bool
		if i%2 == 1 {
			// Hand over after a random amount: mid-stream, between two chunks.
			limit := rng.IntN(64 << 10)
			seen := 0
			inspect = func(b []byte) bool { seen += len(b); return seen >= limit }
		}
		up := randomStream(rng, rng.IntN(256<<10))
		down := randomStream(rng, rng.IntN(256<<10))
		pauseUp, pauseDown := rng.IntN(3) == 0, rng.IntN(3) == 0
		done := make(chan RelayStats, 1)
		Start(clientEdge, serverEdge, cfg, inspect, func(st RelayStats) { done <- st })
		wg.Add(1)
		go func() {
			defer wg.Done()
			var side sync.WaitGroup
			side.Add(4)
			var gotUp, gotDown []byte
			var errUp, errDown error
			go func() { defer side.Done(); sendChunks(clientApp, up, seed+uint64(i), pauseUp) }()
			go func() { defer side.Done(); sendChunks(serverApp, down, seed-uint64(i), pauseDown) }()
			go func() { defer side.Done(); gotUp, errUp = readAllWithin(serverApp) }()
			go func() { defer side.Done(); gotDown, errDown = readAllWithin(clientApp) }()
			side.Wait()
			st := <-done
			switch {
			case errUp != nil || errDown != nil:
				errs <- fmt.Errorf("session %d: read errors %v / %v (end %q)", i, errUp, errDown, st.End)
			case !bytes.Equal(gotUp, up):
				errs <- fmt.Errorf("session %d: server got %d bytes, differing from the %d sent (end %q)", i, len(gotUp), len(up), st.End)
			case !bytes.Equal(gotDown, down):
				errs <- fmt.Errorf("session %d: client got %d bytes, differing from the %d sent (end %q)", i, len(gotDown), len(down), st.End)
			case st.ClientToServer != int64(len(up)) || st.ServerToClient != int64(len(down)):
				errs <- fmt.Errorf("session %d: counted %d/%d, want %d/%d", i, st.ClientToServer, st.ServerToClient, len(up), len(down))
			case st.End != "client closed" && st.End != "server closed":
				errs <- fmt.Errorf("session %d: end %q", i, st.End)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func randomStream(rng *rand.Rand, n int) []byte {
	var seed [32]byte
	for i := range seed {
		seed[i] = byte(rng.Uint32())
	}
	b := make([]byte, n)
	_, _ = rand.NewChaCha8(seed).Read(b)
	return b
}

// sendChunks writes data in random-sized chunks (sometimes pausing, so that
// the relay sees both trickles and bursts), then half-closes.
func sendChunks(c net.Conn, data []byte, seed uint64, pause bool) {
	rng := rand.New(rand.NewPCG(seed, 7))
	for len(data) > 0 {
		n := min(len(data), 1+rng.IntN(64<<10))
		if rng.IntN(4) == 0 {
			n = min(len(data), 1+rng.IntN(400))
		}
		if _, err := c.Write(data[:n]); err != nil {
			return
		}
		data = data[n:]
		if pause && rng.IntN(8) == 0 {
			time.Sleep(time.Millisecond)
		}
	}
	_ = c.(closeWriter).CloseWrite()
}

func readAllWithin(c net.Conn) ([]byte, error) {
	_ = c.SetReadDeadline(time.Now().Add(3 * waitGuard))
	return io.ReadAll(c)
}
