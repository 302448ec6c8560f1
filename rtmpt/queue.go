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
type byteQueue struct {
	mu sync.Mutex
	// buf[head:] are the pending bytes. Consumed bytes are reclaimed by
	// moving the rest to the front before buf would grow, so the backing
	// array stays near limit (+ one body) instead of being reallocated as
	// the window slides.
	buf   []byte
	head  int
	limit int
	// rErr is returned to consumers once buf is empty (io.EOF after a
	// graceful end); wErr is returned to producers. Both nil while open.
	rErr error
	wErr error
	// wake is closed and replaced on every change, waking blocked callers.
	wake chan struct{}
}

func newByteQueue(limit int) *byteQueue {
	return &byteQueue{limit: limit, wake: make(chan struct{})}
}

// signalLocked wakes every waiter. Call with mu held.
func (q *byteQueue) signalLocked() {
	close(q.wake)
	q.wake = make(chan struct{})
}

// changed returns a channel closed at the next change of the queue.
func (q *byteQueue) changed() <-chan struct{} {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.wake
}

// write appends all of p, blocking while the queue is full, until done is
// closed (os.ErrDeadlineExceeded) or the queue is shut (wErr).
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
			q.appendLocked(p[:k])
			p = p[k:]
			n += k
			q.mu.Unlock()
			continue
		}
		wake := q.wake
		q.mu.Unlock()
		select {
		case <-wake:
		case <-done:
			return n, os.ErrDeadlineExceeded
		}
	}
}

// appendAll adds all of p regardless of the limit, unless the producer side
// is shut; it reports whether p was added. The caller bounds the overshoot
// (session.feed waits for room first, so it is at most one body).
func (q *byteQueue) appendAll(p []byte) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.wErr != nil {
		return false
	}
	q.appendLocked(p)
	return true
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
		wake := q.wake
		q.mu.Unlock()
		select {
		case <-wake:
		case <-done:
			return 0, os.ErrDeadlineExceeded
		}
	}
}

// take removes up to max pending bytes without blocking and returns them in
// a new slice with room for prefix bytes in front (the reply layout). It
// also reports whether the queue has ended (rErr set and nothing pending).
func (q *byteQueue) take(prefix, max int) (out []byte, ended bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	k := min(q.lenLocked(), max)
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
		q.buf, q.head = q.buf[:0], 0
	}
	q.signalLocked()
}

// lenLocked is the number of pending bytes. Call with mu held.
func (q *byteQueue) lenLocked() int { return len(q.buf) - q.head }

// appendLocked adds p after the pending bytes, first moving them to the
// front when that avoids growing buf. Call with mu held.
func (q *byteQueue) appendLocked(p []byte) {
	if q.head > 0 && len(q.buf)+len(p) > cap(q.buf) {
		n := copy(q.buf, q.buf[q.head:])
		q.buf, q.head = q.buf[:n], 0
	}
	q.buf = append(q.buf, p...)
	q.signalLocked()
}

// pending reports how many bytes wait in the queue.
func (q *byteQueue) pending() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.lenLocked()
}

// closeWrite ends the producer side: further writes fail with err, and
// consumers drain what is pending, then get io.EOF.
func (q *byteQueue) closeWrite(err error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.wErr == nil {
		q.wErr = err
	}
	if q.rErr == nil {
		q.rErr = io.EOF
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
	q.signalLocked()
}

// closeRead ends the consumer side: pending bytes are dropped, consumers and
// producers both fail with err from now on.
func (q *byteQueue) closeRead(err error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.buf, q.head = nil, 0
	if q.rErr == nil || q.rErr == io.EOF {
		q.rErr = err
	}
	if q.wErr == nil {
		q.wErr = err
	}
	q.signalLocked()
}
