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
	server *Server // the server the client's most recently confirmed session reached
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
		return p.server
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
	t.idle.Add(client, p.server)
}

// len counts distinct clients: pinned ones plus idle ones (idle entries that expired
// but were not yet swept by the LRU's cleanup goroutine included). O(pinned), which
// is bounded by the live sessions; meant for metrics, not the session path.
func (t *stickTable) len() int {
	if t == nil {
		return 0
	}
	n := t.idle.Len()
	for client := range t.pinned {
		if !t.idle.Contains(client) {
			n++
		}
	}
	return n
}
