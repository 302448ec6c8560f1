package rtmpt

import (
	"io"
	"os"
	"sync"
)

// byteQueue is a bounded FIFO of bytes between one producer side and one
// consumer side, each of which may block (with a deadline) or poll. It is the
// only buffer a tunnel session has in each direction, so its limit is the
// back-pressure point: producers wait while limit bytes are pending.
//
// Its backing array is sized to what is queued, not to the limit: it grows
// (doubling, up to the limit) only when the pending bytes do not fit, and is
// given back when the queue drains, unless it is small enough (retainCap) to
// keep for the next bytes. An idle tunnel session therefore holds little or
// nothing here, and mem, when set, is charged the array's capacity, which
// is the memory really held.
type byteQueue struct {
	mu sync.Mutex
	// buf[head:] are the pending bytes. Consumed bytes are reclaimed by
	// moving the rest to the front before buf would grow.
	buf   []byte
	head  int
	limit int
	mem   *budget // charged cap(buf); nil: not accounted
	// lending is set while writeTo has buf[head:] out to a writer without
	// the lock: appends must then not move those bytes (they grow into a
	// new array instead of compacting). gen counts drops, so writeTo can
	// tell that the array it lent is no longer the queue's.
	lending bool
	gen     uint64
	// hint is a little more than the bytes the last emptying take carried:
	// the size a fresh array starts at, so steady traffic (a poll's worth
	// of data per cycle) fits one allocation that take can then hand over
	// whole.
	hint int
	// recent is set when bytes are queued and cleared by trimQuiet, which
	// gives back the array of a queue that stayed without bytes for a tick.
	recent bool
	// rErr is returned to consumers once buf is empty (io.EOF after a
	// graceful end); wErr is returned to producers. Both nil while open.
	rErr error
	wErr error
	// wake, when a caller waits, is closed at the next change, waking
	// every waiter. It is made only when someone waits (wakeLocked), so a
	// change nobody waits for (most of them) allocates nothing.
	wake chan struct{}
}

const (
	// front is the spare byte every backing array keeps before the data
	// (buf[:head] is never pending data, and head >= front while buf is
	// set), so take can hand over the array itself as a reply with its
	// interval byte in front: no copy of the data.
	front = 1
	// minQueueCap is the smallest backing array a queue allocates: one RTMP
	// chunk or handshake fragment, so small writes do not reallocate.
	minQueueCap = 512
	// retainCap is the largest drained backing array a queue keeps for its
	// next bytes (steady small polls then allocate nothing); larger ones are
	// given back so a burst does not stay charged to an idle session.
	retainCap = 4 << 10
)

// newByteQueue returns an empty queue of limit bytes whose backing array is
// charged to mem (nil: not accounted).
func newByteQueue(limit int, mem *budget) *byteQueue {
	return &byteQueue{limit: limit, mem: mem}
}

// signalLocked wakes every waiter. Call with mu held.
func (q *byteQueue) signalLocked() {
	if q.wake != nil {
		close(q.wake)
		q.wake = nil
	}
}

// wakeLocked returns the channel closed at the next change. Call with mu
// held.
func (q *byteQueue) wakeLocked() <-chan struct{} {
	if q.wake == nil {
		q.wake = make(chan struct{})
	}
	return q.wake
}

// changed returns a channel closed at the next change of the queue.
func (q *byteQueue) changed() <-chan struct{} {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.wakeLocked()
}

// write appends all of p, blocking while the queue is full, until done is
// closed (os.ErrDeadlineExceeded), the queue is shut (wErr) or growing it
// would pass the memory budget (errOverBudget).
func (q *byteQueue) write(p []byte, done <-chan struct{}) (int, error) {
	n := 0
	for {
		q.mu.Lock()
		if q.wErr != nil {
			err := q.wErr
			q.mu.Unlock()
			return n, err
		}
		if len(p) == 0 {
			q.mu.Unlock()
			return n, nil
		}
		if free := q.limit - q.lenLocked(); free > 0 {
			k := min(free, len(p))
			if err := q.appendLocked(p[:k]); err != nil {
				q.mu.Unlock()
				return n, err
			}
			p = p[k:]
			n += k
			q.mu.Unlock()
			continue
		}
		wake := q.wakeLocked()
		q.mu.Unlock()
		select {
		case <-wake:
		case <-done:
			return n, os.ErrDeadlineExceeded
		}
	}
}

// appendAll adds all of p regardless of the limit, unless the producer side
// is shut; it reports whether p was added, and errOverBudget when growing
// the queue would pass the memory budget. The caller bounds the overshoot
// (session.feed waits for room first, so it is at most one body).
func (q *byteQueue) appendAll(p []byte) (bool, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.wErr != nil {
		return false, nil
	}
	if err := q.appendLocked(p); err != nil {
		return false, err
	}
	return true, nil
}

// read copies pending bytes into p, blocking while the queue is empty, until
// done is closed (os.ErrDeadlineExceeded) or the queue ends (rErr).
func (q *byteQueue) read(p []byte, done <-chan struct{}) (int, error) {
	for {
		q.mu.Lock()
		if q.lenLocked() > 0 {
			n := copy(p, q.buf[q.head:])
			q.consumeLocked(n)
			q.mu.Unlock()
			return n, nil
		}
		if q.rErr != nil {
			err := q.rErr
			q.mu.Unlock()
			return 0, err
		}
		if len(p) == 0 {
			q.mu.Unlock()
			return 0, nil
		}
		wake := q.wakeLocked()
		q.mu.Unlock()
		select {
		case <-wake:
		case <-done:
			return 0, os.ErrDeadlineExceeded
		}
	}
}

// writeTo writes pending bytes to w straight from the queue's array (no
// intermediate buffer, one copy less than read into a buffer and write),
// blocking while the queue is empty, until the queue ends (nil after a
// graceful end, as io.WriterTo wants, else rErr), done is closed
// (os.ErrDeadlineExceeded) or w fails. There is one consumer at a time, so
// the lent bytes cannot be consumed by anyone else meanwhile.
func (q *byteQueue) writeTo(w io.Writer, done <-chan struct{}) (int64, error) {
	var total int64
	for {
		q.mu.Lock()
		for q.lenLocked() == 0 {
			if err := q.rErr; err != nil {
				q.mu.Unlock()
				if err == io.EOF {
					return total, nil
				}
				return total, err
			}
			wake := q.wakeLocked()
			q.mu.Unlock()
			select {
			case <-wake:
			case <-done:
				return total, os.ErrDeadlineExceeded
			}
			q.mu.Lock()
		}
		view := q.buf[q.head:]
		q.lending = true
		gen := q.gen
		q.mu.Unlock()
		n, err := w.Write(view)
		q.mu.Lock()
		q.lending = false
		if q.gen == gen {
			q.consumeLocked(n)
		} // else closeRead dropped the queue meanwhile: nothing to consume
		q.mu.Unlock()
		total += int64(n)
		if err != nil {
			return total, err
		}
	}
}

// take removes up to max pending bytes without blocking and returns them in
// a slice with room for prefix (≤ front) bytes in front (the reply layout),
// or nil when nothing is pending (callers use a shared reply then: no
// allocation per empty poll). It also reports whether the queue has ended
// (rErr set and nothing pending).
//
// When it takes everything and the backing array is not much larger than
// that (at most a quarter more), it hands over the array
// itself instead of copying: the reply is then exactly the queue's memory,
// which the queue no longer holds (nor charges: the caller charges the
// reply by its cap).
func (q *byteQueue) take(prefix, max int) (out []byte, ended bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	k := min(q.lenLocked(), max)
	if k == 0 {
		return nil, q.rErr != nil
	}
	if k == q.lenLocked() {
		q.hint = front + k + k/8
		if size := cap(q.buf); prefix <= q.head && !q.lending && size <= prefix+k+(prefix+k)/4 {
			out = q.buf[q.head-prefix : q.head+k : size]
			q.dropLocked()
			q.signalLocked()
			return out, q.rErr != nil
		}
	}
	out = make([]byte, prefix+k)
	copy(out[prefix:], q.buf[q.head:q.head+k])
	q.consumeLocked(k)
	return out, q.lenLocked() == 0 && q.rErr != nil
}

// consumeLocked drops n bytes from the front. Call with mu held.
func (q *byteQueue) consumeLocked(n int) {
	if n == 0 {
		return
	}
	q.head += n
	if q.head == len(q.buf) {
		if cap(q.buf) > retainCap || q.rErr != nil || q.wErr != nil {
			q.dropLocked()
		} else {
			q.buf, q.head = q.buf[:front], front
		}
	}
	q.signalLocked()
}

// dropLocked gives the backing array back (pending bytes, if any, are
// lost). Call with mu held.
func (q *byteQueue) dropLocked() {
	q.mem.release(cap(q.buf))
	q.buf, q.head = nil, 0
	q.gen++
}

// lenLocked is the number of pending bytes. Call with mu held.
func (q *byteQueue) lenLocked() int { return len(q.buf) - q.head }

// appendLocked adds p after the pending bytes, first moving them to the
// front when that avoids growing buf, else growing buf (doubling up to the
// limit, or exactly what is needed beyond it) if the budget allows. Call
// with mu held.
func (q *byteQueue) appendLocked(p []byte) error {
	if len(p) == 0 {
		return nil
	}
	if len(q.buf)+len(p) > cap(q.buf) {
		n := q.lenLocked()
		need := front + n + len(p)
		if need <= cap(q.buf) && !q.lending {
			copy(q.buf[front:], q.buf[q.head:])
			q.buf, q.head = q.buf[:front+n], front
		} else {
			// While bytes are lent the array is replaced even when it has
			// room, so the new one may be smaller: charge only the difference
			// either way.
			newCap := max(need, min(2*cap(q.buf), front+q.limit), minQueueCap, q.hint)
			if delta := newCap - cap(q.buf); delta < 0 {
				q.mem.release(-delta)
			} else if !q.mem.reserve(delta) {
				return errOverBudget
			}
			nb := make([]byte, front+n, newCap)
			copy(nb[front:], q.buf[q.head:])
			q.buf, q.head = nb, front
		}
	}
	q.buf = append(q.buf, p...)
	q.recent = true
	q.signalLocked()
	return nil
}

// trimQuiet gives the backing array back if nothing is pending and no byte
// was queued since the previous call: the reaper calls it every tick, so the
// small array kept for steady traffic is not kept by a direction that has
// gone quiet, even while its client goes on polling (an idle tunnel polls
// every 0.5 s or so and would otherwise keep up to 2 × retainCap for ever).
func (q *byteQueue) trimQuiet() {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.recent {
		q.recent = false
		return
	}
	if q.lenLocked() == 0 && q.buf != nil {
		q.dropLocked()
	}
}

// ended returns the consumers' end (rErr) once nothing is pending, else nil.
func (q *byteQueue) ended() error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.lenLocked() > 0 {
		return nil
	}
	return q.rErr
}

// pending reports how many bytes wait in the queue.
func (q *byteQueue) pending() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.lenLocked()
}

// closeWrite ends the producer side: further writes fail with err, and
// consumers drain what is pending, then get io.EOF.
func (q *byteQueue) closeWrite(err error) { q.closeWriteEnd(err, io.EOF) }

// closeWriteEnd is closeWrite whose consumers get end (io.EOF or an error
// saying why the stream ended, like ErrSessionIdle) after the pending bytes.
func (q *byteQueue) closeWriteEnd(err, end error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.wErr == nil {
		q.wErr = err
	}
	if q.rErr == nil {
		q.rErr = end
	}
	if q.lenLocked() == 0 {
		q.dropLocked()
	}
	q.signalLocked()
}

// finish ends the queue with err for both sides: producers fail with err at
// once, consumers drain what is pending and then get err.
func (q *byteQueue) finish(err error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.wErr == nil {
		q.wErr = err
	}
	if q.rErr == nil {
		q.rErr = err
	}
	if q.lenLocked() == 0 {
		q.dropLocked()
	}
	q.signalLocked()
}

// closeRead ends the consumer side: pending bytes are dropped, consumers and
// producers both fail with err from now on.
func (q *byteQueue) closeRead(err error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.dropLocked()
	if q.rErr == nil || q.rErr == io.EOF {
		q.rErr = err
	}
	if q.wErr == nil {
		q.wErr = err
	}
	q.signalLocked()
}
