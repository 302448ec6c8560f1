package routing

import (
	"fmt"
	"sync/atomic"
)

// State is the operator's admission state of a server, separate from health (up or
// down, set by the health checks): a server can be draining and down at once.
type State uint32

const (
	// StateReady takes new sessions from the balancer and from clients stuck to it.
	StateReady State = iota
	// StateDrain takes no new sessions except from clients stuck to it (HAProxy's
	// `set server ... state drain`): a server on its way out lets regulars finish.
	StateDrain
	// StateMaint takes nothing new at all; clients stuck to it are balanced elsewhere
	// (and stick there once that session is confirmed). Running sessions stay.
	StateMaint
)

// String returns "ready", "drain" or "maint" (the spelling of the API and the config).
func (st State) String() string {
	switch st {
	case StateReady:
		return "ready"
	case StateDrain:
		return "drain"
	case StateMaint:
		return "maint"
	default:
		return fmt.Sprintf("state(%d)", uint32(st))
	}
}

// ParseState is the inverse of String.
func ParseState(s string) (State, error) {
	switch s {
	case "ready":
		return StateReady, nil
	case "drain":
		return StateDrain, nil
	case "maint":
		return StateMaint, nil
	default:
		return 0, fmt.Errorf("must be %q, %q or %q, got %q", "ready", "drain", "maint", s)
	}
}

// Server is one media server of a Pool. Name never changes; everything else may be
// changed at run time (Pool.Update, SetState, SetWeight, SetHealthy), so it is read
// through methods backed by atomics: safe from any goroutine, and a session that
// already holds a lease is never affected by a change.
type Server struct {
	Name string

	address atomic.Pointer[string]
	weight  atomic.Int32 // 0..256; 0 = only clients stuck to it
	maxConn atomic.Int64 // 0 = unlimited
	upload  atomic.Bool  // takes the uploads
	state   atomic.Uint32
	// down rather than healthy, so that the zero value is healthy: servers start up,
	// like HAProxy's (no init-state), and the first failed check takes them out.
	down    atomic.Bool
	removed atomic.Bool  // no longer in the pool's config; its leases run out
	active  atomic.Int64 // slots held by live leases
	pool    *Pool        // told about changes so queued sessions re-pick

	// cfg is the last ServerConfig (defaults applied) that Update applied to this
	// server; an operator's SetState/SetWeight survives an Update whose entry for
	// this server is equal to it. Guarded by pool.mu.
	cfg ServerConfig
}

// String returns the server name (for logs).
func (s *Server) String() string { return s.Name }

// Address is the host:port sessions are dialled to.
func (s *Server) Address() string {
	if a := s.address.Load(); a != nil {
		return *a
	}
	return ""
}

// Weight is the current balancing weight, 0..256.
func (s *Server) Weight() int { return int(s.weight.Load()) }

// MaxConn is the current per-server session limit (0 = unlimited).
func (s *Server) MaxConn() int { return int(s.maxConn.Load()) }

// Upload reports whether the server takes the uploads (publish sessions).
func (s *Server) Upload() bool { return s.upload.Load() }

// Removed reports whether a reload took the server out of the pool. Its running
// sessions keep their leases and release them normally; it gets nothing new.
func (s *Server) Removed() bool { return s.removed.Load() }

// SetWeight changes the balancing weight at run time (HAProxy `set server ... weight`).
// 0 means no new sessions from the balancer, clients stuck to the server still get in.
// Running sessions are not touched. The change survives Pool.Update unless the new
// config changes this server's entry.
func (s *Server) SetWeight(w int) error {
	if w < 0 || w > MaxWeight {
		return fmt.Errorf("server %s: weight must be 0..%d, got %d", s.Name, MaxWeight, w)
	}
	s.change(func() bool { return s.weight.Swap(int32(w)) != int32(w) })
	return nil
}

// State is the operator's admission state (ready, drain, maint).
func (s *Server) State() State { return State(s.state.Load()) }

// SetState changes the admission state (see State). Running sessions are never touched.
// Unknown values are treated as maint, the safe side. The change survives Pool.Update
// unless the new config changes this server's entry.
func (s *Server) SetState(st State) {
	if st > StateMaint {
		st = StateMaint
	}
	s.change(func() bool { return State(s.state.Swap(uint32(st))) != st })
}

// change applies a weight or state change under the pool mutex, so a pick never sees
// it half-done, and lets queued sessions re-pick. The rotation is not restarted:
// smooth WRR converges to the new shares within one round of its own accord.
func (s *Server) change(apply func() bool) {
	if s.pool == nil {
		apply()
		return
	}
	p := s.pool
	p.mu.Lock()
	defer p.mu.Unlock()
	if apply() {
		p.serveWaitersLocked(true)
	}
}

// Draining reports whether the server is in drain (StateDrain).
func (s *Server) Draining() bool { return s.State() == StateDrain }

// SetDraining is SetState(StateDrain) or SetState(StateReady); kept for callers that
// only know drain.
func (s *Server) SetDraining(d bool) {
	if d {
		s.SetState(StateDrain)
	} else {
		s.SetState(StateReady)
	}
}

// Healthy reports whether the server is considered up.
func (s *Server) Healthy() bool { return !s.down.Load() }

// SetHealthy marks the server up or down and reports whether that changed anything,
// so health checkers log transitions only. Running sessions are never touched; queued
// sessions re-run their pick (and fail with ErrNoServer if nothing is left for them).
func (s *Server) SetHealthy(up bool) (changed bool) {
	changed = s.down.CompareAndSwap(up, !up)
	if changed && s.pool != nil {
		s.pool.stateChanged()
	}
	return changed
}

// Active is the number of sessions currently holding a slot on this server.
func (s *Server) Active() int { return int(s.active.Load()) }

// Usable reports whether the balancer may send a new session here right now:
// in the pool, healthy, ready, weight above 0 and below maxconn.
func (s *Server) Usable() bool { return s.takesNew() && s.hasSlot() }

// takesNew: the balancer may send new (not stuck) clients here, slots aside.
func (s *Server) takesNew() bool {
	return s.admitsStuck() && s.State() == StateReady && s.Weight() > 0
}

// admitsStuck: a client stuck to this server may come back, slots aside. drain and
// weight 0 still admit it; maint, down and removed do not.
func (s *Server) admitsStuck() bool {
	return !s.removed.Load() && s.Healthy() && s.State() != StateMaint
}

func (s *Server) hasSlot() bool {
	m := s.maxConn.Load()
	return m == 0 || s.active.Load() < m
}

// tryTake claims one connection slot, never going over MaxConn even when raced.
func (s *Server) tryTake() bool {
	for {
		n := s.active.Load()
		if m := s.maxConn.Load(); m != 0 && n >= m {
			return false
		}
		if s.active.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

// give returns a slot taken by tryTake. Only Lease.Release calls it, exactly once per lease.
func (s *Server) give() { s.active.Add(-1) }

// newServer builds a server from a validated config entry with defaults applied.
func newServer(sc ServerConfig, p *Pool) *Server {
	s := &Server{Name: sc.Name, pool: p}
	s.applyConfig(sc)
	return s
}

// applyConfig sets every configurable field from sc (defaults applied), the
// operator's state and weight included. Called under pool.mu (or before the pool is shared).
func (s *Server) applyConfig(sc ServerConfig) {
	addr := sc.Address
	s.address.Store(&addr)
	s.weight.Store(int32(sc.weight()))
	s.maxConn.Store(int64(sc.MaxConn))
	s.upload.Store(sc.Upload)
	s.state.Store(uint32(sc.startState()))
	s.cfg = sc
}
