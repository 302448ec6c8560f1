package routing

import (
	"context"
	"net/netip"
	"testing"
	"time"
)

// newTestPool builds a pool from the seed config after mutate; affinity is off unless
// mutate turns it on (the LRU's cleanup goroutine outlives the pool, so tests only
// pay for it where they need it).
func newTestPool(t testing.TB, mutate func(*PoolConfig)) *Pool {
	t.Helper()
	cfg := seedConfig()
	cfg.Stick = StickConfig{}
	if mutate != nil {
		mutate(&cfg)
	}
	p, err := NewPool(cfg)
	if err != nil {
		t.Fatalf("NewPool: %v", err)
	}
	return p
}

func withStick(c *PoolConfig) { c.Stick = StickConfig{Size: 1000, Expire: time.Hour} }

func addr(s string) netip.Addr { return netip.MustParseAddr(s) }

func mustAcquire(t testing.TB, p *Pool, req Request) *Lease {
	t.Helper()
	l, err := p.Acquire(context.Background(), req)
	if err != nil {
		t.Fatalf("Acquire(%+v): %v", req, err)
	}
	return l
}

// hold takes n slots on the named server (by excluding all others) and releases them at cleanup.
func hold(t testing.TB, p *Pool, name string, n int) []*Lease {
	t.Helper()
	var exclude []*Server
	for _, s := range p.Servers() {
		if s.Name != name {
			exclude = append(exclude, s)
		}
	}
	var leases []*Lease
	for range n {
		l := mustAcquire(t, p, Request{Kind: Play, Exclude: exclude})
		leases = append(leases, l)
	}
	t.Cleanup(func() {
		for _, l := range leases {
			l.Release()
		}
	})
	return leases
}

// stickTo makes client stick to the named server: a confirmed and released session there.
func stickTo(t testing.TB, p *Pool, client netip.Addr, name string) {
	t.Helper()
	var exclude []*Server
	for _, s := range p.Servers() {
		if s.Name != name {
			exclude = append(exclude, s)
		}
	}
	l := mustAcquire(t, p, Request{Client: client, Kind: Play, Exclude: exclude})
	l.Confirm()
	l.Release()
}

func stuckServer(p *Pool, client netip.Addr) *Server {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stick.lookup(stickKey(client))
}

// waitFor polls cond for up to 10 s: a guard against hangs, not a timing assertion.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// pickNames runs n Acquire+Release cycles and returns the chosen server names.
func pickNames(t testing.TB, p *Pool, kind Kind, n int) []string {
	t.Helper()
	names := make([]string, 0, n)
	for range n {
		l := mustAcquire(t, p, Request{Kind: kind})
		names = append(names, l.Server.Name)
		l.Release()
	}
	return names
}
