package routing

import (
	"net/netip"
	"slices"
	"strings"
)

// Publisher is a session publishing a live stream, as its Acquire described it.
type Publisher struct {
	Owner  any        // the Request.Owner of that session: opaque here, the caller's handle on it
	Client netip.Addr // its client address (normalised like the stick key)
	Server *Server    // where its publish was routed
}

// StreamInfo is one live stream as the registry sees it (a copy; for the API and logs).
type StreamInfo struct {
	Key     string
	Origin  *Server   // where the newest publish of the stream was routed
	Servers []*Server // where players are sent: Origin, its replicates_to and Replicas, config order
	// Replicas are the servers the newest publish of the stream is live on
	// besides Origin because the edge replicates it there (Lease.SetReplicaLive), config order.
	Replicas   []*Server
	Publishers []Publisher // oldest first; more than one only while a duplicate publish is being refused or taken over
}

// streamEntry: a stream is live while at least one publish lease holds it. Keeping
// every publisher rather than "the" publisher makes a refused duplicate publish
// harmless: when it ends, the stream stays live for the first one.
type streamEntry struct {
	pubs []*Lease // oldest first
}

func (e *streamEntry) origin() *Server { return e.pubs[len(e.pubs)-1].Server }

// liveSet is the candidate set for players of streams published on one origin: the
// origin and its replicas. It has balancer state of its own, one per origin and not
// per stream: players of a stream live on a subset then never move the global
// rotation (players of unknown or not-live streams keep their exact weighted shares),
// and the many streams of one origin share a single rotation, so a thousand streams
// with a few players each still spread by weight instead of each stream's first
// player landing on the same server. The price: the global rotation does not count
// live players; leastconn, which reads the servers' live session counts, does.
//
// Replicas the edge itself publishes to (Lease.SetReplicaLive) join the set while
// they have the stream: a set is kept per origin and set of live replicas, so the
// streams of one origin that are live on the same replicas share one rotation too.
type liveSet struct {
	candidateSet
	origin *Server
	why    map[*Server][2]string // per server: balancer reason, stick reason
}

// liveKey names a liveSet: the origin and the sorted names of the live replicas
// beyond its replicates_to, joined by NUL.
type liveKey struct {
	origin   *Server
	replicas string
}

// maxLiveSets bounds the cache of live sets: the combinations of live replicas seen
// since the last rebuild could otherwise grow with replicas that come and go.
const maxLiveSets = 1024

func (p *Pool) liveSetLocked(origin *Server, replicas []string) *liveSet {
	key := liveKey{origin: origin, replicas: strings.Join(replicas, "\x00")}
	if ls := p.liveSets[key]; ls != nil {
		return ls
	}
	v := p.view.Load()
	in := map[*Server]bool{origin: true}
	for _, name := range origin.cfg.ReplicatesTo {
		if s := v.byName[name]; s != nil {
			in[s] = true
		}
	}
	for _, name := range replicas {
		if s := v.byName[name]; s != nil {
			in[s] = true
		}
	}
	members := slices.Clone(v.servers)
	if !slices.Contains(members, origin) { // a removed origin: listed, never eligible
		members = append(members, origin)
	}
	ls := &liveSet{
		candidateSet: newCandidateSet(p.balance, members, func(s *Server) bool { return in[s] }, ""),
		origin:       origin,
		why:          make(map[*Server][2]string, len(in)),
	}
	for s := range in {
		why := "live on " + origin.Name
		if s != origin {
			why = "replica of " + origin.Name
		}
		ls.why[s] = [2]string{why, "stick (" + why + ")"}
	}
	if p.liveSets == nil || len(p.liveSets) >= maxLiveSets {
		p.liveSets = map[liveKey]*liveSet{}
	}
	p.liveSets[key] = ls
	return ls
}

// liveSetOfLocked is the candidate set of a live stream's players.
func (p *Pool) liveSetOfLocked(e *streamEntry) *liveSet {
	l := e.pubs[len(e.pubs)-1]
	return p.liveSetLocked(l.Server, l.replicas)
}

// SetReplicaLive marks the stream this publish lease holds live (or no longer live)
// on the named server besides its own: the edge replicates the publish there, and
// the server accepted it. Players of the stream are then spread over the origin,
// its replicates_to and its live replicas by weight, with affinity among them. Only
// the stream's newest publish counts (the one players follow). Nothing happens for a
// lease that holds no stream or was released, or for the lease's own server; a name
// the pool does not have (any more) is kept but never picked.
func (l *Lease) SetReplicaLive(server string, live bool) {
	if l == nil || l.pool == nil {
		return
	}
	p := l.pool
	p.mu.Lock()
	defer p.mu.Unlock()
	if l.stream == "" || l.state == leaseReleased || server == l.Server.Name {
		return
	}
	i, found := slices.BinarySearch(l.replicas, server)
	switch {
	case live && !found:
		l.replicas = slices.Insert(l.replicas, i, server)
	case !live && found:
		l.replicas = slices.Delete(l.replicas, i, i+1)
	}
}

// pickLiveLocked places a player of a live stream among the servers that have it:
// affinity first, then the origin's rotation. errFull when some of them could take it
// once a slot frees (waiting is better than a server without the stream); nil, nil
// when none of them can take it at all, so the caller balances over every server.
func (p *Pool) pickLiveLocked(e *streamEntry, f filter, client netip.Addr) (*Lease, error) {
	ls := p.liveSetOfLocked(e)
	if st := f.stuck; st != nil && ls.member(st) && f.usable(st) && st.tryTake() {
		return p.newLease(st, ls.why[st][1], client), nil
	}
	if s := ls.bal.pick(f); s != nil && s.tryTake() {
		return p.newLease(s, ls.why[s][0], client), nil
	}
	for _, s := range ls.servers {
		if f.eligible(s) {
			return nil, errFull
		}
	}
	return nil, nil
}

// pickPublisherOfLiveLocked sends a new publisher of a live stream to the server that
// has it, so the media server's own rule for a second publisher applies (refuse, or
// replace it when the caller takes the old one over) instead of the stream splitting
// over two origins. Drain and weight 0 do not stop it (it is as good as stuck there);
// when that server cannot take it (down, maint, removed, excluded, full) nil: the
// publisher is placed like a new stream, and becomes the origin players follow.
func (p *Pool) pickPublisherOfLiveLocked(e *streamEntry, f filter, client netip.Addr) *Lease {
	o := e.origin()
	if f.excluded(o) || !o.admitsStuck() || !o.tryTake() {
		return nil
	}
	return p.newLease(o, "live on "+o.Name, client)
}

// publishLocked makes l's stream live on l.Server from now until l is released, and
// tells l which earlier publisher it may take over.
func (p *Pool) publishLocked(l *Lease, stream string, owner any) {
	l.stream, l.owner = stream, owner
	e := p.streams[stream]
	if e == nil {
		e = &streamEntry{}
		p.streams[stream] = e
	} else if p.takeover && l.client.IsValid() {
		for _, old := range slices.Backward(e.pubs) {
			if old.client == l.client {
				l.Takeover = &Publisher{Owner: old.owner, Client: old.client, Server: old.Server}
				break
			}
		}
	}
	e.pubs = append(e.pubs, l)
}

// unpublishLocked ends l's hold on its stream (Release).
func (p *Pool) unpublishLocked(l *Lease) {
	e := p.streams[l.stream]
	if e == nil {
		return
	}
	if i := slices.Index(e.pubs, l); i >= 0 {
		e.pubs = slices.Delete(e.pubs, i, i+1)
	}
	if len(e.pubs) == 0 {
		delete(p.streams, l.stream)
	}
}

// Stream returns the live stream with that key (see StreamKey), if any.
func (p *Pool) Stream(key string) (StreamInfo, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	e := p.streams[key]
	if e == nil {
		return StreamInfo{}, false
	}
	return p.streamInfoLocked(key, e), true
}

// Streams returns every live stream, sorted by key.
func (p *Pool) Streams() []StreamInfo {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]StreamInfo, 0, len(p.streams))
	for k, e := range p.streams {
		out = append(out, p.streamInfoLocked(k, e))
	}
	slices.SortFunc(out, func(a, b StreamInfo) int { return strings.Compare(a.Key, b.Key) })
	return out
}

func (p *Pool) streamInfoLocked(key string, e *streamEntry) StreamInfo {
	ls := p.liveSetOfLocked(e)
	info := StreamInfo{Key: key, Origin: ls.origin, Servers: slices.Clone(ls.servers)}
	newest := e.pubs[len(e.pubs)-1]
	for _, s := range ls.servers {
		if _, found := slices.BinarySearch(newest.replicas, s.Name); found && s != ls.origin {
			info.Replicas = append(info.Replicas, s)
		}
	}
	for _, l := range e.pubs {
		info.Publishers = append(info.Publishers, Publisher{Owner: l.owner, Client: l.client, Server: l.Server})
	}
	return info
}
