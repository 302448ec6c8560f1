package rtmpt

import (
	"errors"
	"sync/atomic"
)

// errOverBudget is returned by accounted buffers when growing them would
// pass Config.MemoryBudget; the session that asked fails with endBudget.
var errOverBudget = errors.New("rtmpt: memory budget exceeded")

// budget counts the bytes all tunnel sessions of a Server hold on behalf of
// clients: held ahead-of-turn /send bodies, the backing arrays of both
// directions' queues, and the last reply kept for a resend. These are the
// buffers whose size a client chooses (by sending early bodies, or by not
// polling), so they share one limit: past it, the session asking for more
// fails instead of the process growing. A nil *budget accounts nothing (the
// client side of the package).
//
// Held bodies may take at most half of it (parked): they are what an
// attacker can pile up without keeping a connection open, and the other
// half then always remains for sessions that carry traffic in turn.
type budget struct {
	limit  int64
	used   atomic.Int64
	peak   atomic.Int64
	parked atomic.Int64 // the part of used that is held bodies
}

func newBudget(limit int) *budget { return &budget{limit: int64(limit)} }

// reserve takes n bytes from the budget; it reports false, taking nothing,
// when that would pass the limit.
func (b *budget) reserve(n int) bool {
	if b == nil || n <= 0 {
		return true
	}
	for {
		u := b.used.Load()
		if u+int64(n) > b.limit {
			return false
		}
		if b.used.CompareAndSwap(u, u+int64(n)) {
			for p := b.peak.Load(); u+int64(n) > p && !b.peak.CompareAndSwap(p, u+int64(n)); p = b.peak.Load() {
			}
			return true
		}
	}
}

// reserveParked takes n bytes for a held body: from the parked half first,
// then from the whole.
func (b *budget) reserveParked(n int) bool {
	if b == nil || n <= 0 {
		return true
	}
	if b.parked.Add(int64(n)) > b.limit/2 {
		b.parked.Add(-int64(n))
		return false
	}
	if !b.reserve(n) {
		b.parked.Add(-int64(n))
		return false
	}
	return true
}

// releaseParked gives back n bytes of held bodies.
func (b *budget) releaseParked(n int) {
	if b == nil || n <= 0 {
		return
	}
	b.parked.Add(-int64(n))
	b.release(n)
}

// release gives n bytes back.
func (b *budget) release(n int) {
	if b == nil || n <= 0 {
		return
	}
	b.used.Add(-int64(n))
}

// inUse reports the bytes reserved now (0 for a nil budget).
func (b *budget) inUse() int64 {
	if b == nil {
		return 0
	}
	return b.used.Load()
}
