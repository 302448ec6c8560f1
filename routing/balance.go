package routing

// balancer picks one server of its own candidate set for a new session, or nil when
// none passes the filter. Implementations keep per-set state (one balancer per
// candidate set, so publish picks do not shift the play rotation); the Pool mutex
// serialises calls.
type balancer interface {
	pick(f filter) *Server
}

func newBalancer(algo string, servers []*Server) balancer {
	if algo == BalanceLeastConn {
		return newLeastConn(servers)
	}
	return newSmoothRR(servers)
}

// filter is what one request allows: never the excluded servers (already tried),
// never down, maint or removed ones; drain and weight 0 only for the client stuck to
// them; and only with a free slot. It is passed by value so the hot path does not allocate.
type filter struct {
	exclude []*Server
	stuck   *Server // the client's affinity server, or nil
}

func (f filter) excluded(s *Server) bool {
	for _, e := range f.exclude {
		if e == s {
			return true
		}
	}
	return false
}

// eligible: this request could use s if s had a free slot.
func (f filter) eligible(s *Server) bool {
	if f.excluded(s) {
		return false
	}
	if s == f.stuck {
		return s.admitsStuck()
	}
	return s.takesNew()
}

// usable: this request can use s right now.
func (f filter) usable(s *Server) bool { return f.eligible(s) && s.hasSlot() }

// pickable: the balancer may choose s for this request. Stricter than usable: the
// balancer never chooses a drain or weight-0 server, not even the stuck one (the
// affinity path already had its chance at it), so a weight of 0 cannot win a round.
func (f filter) pickable(s *Server) bool { return !f.excluded(s) && s.Usable() }
