package routing

import (
	"context"
	"fmt"
	"net/netip"
	"time"
)

// Request is what Acquire needs to know about a session.
type Request struct {
	Client  netip.Addr // affinity key; IPv4-mapped IPv6 counts as IPv4; invalid = no affinity
	Kind    Kind       // decides the candidates (uploads prefer upload servers)
	Exclude []*Server  // servers this session already failed on: never picked again; not modified
	// Stream is the StreamKey of the stream the session publishes or plays; "" when
	// it is not known (routing at connect time). With it, players of a live stream go
	// where it is live, and a publish makes it live for as long as its lease is held.
	Stream string
	// Owner is the caller's handle on the session (opaque here). For a publish it is
	// kept with the stream and handed back, in Lease.Takeover, to a later publisher
	// that may take the stream over.
	Owner any
}

// Acquire picks a server for the session and takes one of its connection slots.
//
// With a Stream that is live (a publish of it holds a lease): a player goes to the
// servers that have it, the origin and its replicates_to, with affinity among them,
// else by weight among them ("live on media03", "replica of media03"); when all of
// them are full it waits for one; when none of them can take it at all (down, maint,
// excluded) it is balanced like a player of a stream that is not live ("live
// servers unusable: ..."). A publisher of a live stream goes to the server that has
// it when that server can take it ("live on media03").
//
// Otherwise, candidates: for Publish the usable upload servers, or, when none is
// usable, the other servers ("upload-fallback"); for Play all servers ("not live:
// roundrobin" when the Stream is known); excluded servers never.
// A client whose affinity server is a usable candidate goes back to it (even when it
// is draining or has weight 0, not when it is in maint); otherwise the balancer picks
// among the ready servers with a weight above 0. When every eligible candidate is full,
// the call waits in a FIFO queue until a slot frees (then picks again, affinity
// included), for at most queue_timeout or until ctx ends: ErrQueueTimeout. When no
// candidate is eligible at all (all down, drain, maint, weight 0 or excluded): ErrNoServer at once.
//
// ctx only bounds the wait: a free slot is taken even if ctx is already done.
// On success the caller owns the lease: Confirm it once the server answered, Release
// it when the session ends.
func (p *Pool) Acquire(ctx context.Context, req Request) (*Lease, error) {
	client := stickKey(req.Client)
	p.mu.Lock()
	lease, err := p.pickLocked(&req, client)
	if err != errFull {
		p.mu.Unlock()
		if err != nil {
			return nil, fmt.Errorf("pool %q: %s: %w", p.name, req.Kind, err)
		}
		return lease, nil
	}
	w := &waiter{req: req, client: client, ready: make(chan struct{})}
	p.queue.pushBack(w)
	timeout := p.queueTimeout // read under the mutex: Update may change it
	p.mu.Unlock()
	return p.wait(ctx, w, timeout)
}

// wait blocks until w is served, queue_timeout passes or ctx ends. A waiter that was
// served in the same instant as its deadline keeps the lease: a nil error always
// comes with a lease the caller must release.
func (p *Pool) wait(ctx context.Context, w *waiter, timeout time.Duration) (*Lease, error) {
	start := time.Now()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	var cause error
	select {
	case <-w.ready:
	case <-timer.C:
		cause = fmt.Errorf("no slot within queue_timeout %s", timeout)
	case <-ctx.Done():
		cause = context.Cause(ctx)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if w.done {
		if w.err != nil {
			return nil, fmt.Errorf("pool %q: %s: %w", p.name, w.req.Kind, w.err)
		}
		w.lease.Waited = time.Since(start)
		return w.lease, nil
	}
	p.queue.remove(w)
	return nil, fmt.Errorf("pool %q: %s: %w: %w", p.name, w.req.Kind, ErrQueueTimeout, cause)
}

// pickLocked runs one pick: a lease with a slot taken, ErrNoServer, or errFull (wait).
// A publish with a stream key is registered as live here, at once, not at Confirm:
// two publishers of a new stream racing through their dials then still meet on one
// server, and a failed dial's Release takes the entry away again.
func (p *Pool) pickLocked(req *Request, client netip.Addr) (*Lease, error) {
	lease, err := p.pickServerLocked(req, client)
	if lease != nil && req.Kind == Publish && req.Stream != "" {
		p.publishLocked(lease, req.Stream, req.Owner)
	}
	return lease, err
}

func (p *Pool) pickServerLocked(req *Request, client netip.Addr) (*Lease, error) {
	stuck := p.stick.lookup(client)
	f := filter{exclude: req.Exclude, stuck: stuck}
	var live *streamEntry
	if req.Stream != "" {
		live = p.streams[req.Stream]
	}
	set, reasonPick := &p.all, p.all.reasonPick
	switch {
	case req.Kind == Publish:
		if live != nil {
			if l := p.pickPublisherOfLiveLocked(live, f, client); l != nil {
				return l, nil
			}
		}
		if len(p.uploads.servers) > 0 {
			set = &p.uploads
			if !set.anyUsable(f) {
				set = &p.others
			}
			reasonPick = set.reasonPick
		}
	case live != nil:
		if l, err := p.pickLiveLocked(live, f, client); l != nil || err != nil {
			return l, err
		}
		reasonPick = p.reasonLiveDown
	case req.Stream != "":
		reasonPick = p.reasonNotLive
	}
	if stuck != nil && set.member(stuck) && f.usable(stuck) && stuck.tryTake() {
		return p.newLease(stuck, set.reasonStick, client), nil
	}
	if s := set.bal.pick(f); s != nil && s.tryTake() {
		return p.newLease(s, reasonPick, client), nil
	}
	// Nothing free. Wait only if some server could take this session once a slot
	// frees; the whole pool counts, because a publish falls back to any server.
	for _, s := range p.view.Load().servers {
		if f.eligible(s) {
			return nil, errFull
		}
	}
	return nil, ErrNoServer
}

func (p *Pool) newLease(s *Server, reason string, client netip.Addr) *Lease {
	return &Lease{Server: s, Reason: reason, pool: p, client: client}
}

// serveWaitersLocked hands free slots to queued sessions in FIFO order. A waiter that
// still finds nothing stays queued (later ones, with other candidates, may fit). A
// waiter with nothing left to wait for gets ErrNoServer. After a release (all=false)
// the scan stops as soon as no server has a free slot; after a health or drain change
// (all=true) every waiter is re-checked, so those whose last server went down fail now
// rather than at their timeout.
//
// Because this runs under the mutex right where capacity appears, a new Acquire can
// never take a slot that a queued session could have used (HAProxy's FIFO fairness).
func (p *Pool) serveWaitersLocked(all bool) {
	for w := p.queue.head; w != nil; {
		next := w.next
		if !all && !p.anyFreeSlot() {
			return
		}
		lease, err := p.pickLocked(&w.req, w.client)
		if err != errFull {
			p.queue.remove(w)
			w.lease, w.err, w.done = lease, err, true
			close(w.ready)
		}
		w = next
	}
}

// anyFreeSlot reports whether any healthy server (draining ones included: stuck
// clients may still use them) has a free slot.
func (p *Pool) anyFreeSlot() bool {
	for _, s := range p.view.Load().servers {
		if s.Healthy() && s.hasSlot() {
			return true
		}
	}
	return false
}
