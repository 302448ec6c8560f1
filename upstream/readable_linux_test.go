//go:build linux

package upstream

import (
	"bytes"
	"io"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

// openPipes counts the pipe descriptors this process holds.
func openPipes(t *testing.T) int {
	t.Helper()
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range entries {
		if target, err := os.Readlink("/proc/self/fd/" + e.Name()); err == nil && strings.HasPrefix(target, "pipe:") {
			n++
		}
	}
	return n
}

// Idle relays hold no splice pipes: before waitReadable each idle session
// pinned two pipes (four descriptors) next to its two sockets, and the edge ran
// out of descriptors at a third of HAProxy's session count.
func TestIdleRelaysHoldNoSplicePipes(t *testing.T) {
	const sessions = 40
	before := openPipes(t)
	rigs := make([]*relayRig, sessions)
	for i := range rigs {
		rigs[i] = startTCPRelay(t, RelayConfig{IdleTimeout: -1}, nil)
		// Move a few bytes each way first, so every direction has spliced once.
		msg := []byte("hello")
		rigs[i].clientApp.Write(msg)
		rigs[i].serverApp.Write(msg)
		got := make([]byte, len(msg))
		for _, c := range []io.Reader{rigs[i].serverApp, rigs[i].clientApp} {
			if _, err := io.ReadFull(c, got); err != nil || !bytes.Equal(got, msg) {
				t.Fatalf("relay %d did not carry bytes: %q %v", i, got, err)
			}
		}
	}
	time.Sleep(100 * time.Millisecond) // let every copier settle into its wait
	// Pipes Go's pool dropped are closed by finalizers after a GC (the race
	// detector makes the pool drop many).
	for range 3 {
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
	}
	held := openPipes(t) - before
	// Go keeps a few pipes pooled for reuse; a session that pinned its own
	// would add 2×2×sessions descriptors.
	if held >= sessions {
		t.Fatalf("%d idle relays hold %d pipe descriptors, want far fewer than %d", sessions, held, 4*sessions)
	}
	for _, r := range rigs {
		r.clientApp.Close()
		r.serverApp.Close()
		receive(t, r.done)
	}
}
