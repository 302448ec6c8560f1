package routing

import "net/netip"

// waiter is one Acquire waiting for a slot. The pool hands it a lease (or an error)
// under the pool mutex and closes ready; the waiting goroutine reads the result after
// taking the mutex again.
type waiter struct {
	req    Request
	client netip.Addr
	ready  chan struct{}

	done  bool   // result set (lease or err); guarded by Pool.mu
	lease *Lease // on success
	err   error  // ErrNoServer when nothing is left for this request

	prev, next *waiter
}

// waitQueue is a FIFO of waiters, a doubly linked list so a timed-out waiter leaves in O(1).
type waitQueue struct {
	head, tail *waiter
	n          int
}

func (q *waitQueue) pushBack(w *waiter) {
	w.prev, w.next = q.tail, nil
	if q.tail == nil {
		q.head = w
	} else {
		q.tail.next = w
	}
	q.tail = w
	q.n++
}

func (q *waitQueue) remove(w *waiter) {
	if w.prev == nil {
		q.head = w.next
	} else {
		w.prev.next = w.next
	}
	if w.next == nil {
		q.tail = w.prev
	} else {
		w.next.prev = w.prev
	}
	w.prev, w.next = nil, nil
	q.n--
}
