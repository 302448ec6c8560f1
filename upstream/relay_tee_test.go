package upstream

import (
	"bytes"
	"math/rand/v2"
	"sync"
	"testing"
	"time"
)

// teeRecorder keeps a copy of what a ClientTee was shown (p is valid only
// during the call).
type teeRecorder struct {
	mu    sync.Mutex
	got   []byte
	calls int
}

func (r *teeRecorder) tee(p []byte) {
	r.mu.Lock()
	r.got = append(r.got, p...)
	r.calls++
	r.mu.Unlock()
}

func (r *teeRecorder) bytes() []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return bytes.Clone(r.got)
}

// The tee sees exactly the bytes the server got, in order: bursts far larger
// than one read (which the untee'd relay splices) mixed with small writes and
// pauses, in both relay paths.
func TestRelayClientTeeSeesWhatTheServerGot(t *testing.T) {
	forEachMode(t, func(t *testing.T, cfg RelayConfig) {
		seed := uint64(time.Now().UnixNano())
		t.Logf("seed %d", seed)
		rng := rand.New(rand.NewPCG(seed, 1))
		up := randomStream(rng, 3<<20)
		down := randomStream(rng, 256<<10)
		rec := &teeRecorder{}
		cfg.ClientTee = rec.tee
		rig := startTCPRelay(t, cfg, nil)
		var wg sync.WaitGroup
		var gotUp, gotDown []byte
		var errUp, errDown error
		wg.Add(4)
		go func() { defer wg.Done(); sendBurstsAndTrickles(rig.clientApp, up, seed) }()
		go func() { defer wg.Done(); sendChunks(rig.serverApp, down, seed+1, true) }()
		go func() { defer wg.Done(); gotUp, errUp = readAllWithin(rig.serverApp) }()
		go func() { defer wg.Done(); gotDown, errDown = readAllWithin(rig.clientApp) }()
		wg.Wait()
		st := receive(t, rig.done)
		if errUp != nil || errDown != nil {
			t.Fatalf("read errors %v / %v (end %q)", errUp, errDown, st.End)
		}
		if !bytes.Equal(gotUp, up) || !bytes.Equal(gotDown, down) {
			t.Fatalf("relay lost bytes: server got %d of %d, client %d of %d", len(gotUp), len(up), len(gotDown), len(down))
		}
		teed := rec.bytes()
		if !bytes.Equal(teed, gotUp) {
			t.Fatalf("tee saw %d bytes, the server got %d (first difference at %d)", len(teed), len(gotUp), firstDiff(teed, gotUp))
		}
		t.Logf("tee calls: %d for %d bytes", rec.calls, len(teed))
	})
}

// With inspect, the tee starts where inspect ended: it sees the bytes after
// the chunk on which inspect returned true, and all of them.
func TestRelayClientTeeStartsAfterInspect(t *testing.T) {
	forEachMode(t, func(t *testing.T, cfg RelayConfig) {
		rec := &teeRecorder{}
		cfg.ClientTee = rec.tee
		first := []byte("connect-and-publish")
		inspected := make(chan struct{})
		rig := startTCPRelay(t, cfg, func(p []byte) bool { close(inspected); return true })
		if _, err := rig.clientApp.Write(first); err != nil {
			t.Fatal(err)
		}
		// The first chunk must reach inspect on its own.
		select {
		case <-inspected:
		case <-time.After(waitGuard):
			t.Fatal("inspect not called")
		}
		rest := randomStream(rand.New(rand.NewPCG(2, 3)), 1<<20)
		errc := make(chan error, 1)
		go sendAndHalfClose(rig.clientApp, rest, errc)
		got, err := readAllWithin(rig.serverApp)
		if err != nil {
			t.Fatal(err)
		}
		if e := receive(t, errc); e != nil {
			t.Fatal(e)
		}
		rig.clientApp.Close()
		receive(t, rig.done)
		if want := append(bytes.Clone(first), rest...); !bytes.Equal(got, want) {
			t.Fatalf("server got %d bytes, want %d", len(got), len(want))
		}
		if teed := rec.bytes(); !bytes.Equal(teed, rest) {
			t.Fatalf("tee saw %d bytes, want the %d after inspect (first difference at %d)", len(teed), len(rest), firstDiff(teed, rest))
		}
	})
}

// sendBurstsAndTrickles writes data as runs of 200 KiB…1 MiB (bursts the
// relay would splice) and of 1…400 bytes, then half-closes.
func sendBurstsAndTrickles(c interface{ Write([]byte) (int, error) }, data []byte, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 9))
	for burst := true; len(data) > 0; burst = !burst {
		n := 1 + rng.IntN(400)
		if burst {
			n = 200<<10 + rng.IntN(800<<10)
		}
		n = min(n, len(data))
		if _, err := c.Write(data[:n]); err != nil {
			return
		}
		data = data[n:]
		if !burst && rng.IntN(2) == 0 {
			time.Sleep(time.Millisecond)
		}
	}
	if cw, ok := c.(closeWriter); ok {
		_ = cw.CloseWrite()
	}
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}
