package routing

import "sync/atomic"

// Server is one media server of a Pool. The exported fields are the effective
// configuration (weight defaulted) and are read-only after NewPool. The state
// (health, drain, active sessions) is atomic: safe to read from anywhere, and health
// and drain may be flipped by health checks and operators at any time.
type Server struct {
	Name    string
	Address string
	Weight  int  // 1..256
	MaxConn int  // 0 = unlimited
	Upload  bool // takes the uploads

	// down rather than healthy, so that the zero value is healthy: servers start up,
	// like HAProxy's (no init-state), and the first failed check takes them out.
	down     atomic.Bool
	draining atomic.Bool
	active   atomic.Int64 // slots held by live leases
	pool     *Pool        // told about health/drain changes so queued sessions re-pick
}

// String returns the server name (for logs).
func (s *Server) String() string { return s.Name }

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

// Draining reports whether the server refuses new sessions (except stuck clients).
func (s *Server) Draining() bool { return s.draining.Load() }

// SetDraining puts the server in or out of drain (HAProxy `set server ... state drain`):
// no new sessions from the balancer, but clients stuck to it by affinity still get in.
func (s *Server) SetDraining(d bool) {
	if s.draining.Swap(d) != d && s.pool != nil {
		s.pool.stateChanged()
	}
}

// Active is the number of sessions currently holding a slot on this server.
func (s *Server) Active() int { return int(s.active.Load()) }

// Usable reports whether the balancer may send a new session here right now:
// healthy, not draining and below maxconn.
func (s *Server) Usable() bool { return s.Healthy() && !s.Draining() && s.hasSlot() }

func (s *Server) hasSlot() bool {
	return s.MaxConn == 0 || s.active.Load() < int64(s.MaxConn)
}

// tryTake claims one connection slot, never going over MaxConn even when raced.
func (s *Server) tryTake() bool {
	for {
		n := s.active.Load()
		if s.MaxConn != 0 && n >= int64(s.MaxConn) {
			return false
		}
		if s.active.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

// give returns a slot taken by tryTake. Only Lease.Release calls it, exactly once per lease.
func (s *Server) give() { s.active.Add(-1) }
