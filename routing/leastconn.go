package routing

// leastConn picks the usable server with the lowest Active()/Weight; among equals it
// rotates (the scan starts just after the previous pick), so ties spread round-robin.
type leastConn struct {
	servers []*Server
	next    int // where the next scan starts
}

func newLeastConn(servers []*Server) *leastConn { return &leastConn{servers: servers} }

func (lc *leastConn) pick(f filter) *Server {
	n := len(lc.servers)
	var best *Server
	bestIdx := 0
	var bestActive int64
	for k := range n {
		i := (lc.next + k) % n
		s := lc.servers[i]
		if !f.usable(s) {
			continue
		}
		a := s.active.Load()
		// a/s.Weight < bestActive/best.Weight without division.
		if best == nil || a*int64(best.Weight) < bestActive*int64(s.Weight) {
			best, bestIdx, bestActive = s, i, a
		}
	}
	if best != nil {
		lc.next = (bestIdx + 1) % n
	}
	return best
}
