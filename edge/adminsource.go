package edge

import (
	"fmt"
	"net/http"
	"net/netip"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/rtmp-edge/rtmp-edge/edge/admin"
	"github.com/rtmp-edge/rtmp-edge/routing"
)

// adminSource is the edge as the admin endpoint sees it.
type adminSource struct{ e *Edge }

var _ admin.Source = adminSource{}

func (a adminSource) Ready() bool { return a.e.Ready() }

func (a adminSource) Backends() []admin.BackendStatus {
	e := a.e
	rt := e.rt.Load()
	_, traffic := e.sessions.traffic()
	e.mu.Lock() // the checks of a pool change under it
	defer e.mu.Unlock()
	out := make([]admin.BackendStatus, 0, len(rt.cfg.Backends))
	for _, bc := range rt.cfg.Backends {
		b := rt.backends[bc.Name]
		bs := admin.BackendStatus{Name: bc.Name, Queue: b.pool.Waiting(), StickEntries: b.pool.StickLen(), Servers: []admin.ServerStatus{}}
		for _, s := range b.pool.Servers() {
			bs.Servers = append(bs.Servers, serverStatus(b, s, traffic[serverKey{bc.Name, s.Name}]))
		}
		out = append(out, bs)
	}
	return out
}

// serverStatus describes s. Call with e.mu held (it reads the pool's checks).
func serverStatus(b *backend, s *routing.Server, bt byteTotals) admin.ServerStatus {
	at, checkErr := b.ps.checks[s.Name].last()
	return admin.ServerStatus{
		Name: s.Name, Address: s.Address(), State: s.State().String(), Up: s.Healthy(),
		Weight: s.Weight(), Sessions: s.Active(), MaxConn: s.MaxConn(), Upload: s.Upload(),
		BytesIn: bt.in, BytesOut: bt.out, CheckedAt: at, CheckError: checkErr,
	}
}

func (a adminSource) UpdateServer(backendName, server string, u admin.ServerUpdate) (admin.ServerStatus, error) {
	e := a.e
	rt := e.rt.Load()
	b := rt.backends[backendName]
	if b == nil {
		return admin.ServerStatus{}, fmt.Errorf("backend %q: %w", backendName, admin.ErrNotFound)
	}
	s := b.pool.Server(server)
	if s == nil {
		return admin.ServerStatus{}, fmt.Errorf("server %q of backend %q: %w", server, backendName, admin.ErrNotFound)
	}
	var state routing.State
	if u.State != nil {
		var ok bool
		if state, ok = parseState(*u.State); !ok {
			return admin.ServerStatus{}, fmt.Errorf("state %q: want ready, drain or maint: %w", *u.State, admin.ErrInvalid)
		}
	}
	if u.Weight != nil {
		if err := s.SetWeight(*u.Weight); err != nil {
			return admin.ServerStatus{}, fmt.Errorf("weight: %v: %w", err, admin.ErrInvalid)
		}
	}
	if u.State != nil {
		s.SetState(state)
		if state == routing.StateReady {
			// Ready again: it joins the live replicated publishes (replicate.go).
			b.ps.replicaServerUp(server)
		}
	}
	_, traffic := e.sessions.traffic()
	e.mu.Lock()
	defer e.mu.Unlock()
	return serverStatus(b, s, traffic[serverKey{backendName, server}]), nil
}

func parseState(v string) (routing.State, bool) {
	for _, st := range []routing.State{routing.StateReady, routing.StateDrain, routing.StateMaint} {
		if st.String() == v {
			return st, true
		}
	}
	return 0, false
}

func (a adminSource) Sessions() []admin.SessionStatus {
	all := a.e.sessions.snapshot()
	out := make([]admin.SessionStatus, 0, len(all))
	for _, s := range all {
		out = append(out, s.status())
	}
	return out
}

// status describes the session for the API.
func (s *session) status() admin.SessionStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := admin.SessionStatus{
		ID: s.id, Client: s.client.String(), Listener: s.l.cfg.Name, Proto: s.proto,
		App: s.connect.App, TcURL: s.connect.TcURL, Server: s.serverName(), Backend: s.backend.cfg.Name,
		Pick: s.pickReason, Phase: s.phase, Started: s.start,
		BytesIn: s.counters.ClientToServer.Load(), BytesOut: s.counters.ServerToClient.Load(),
	}
	switch {
	case s.command != nil:
		st.Kind, st.Stream = commandKind(s.command), s.command.Stream
	case s.routed:
		st.Kind = s.kind.String()
	}
	if s.repl != nil {
		for _, r := range s.repl.Replicas() {
			st.Replicas = append(st.Replicas, admin.ReplicaStatus{
				Server: r.Server, State: r.State, Bytes: r.Bytes, Drops: r.Drops, Rejoins: r.Rejoins,
				LagMs: r.LagMillis, Queued: r.Queued, End: r.End,
			})
		}
	}
	return st
}

func (a adminSource) EndSession(id string) error {
	s := a.e.sessions.get(id)
	if s == nil {
		return fmt.Errorf("session %q: %w", id, admin.ErrNotFound)
	}
	a.e.log.Info("session ended by operator", "id", id, "client", s.client.String())
	s.cut(endOperator)
	return nil
}

func (a adminSource) ForgetStick(backendName string, client netip.Addr) error {
	b := a.e.rt.Load().backends[backendName]
	if b == nil {
		return fmt.Errorf("backend %q: %w", backendName, admin.ErrNotFound)
	}
	if !b.pool.ForgetStick(client) {
		return fmt.Errorf("no affinity entry for %s in backend %q: %w", client, backendName, admin.ErrNotFound)
	}
	return nil
}

// adminHandler is the admin endpoint's handler; swapped when the token
// changes on reload.
type adminHandler struct{ h atomic.Pointer[http.Handler] }

func (h *adminHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	(*h.h.Load()).ServeHTTP(w, r)
}

func (e *Edge) newAdminHandler(token string) http.Handler {
	return admin.NewHandler(adminSource{e}, admin.Options{
		Token:   token,
		Metrics: promhttp.HandlerFor(e.registry, promhttp.HandlerOpts{}),
		Logger:  e.log.With("component", "admin"),
	})
}
