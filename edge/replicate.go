package edge

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"sync"

	"github.com/rtmp-edge/rtmp-edge/edge/replicate"
	"github.com/rtmp-edge/rtmp-edge/routing"
)

// Replication (backend key replicate, issue 11): a publish of a backend with
// the key is also published, by the edge itself, to the backend's other
// servers it names, so that media servers which cannot push still serve
// every viewer of every live stream.
//
// The session starts a replicate.Publish once the publish is routed and the
// media server answered it (session_command.go), feeds it the recorded
// command-phase bytes and then every byte the relay writes to the server
// (RelayConfig.ClientTee), and adds a replica per target server that is
// usable. While a replica's server has the stream (OnLive), the registry
// lists the stream as live there, so players spread over origin + replicas.
// A target whose health check rises, or that a reload adds, joins every live
// replicated publish of its backend; one whose check falls is removed (it
// rejoins on the rise, not after a back-off of up to 30 s). The publisher's
// end closes the Publish; the session-end line lists each replica.
//
// Nothing here may cost the publisher: Feed never blocks, replicas run on
// their own goroutines and conns, and a replica that fails is only logged.

// replications are the live replicated publishes of one backend (its
// poolState: it outlives configurations), and their per-server counts.
type replications struct {
	mu       sync.Mutex
	pubs     map[*session]*replicate.Publish
	counters replicate.Counters
}

func (r *replications) add(s *session, p *replicate.Publish) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.pubs == nil {
		r.pubs = map[*session]*replicate.Publish{}
	}
	r.pubs[s] = p
}

func (r *replications) remove(s *session) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.pubs, s)
}

// each calls f for every live replicated publish (outside the lock: Add and
// Remove may take a while).
func (r *replications) each(f func(s *session, p *replicate.Publish)) {
	r.mu.Lock()
	type pair struct {
		s *session
		p *replicate.Publish
	}
	list := make([]pair, 0, len(r.pubs))
	for s, p := range r.pubs {
		list = append(list, pair{s, p})
	}
	r.mu.Unlock()
	for _, x := range list {
		f(x.s, x.p)
	}
}

// replicaUsable: a replica may be started on s now. Drain and weight 0 keep
// only the players stuck there, and slots are not counted: a replica is one
// session per stream, and it is what lets the server serve it at all.
func replicaUsable(s *routing.Server) bool {
	return s != nil && !s.Removed() && s.Healthy() && s.State() == routing.StateReady
}

// startReplication starts replicating the session's publish when its backend
// says so, feeding it the recorded bytes of the command phase (everything
// after the client's handshake up to and past its publish). The relay then
// feeds it through its ClientTee (relayConfig).
func (s *session) startReplication(recorded []byte) {
	ps := s.backend.ps
	cfg := ps.replicate.Load()
	s.mu.Lock()
	if cfg == nil || s.kind != routing.Publish || s.command == nil || s.command.Name != "publish" || s.lease == nil {
		s.mu.Unlock()
		return
	}
	lease, origin, app, tcURL, name, publishType := s.lease, s.server, s.connect.App, s.connect.TcURL, s.command.Stream, s.command.PublishType
	s.mu.Unlock()
	dialer := s.backend.dialer
	pool := ps.pool
	client, local := s.client, s.local
	pub := replicate.New(replicate.Options{
		Config: cfg.replicateConfig(),
		Dial: func(ctx context.Context, server string) (net.Conn, error) {
			srv := pool.Server(server)
			if srv == nil {
				return nil, fmt.Errorf("server %s is not in backend %s any more", server, ps.name)
			}
			// As the publisher's own session dials: its source address (the
			// publisher's, with source clientip), the backend's timeouts.
			return dialer.Dial(ctx, srv.Address(), client, local)
		},
		Logger: s.e.log.With("id", s.id, "backend", ps.name, "stream", s.stream, "origin", origin.Name),
		// The replicas connect and publish as the publisher did: its
		// publish type from the parsed publish, its whole connect (every
		// property and extra argument: the session keeps only the fields
		// it routes on) read by the Publish from the recorded bytes.
		App: app, TcURL: tcURL, Stream: name, PublishType: publishType,
		OnLive:   func(server string, live bool) { lease.SetReplicaLive(server, live) },
		Counters: &ps.repl.counters,
	})
	pub.Feed(recorded)
	s.mu.Lock()
	s.repl = pub
	s.mu.Unlock()
	ps.repl.add(s, pub)
	for _, target := range cfg.targets(serverNames(pool), origin.Name) {
		if replicaUsable(pool.Server(target)) {
			pub.Add(target)
		}
	}
}

// clientTee is the relay's ClientTee of a replicated publish (nil otherwise).
// Call with s.mu held.
func (s *session) clientTeeLocked() func([]byte) {
	if s.repl == nil {
		return nil
	}
	return s.repl.Feed
}

// stopReplication ends the session's replication (the publisher ended) and
// returns the replicas' final reports; nil when it had none.
func (s *session) stopReplication() []replicate.Report {
	s.mu.Lock()
	pub := s.repl
	s.mu.Unlock()
	if pub == nil {
		return nil
	}
	s.backend.ps.repl.remove(s)
	return pub.Close()
}

// replicasAttr is the session-end line's account of the replicas: per
// server, how its last session ended and what it carried.
func replicasAttr(reports []replicate.Report) slog.Attr {
	attrs := make([]any, 0, len(reports))
	for _, r := range reports {
		attrs = append(attrs, slog.Group(r.Server,
			"end", r.End, "bytes", r.Bytes, "drops", r.Drops, "rejoins", r.Rejoins))
	}
	return slog.Group("replicas", attrs...)
}

func serverNames(p *routing.Pool) []string {
	servers := p.Servers()
	out := make([]string, len(servers))
	for i, s := range servers {
		out[i] = s.Name
	}
	return out
}

// replicaServerUp adds a server whose health check rose, or that an
// operator made ready again, to every live replicated publish of the backend
// that targets it. (drain and maint only stop new replicas: like any running
// session, a replica already there goes on.)
func (ps *poolState) replicaServerUp(server string) {
	cfg := ps.replicate.Load()
	if cfg == nil || !replicaUsable(ps.pool.Server(server)) {
		return
	}
	ps.repl.each(func(s *session, p *replicate.Publish) {
		if origin := s.originName(); origin != server && len(cfg.targets([]string{server}, origin)) == 1 {
			p.Add(server)
		}
	})
}

// replicaServerDown removes a server whose health check fell from every
// replicated publish: it rejoins when the check rises again.
func (ps *poolState) replicaServerDown(server string) {
	ps.repl.each(func(_ *session, p *replicate.Publish) { p.Remove(server, "server down (health check)") })
}

// reconcileReplicas makes every live replicated publish of the backend match
// the backend's config after a reload: targets it gained (a server added, a
// replicate.to that grew) are added when usable, replicas no longer targeted
// (a server removed, replicate turned off) are removed.
func (ps *poolState) reconcileReplicas() {
	cfg := ps.replicate.Load()
	names := serverNames(ps.pool)
	ps.repl.each(func(s *session, p *replicate.Publish) {
		origin := s.originName()
		var want []string
		if cfg != nil {
			want = cfg.targets(names, origin)
		}
		wanted := map[string]bool{}
		for _, t := range want {
			wanted[t] = true
			if replicaUsable(ps.pool.Server(t)) {
				p.Add(t)
			}
		}
		for _, r := range p.Replicas() {
			if !wanted[r.Server] && r.State != replicate.StateEnded {
				p.Remove(r.Server, "no longer a target (reload)")
			}
		}
	})
}

// originName is the server the session's publish was routed to.
func (s *session) originName() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.serverName()
}
