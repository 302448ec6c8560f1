package routing

import "testing"

// TestStickEntriesMoveToAnotherPool: what one process's table holds (a live
// client and an idle one) sends the same clients to the same servers in the
// pool of the process that takes over.
func TestStickEntriesMoveToAnotherPool(t *testing.T) {
	oldPool := newTestPool(t, withStick)
	live := mustAcquire(t, oldPool, Request{Client: addr("127.0.9.1"), Kind: Play})
	live.Confirm()
	idle := mustAcquire(t, oldPool, Request{Client: addr("127.0.9.2"), Kind: Play})
	idle.Confirm()
	idle.Release()
	entries := oldPool.StickEntries()
	if len(entries) != 2 {
		t.Fatalf("entries %+v, want the live and the idle client", entries)
	}

	newPool := newTestPool(t, withStick)
	if n := newPool.RestoreStick(append(entries, StickEntry{Client: addr("127.0.9.3"), Server: "gone"})); n != 2 {
		t.Fatalf("restored %d entries, want 2 (the one naming an unknown server skipped)", n)
	}
	for _, want := range []*Lease{live, idle} {
		got := mustAcquire(t, newPool, Request{Client: want.client, Kind: Play})
		if got.Server.Name != want.Server.Name || got.Reason != "stick" {
			t.Errorf("client %s went to %s (%s) in the new pool, was on %s", want.client, got.Server.Name, got.Reason, want.Server.Name)
		}
		got.Release()
	}
	live.Release()
}

// TestAdoptCountsAndPins: an adopted session holds a slot on its server (even
// past maxconn: it exists) and pins its client there until released.
func TestAdoptCountsAndPins(t *testing.T) {
	p := newTestPool(t, func(c *PoolConfig) {
		withStick(c)
		c.Servers[1].MaxConn = 1
	})
	hold(t, p, "media02", 1)
	l, err := p.Adopt("media02", addr("127.0.9.9"))
	if err != nil {
		t.Fatal(err)
	}
	if got := p.Server("media02").Active(); got != 2 {
		t.Fatalf("media02 has %d sessions after the adoption, want 2", got)
	}
	if _, err := p.Adopt("nope", addr("127.0.9.9")); err == nil {
		t.Fatal("adopting onto an unknown server: no error")
	}
	l.Release()
	if got := p.Server("media02").Active(); got != 1 {
		t.Fatalf("media02 has %d sessions after the release, want 1", got)
	}
	// The client sticks to media02 (its entry aged out of the pin into idle).
	found := false
	for _, e := range p.StickEntries() {
		found = found || (e.Client == addr("127.0.9.9") && e.Server == "media02")
	}
	if !found {
		t.Fatalf("no stick entry for the adopted client: %+v", p.StickEntries())
	}
}
