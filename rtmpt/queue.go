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
	mu    sync.Mutex
	buf   []byte
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
		if free := q.limit - len(q.buf); free > 0 {
			k := min(free, len(p))
			q.buf = append(q.buf, p[:k]...)
			p = p[k:]
			n += k
			q.signalLocked()
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

// read copies pending bytes into p, blocking while the queue is empty, until
// done is closed (os.ErrDeadlineExceeded) or the queue ends (rErr).
func (q *byteQueue) read(p []byte, done <-chan struct{}) (int, error) {
	for {
		q.mu.Lock()
		if len(q.buf) > 0 {
			n := copy(p, q.buf)
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
	k := min(len(q.buf), max)
	out = make([]byte, prefix+k)
	copy(out[prefix:], q.buf[:k])
	q.consumeLocked(k)
	return out, len(q.buf) == 0 && q.rErr != nil
}

// consumeLocked drops n bytes from the front. Call with mu held.
func (q *byteQueue) consumeLocked(n int) {
	if n == 0 {
		return
	}
	q.buf = q.buf[n:]
	if len(q.buf) == 0 {
		q.buf = nil // let the backing array go instead of growing it forever
	}
	q.signalLocked()
}

// pending reports how many bytes wait in the queue.
func (q *byteQueue) pending() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.buf)
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
	q.buf = nil
	if q.rErr == nil || q.rErr == io.EOF {
		q.rErr = err
	}
	if q.wErr == nil {
		q.wErr = err
	}
	q.signalLocked()
}
