package routing

import (
	"fmt"
	"testing"
	"time"
)

// TestStickEntryDoesNotExpireUnderALiveSession is the fix for HAProxy expiring an entry under a live stream: the
// entry outlives `expire` while the client's session runs, and ages only afterwards.
func TestStickEntryDoesNotExpireUnderALiveSession(t *testing.T) {
	const ttl = 100 * time.Millisecond // the LRU sweeps every ttl/100 for the rest of this test binary
	p := newTestPool(t, func(c *PoolConfig) { c.Stick = StickConfig{Size: 100, Expire: ttl} })
	stickTo(t, p, client1, "media02") // an idle entry first: pinning must take it over
	l := mustAcquire(t, p, Request{Client: client1, Kind: Play})
	if l.Server.Name != "media02" {
		t.Fatalf("first session on %s, want media02", l.Server)
	}
	l.Confirm()
	time.Sleep(3 * ttl) // well past expire: a HAProxy entry would be gone
	if got := stuckServer(p, client1); got == nil || got.Name != "media02" {
		t.Fatalf("entry for a client with a live session expired (lookup = %v)", got)
	}
	second := mustAcquire(t, p, Request{Client: client1, Kind: Play})
	if second.Server.Name != "media02" || second.Reason != "stick" {
		t.Errorf("second session on %s (%q), want media02 by stick", second.Server, second.Reason)
	}
	second.Release()
	l.Release()
	if got := stuckServer(p, client1); got == nil || got.Name != "media02" {
		t.Fatalf("entry gone right after the last session ended (lookup = %v)", got)
	}
	waitFor(t, "the idle entry to expire", func() bool { return stuckServer(p, client1) == nil })
	waitFor(t, "the expired entry to be swept", func() bool { return p.StickLen() == 0 })
}

func TestStickRefcountAcrossSessionsOfOneClient(t *testing.T) {
	p := newTestPool(t, withStick)
	a := mustAcquire(t, p, Request{Client: client1, Kind: Play})
	a.Confirm()
	b := mustAcquire(t, p, Request{Client: client1, Kind: Play})
	b.Confirm()
	a.Release()
	p.mu.Lock()
	refs := p.stick.pinned[client1].refs
	p.mu.Unlock()
	if refs != 1 || p.StickLen() != 1 {
		t.Errorf("after one of two sessions ended: refs %d, StickLen %d; want 1, 1", refs, p.StickLen())
	}
	b.Release()
	p.mu.Lock()
	pinned, idle := len(p.stick.pinned), p.stick.idle.Len()
	p.mu.Unlock()
	if pinned != 0 || idle != 1 || p.StickLen() != 1 {
		t.Errorf("after both ended: pinned %d idle %d StickLen %d; want 0, 1, 1", pinned, idle, p.StickLen())
	}
}

// TestStickLatestConfirmedServerWins: two sessions of one client on two servers (the
// first was full when the second came); the later Confirm decides where it sticks.
func TestStickLatestConfirmedServerWins(t *testing.T) {
	p := newTestPool(t, withStick)
	a := mustAcquire(t, p, Request{Client: client1, Kind: Play, Exclude: []*Server{p.Server("media02"), p.Server("media03")}})
	a.Confirm()
	b := mustAcquire(t, p, Request{Client: client1, Kind: Play, Exclude: []*Server{p.Server("media01")}})
	b.Confirm()
	b.Release()
	a.Release()
	if got := stuckServer(p, client1); got != b.Server {
		t.Errorf("stuck to %v, want %v (latest confirmed)", got, b.Server)
	}
}

func TestStickSizeBoundsIdleEntries(t *testing.T) {
	p := newTestPool(t, func(c *PoolConfig) { c.Stick = StickConfig{Size: 2} })
	if p.stick == nil {
		t.Fatal("affinity off with size 2")
	}
	for i := 1; i <= 3; i++ {
		stickTo(t, p, addr(fmt.Sprintf("127.0.0.%d", i)), "media01")
	}
	if p.StickLen() != 2 {
		t.Errorf("StickLen = %d, want 2 (size)", p.StickLen())
	}
	if stuckServer(p, addr("127.0.0.1")) != nil || stuckServer(p, addr("127.0.0.3")) == nil {
		t.Error("the least recently used entry should have been evicted")
	}
}

func TestStickLenWithAffinityOff(t *testing.T) {
	p := newTestPool(t, nil)
	stickTo(t, p, client1, "media01")
	if p.StickLen() != 0 || p.stick != nil {
		t.Errorf("StickLen = %d with size 0", p.StickLen())
	}
}
