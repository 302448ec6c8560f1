package routing

import (
	"net/netip"
	"time"

	"github.com/hashicorp/golang-lru/v2/expirable"
)

// stickTable is source-IP affinity. Unlike HAProxy's table, an entry cannot expire
// while its client still has a session running: clients with at least one confirmed
// live lease sit in pinned (refcounted, no expiry); when the last one ends the entry
// moves to idle, an expirable LRU whose single per-cache TTL then counts from the end
// of the client's last session. Lookups check pinned, then idle.
//
// Not safe on its own: the owning Pool's mutex guards pinned; idle locks itself.
type stickTable struct {
	pinned map[netip.Addr]pin
	idle   *expirable.LRU[netip.Addr, *Server]
}

type pin struct {
	server *Server // the server the client's most recently confirmed session reached; nil once forgotten
	refs   int     // confirmed, unreleased leases of this client
}

// newStickTable returns nil (affinity off) when size is 0. Note: expirable.LRU v2.0.7
// starts a cleanup goroutine that cannot be stopped; one per pool, for the process life.
func newStickTable(size int, ttl time.Duration) *stickTable {
	if size <= 0 {
		return nil
	}
	return &stickTable{
		pinned: make(map[netip.Addr]pin),
		idle:   expirable.NewLRU[netip.Addr, *Server](size, nil, ttl),
	}
}

// stickKey normalises a client address: IPv4-mapped IPv6 and IPv4 are the same client,
// and a zone does not make a different client.
func stickKey(a netip.Addr) netip.Addr { return a.Unmap().WithZone("") }

func (t *stickTable) lookup(client netip.Addr) *Server {
	if t == nil || !client.IsValid() {
		return nil
	}
	if p, ok := t.pinned[client]; ok {
		return p.server // nil after forget: the idle copy below is stale then
	}
	s, _ := t.idle.Get(client)
	return s
}

// pin records that client reached s and holds a session there.
func (t *stickTable) pin(client netip.Addr, s *Server) {
	if t == nil || !client.IsValid() {
		return
	}
	// An idle copy of the entry, if any, stays in the LRU: lookups never see it while
	// the pin exists, and unpin then updates it in place instead of allocating a new
	// LRU element (that keeps the per-session path at one allocation, the Lease).
	p := t.pinned[client]
	p.server = s
	p.refs++
	t.pinned[client] = p
}

// unpin drops one session of client; after the last one the entry starts to age.
func (t *stickTable) unpin(client netip.Addr) {
	if t == nil || !client.IsValid() {
		return
	}
	p, ok := t.pinned[client]
	if !ok {
		return
	}
	if p.refs--; p.refs > 0 {
		t.pinned[client] = p
		return
	}
	delete(t.pinned, client)
	if p.server == nil { // forgotten while live: nothing to remember
		t.idle.Remove(client)
		return
	}
	t.idle.Add(client, p.server)
}

// forget drops client's entry (see Pool.ForgetStick) and reports whether it had one.
func (t *stickTable) forget(client netip.Addr) bool {
	if t == nil || !client.IsValid() {
		return false
	}
	had := t.idle.Remove(client)
	if p, ok := t.pinned[client]; ok {
		had = had || p.server != nil
		// The refcount stays so that the running sessions' unpin still balances.
		p.server = nil
		t.pinned[client] = p
	}
	return had
}

// resized returns the table for a new size/expire: the same one when neither
// changed, nil for size 0, else a new table holding the pinned entries and as many
// idle ones as fit (most recent first; their age restarts, the LRU cannot be told
// an entry's original time).
func (t *stickTable) resized(size int, ttl time.Duration) *stickTable {
	nt := newStickTable(size, ttl)
	if nt == nil || t == nil {
		return nt
	}
	for c, p := range t.pinned {
		nt.pinned[c] = p
	}
	keys := t.idle.Keys() // oldest first, so the newest survive the new size
	for _, c := range keys {
		if s, ok := t.idle.Peek(c); ok {
			nt.idle.Add(c, s)
		}
	}
	return nt
}

// len counts distinct clients: pinned ones plus idle ones (idle entries that expired
// but were not yet swept by the LRU's cleanup goroutine included). O(pinned), which
// is bounded by the live sessions; meant for metrics, not the session path.
func (t *stickTable) len() int {
	if t == nil {
		return 0
	}
	n := t.idle.Len()
	for client, p := range t.pinned {
		if p.server != nil && !t.idle.Contains(client) {
			n++
		}
	}
	return n
}
