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
	var bestActive, bestWeight int64
	for k := range n {
		i := (lc.next + k) % n
		s := lc.servers[i]
		if !f.pickable(s) { // weight 0 never gets here: no division by zero below
			continue
		}
		a, w := s.active.Load(), int64(s.Weight())
		// a/w < bestActive/bestWeight without division.
		if best == nil || a*bestWeight < bestActive*w {
			best, bestIdx, bestActive, bestWeight = s, i, a, w
		}
	}
	if best != nil {
		lc.next = (bestIdx + 1) % n
	}
	return best
}
