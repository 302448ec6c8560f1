package routing

// smoothRR is smooth weighted round robin (nginx's algorithm): every pick adds each
// usable server's weight to its running score, takes the highest score and subtracts
// the total from it. Weights 10/10/8 give exactly 20/20/16 over 56 picks, interleaved,
// the same shape as HAProxy's fwrr. Servers that are not usable sit the round out and
// keep their score, so the others' shares barely move.
type smoothRR struct {
	servers []*Server
	score   []int // parallel to servers
}

func newSmoothRR(servers []*Server) *smoothRR {
	return &smoothRR{servers: servers, score: make([]int, len(servers))}
}

func (rr *smoothRR) pick(f filter) *Server {
	total, best := 0, -1
	for i, s := range rr.servers {
		if !f.pickable(s) {
			continue
		}
		w := s.Weight() // once, so the score and the total agree
		rr.score[i] += w
		total += w
		if best < 0 || rr.score[i] > rr.score[best] {
			best = i
		}
	}
	if best < 0 {
		return nil
	}
	rr.score[best] -= total
	return rr.servers[best]
}
