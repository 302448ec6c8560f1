package rtmpt

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"sync"
)

// idBytes is the session id entropy: 128 bits from crypto/rand, hex encoded
// (32 alphanumeric characters), so ids cannot be guessed by another client.
const idBytes = 16

// table holds the live sessions by id, and the per-IP counts behind the
// session limits.
type table struct {
	mu       sync.Mutex
	byID     map[string]*session
	perIP    map[string]int
	max      int
	maxPerIP int
}

func newTable(max, maxPerIP int) *table {
	return &table{byID: make(map[string]*session), perIP: make(map[string]int), max: max, maxPerIP: maxPerIP}
}

// add registers s under a fresh id if the limits allow, and sets s.release,
// the func that gives the slots back (called exactly once, when the session
// ends). It returns the Reject* reason when a limit is reached. s must be
// complete except for id and release: the reaper may see it at once.
func (t *table) add(s *session) (reason string, err error) {
	var raw [idBytes]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", fmt.Errorf("generate session id: %w", err)
	}
	s.id = hex.EncodeToString(raw[:])
	ip := s.ip
	var once sync.Once
	s.release = func() {
		once.Do(func() {
			t.mu.Lock()
			defer t.mu.Unlock()
			if t.perIP[ip]--; t.perIP[ip] <= 0 {
				delete(t.perIP, ip)
			}
		})
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.byID) >= t.max {
		return RejectSessionLimit, nil
	}
	if t.perIP[ip] >= t.maxPerIP {
		return RejectPerIPLimit, nil
	}
	t.byID[s.id] = s
	t.perIP[ip]++
	return "", nil
}

// remove drops s from the id index (its slots go back through release).
func (t *table) remove(s *session) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.byID[s.id] == s {
		delete(t.byID, s.id)
	}
}

// get returns the session with this id, or nil.
func (t *table) get(id string) *session {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.byID[id]
}

// all returns a snapshot of the live sessions.
func (t *table) all() []*session {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]*session, 0, len(t.byID))
	for _, s := range t.byID {
		out = append(out, s)
	}
	return out
}

// count reports the live sessions (those not yet released).
func (t *table) count() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.byID)
}

// ipCount reports the live sessions of one client IP (for tests).
func (t *table) ipCount(ip string) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.perIP[ip]
}
