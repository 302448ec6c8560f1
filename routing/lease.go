package routing

import (
	"net/netip"
	"time"
)

// Lease is one session's claim on a connection slot of Server. The holder must call
// Release exactly when the session ends (defer it right after Acquire succeeds); it
// is idempotent, so error paths may call it again.
type Lease struct {
	Server *Server       // where to dial
	Reason string        // why this server, for logs: "stick", "roundrobin", "upload-fallback: leastconn", ...
	Waited time.Duration // time spent queued for a slot; 0 when a slot was free at once
	// Takeover is set for a publish of a live stream when the pool has
	// publisher_takeover and the stream's current publisher came from the same client
	// address: the caller ends that session (its Owner says which) so that the media
	// server accepts the new publish. Otherwise nil.
	Takeover *Publisher
	pool     *Pool      // guards the fields below
	client   netip.Addr // stick key (normalised)
	state    leaseState // guarded by pool.mu
	stream   string     // the stream this publish holds live; "" for none
	owner    any        // Request.Owner of a publish
	replicas []string   // servers the publish is live on besides Server, sorted (SetReplicaLive)
}

type leaseState uint8

const (
	leaseHeld leaseState = iota
	leaseConfirmed
	leaseReleased
)

// Confirm records that Server was really reached (dial and backend handshake
// succeeded): the client now sticks to it, and the entry cannot expire while this
// lease lives. Calling it twice, or after Release, does nothing. A lease that is
// released without Confirm (a failed dial) leaves the stick table as it was.
func (l *Lease) Confirm() {
	if l == nil || l.pool == nil {
		return
	}
	p := l.pool
	p.mu.Lock()
	defer p.mu.Unlock()
	if l.state != leaseHeld {
		return
	}
	l.state = leaseConfirmed
	p.stick.pin(l.client, l.Server)
}

// Release frees the slot (handing it to the first queued session that can use it)
// and, if the lease was confirmed, unpins the client's stick entry so that it starts
// to age. Idempotent and nil-safe.
func (l *Lease) Release() {
	if l == nil || l.pool == nil {
		return
	}
	p := l.pool
	p.mu.Lock()
	defer p.mu.Unlock()
	if l.state == leaseReleased {
		return
	}
	if l.state == leaseConfirmed {
		p.stick.unpin(l.client)
	}
	if l.stream != "" {
		p.unpublishLocked(l)
	}
	l.state = leaseReleased
	l.Server.give()
	if p.queue.n > 0 {
		p.serveWaitersLocked(false)
	}
}
