package edge

import (
	"crypto/rand"
	"encoding/hex"
	"sort"
	"sync"
	"time"
)

// sessionTable is the registry of live sessions, and the byte totals of the
// ones that ended. A session's counters move from the live sum to the totals
// under the same lock that removes it, so a reader that adds totals and live
// counters sees a sum that never goes back.
type sessionTable struct {
	mu       sync.Mutex
	live     map[string]*session
	ended    byteTotals
	byServer map[serverKey]*byteTotals // ended sessions' bytes per server
}

type serverKey struct{ backend, server string }

type byteTotals struct{ in, out int64 }

func (t *sessionTable) init() {
	t.live = map[string]*session{}
	t.byServer = map[serverKey]*byteTotals{}
}

// add registers s under a fresh id.
func (t *sessionTable) add(s *session) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for {
		id := newSessionID()
		if _, taken := t.live[id]; !taken {
			s.id = id
			t.live[id] = s
			return
		}
	}
}

// adopt registers a session handed over by another process under its id
// (a fresh one if this process has it already).
func (t *sessionTable) adopt(s *session, id string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, taken := t.live[id]; taken || id == "" {
		id = newSessionID()
	}
	s.id = id
	t.live[id] = s
}

// newSessionID is 8 hex digits of randomness: short enough to type into an
// API call, and not guessable from a neighbour's id.
func newSessionID() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// remove unregisters s and moves its bytes into the totals.
func (t *sessionTable) remove(s *session) {
	in, out := s.counters.ClientToServer.Load(), s.counters.ServerToClient.Load()
	s.mu.Lock()
	key, hasServer := serverKey{}, s.server != nil
	if hasServer {
		key = serverKey{s.backend.cfg.Name, s.server.Name}
	}
	s.mu.Unlock()
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.live, s.id)
	t.ended.in += in
	t.ended.out += out
	if hasServer {
		bt := t.byServer[key]
		if bt == nil {
			bt = &byteTotals{}
			t.byServer[key] = bt
		}
		bt.in += in
		bt.out += out
	}
}

func (t *sessionTable) get(id string) *session {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.live[id]
}

func (t *sessionTable) count() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.live)
}

// snapshot returns the live sessions, oldest first.
func (t *sessionTable) snapshot() []*session {
	t.mu.Lock()
	out := make([]*session, 0, len(t.live))
	for _, s := range t.live {
		out = append(out, s)
	}
	t.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].start.Before(out[j].start) })
	return out
}

// traffic is every byte relayed so far, ended sessions and live ones, in total
// and per server.
func (t *sessionTable) traffic() (total byteTotals, byServer map[serverKey]byteTotals) {
	t.mu.Lock()
	defer t.mu.Unlock()
	total = t.ended
	byServer = make(map[serverKey]byteTotals, len(t.byServer))
	for k, v := range t.byServer {
		byServer[k] = *v
	}
	for _, s := range t.live {
		in, out := s.counters.ClientToServer.Load(), s.counters.ServerToClient.Load()
		total.in += in
		total.out += out
		if in == 0 && out == 0 {
			continue
		}
		s.mu.Lock()
		if s.server != nil {
			k := serverKey{s.backend.cfg.Name, s.server.Name}
			v := byServer[k]
			v.in += in
			v.out += out
			byServer[k] = v
		}
		s.mu.Unlock()
	}
	return total, byServer
}

// waitEmpty waits up to d for every session to end; false if some are left.
func (t *sessionTable) waitEmpty(d time.Duration) bool {
	deadline := time.Now().Add(d)
	for {
		if t.count() == 0 {
			return true
		}
		if !time.Now().Before(deadline) {
			return false
		}
		time.Sleep(min(10*time.Millisecond, time.Until(deadline)))
	}
}

// cutAll cuts every live session with reason and returns how many.
func (t *sessionTable) cutAll(reason string) int {
	all := t.snapshot()
	for _, s := range all {
		s.cut(reason)
	}
	return len(all)
}
