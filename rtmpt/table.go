package rtmpt

import (
	"container/list"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"sync"
	"time"
)

// idBytes is the session id entropy: 128 bits from crypto/rand, hex encoded
// (32 alphanumeric characters), so ids cannot be guessed by another client.
const idBytes = 16

// table holds the live sessions by id, the per-IP counts behind the session
// limits, and, in open order, the sessions still pending: opened but not yet
// carrying a byte.
//
// Slots belong to live sessions only. A pending session is the cheapest
// thing for an attacker to make (one /open, connection closed at once), so
// when a limit is reached a new /open takes the slot of the oldest pending
// session (of the same IP for the per-IP limit) instead of being refused:
// a flood of opens then displaces itself, and a real client, which sends
// its first bytes one round trip after /open, is displaced only if
// MaxSessions opens arrive within that round trip. Pending sessions nobody
// displaces end after OpenTimeout (table.abandoned).
type table struct {
	mu       sync.Mutex
	byID     map[string]*session
	perIP    map[string]int
	pending  list.List // of *session, oldest first
	max      int
	maxPerIP int
}

func newTable(max, maxPerIP int) *table {
	return &table{byID: make(map[string]*session), perIP: make(map[string]int), max: max, maxPerIP: maxPerIP}
}

// add registers s under a fresh id if the limits allow, and sets s.release,
// the func that gives the slots back (called exactly once, when the session
// ends). At a limit it returns the pending session to displace (the caller
// ends it and tries again), or, when there is none, the Reject* reason.
// s must be complete except for id and release: the reaper may see it at
// once.
func (t *table) add(s *session) (victim *session, reason string, err error) {
	var raw [idBytes]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return nil, "", fmt.Errorf("generate session id: %w", err)
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
	if t.perIP[ip] >= t.maxPerIP {
		for e := t.pending.Front(); e != nil; e = e.Next() {
			if v := e.Value.(*session); v.ip == ip {
				return v, "", nil
			}
		}
		return nil, RejectPerIPLimit, nil
	}
	if len(t.byID) >= t.max {
		if e := t.pending.Front(); e != nil {
			return e.Value.(*session), "", nil
		}
		return nil, RejectSessionLimit, nil
	}
	t.byID[s.id] = s
	t.perIP[ip]++
	s.pendingElem = t.pending.PushBack(s)
	return nil, "", nil
}

// confirm marks s as carrying data: it is no longer displaceable.
func (t *table) confirm(s *session) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if s.pendingElem != nil {
		t.pending.Remove(s.pendingElem)
		s.pendingElem = nil
	}
}

// abandoned returns the pending sessions opened before cutoff.
func (t *table) abandoned(cutoff time.Time) []*session {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []*session
	for e := t.pending.Front(); e != nil; e = e.Next() {
		s := e.Value.(*session)
		if !s.opened.Before(cutoff) {
			break // open order: the rest are younger
		}
		out = append(out, s)
	}
	return out
}

// remove drops s from the id index and the pending list (its slots go back
// through release).
func (t *table) remove(s *session) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.byID[s.id] == s {
		delete(t.byID, s.id)
	}
	if s.pendingElem != nil {
		t.pending.Remove(s.pendingElem)
		s.pendingElem = nil
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

// counts reports the live sessions and, of those, the pending ones.
func (t *table) counts() (live, pending int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.byID), t.pending.Len()
}

// ipCount reports the live sessions of one client IP (for tests).
func (t *table) ipCount(ip string) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.perIP[ip]
}
