package upstream

import (
	"errors"
	"os"
	"time"
)

// Handing a relay to another process (the edge's upgrade without cutting
// streams): Detach stops it where every byte read from one side has been
// written to the other, so the two sockets, passed on (SCM_RIGHTS), are the
// whole session; bytes still in the kernel's socket buffers move with them.

// endHandedOver is RelayStats.End of a relay that Detach took apart.
const endHandedOver = "handed over"

// detachWait bounds Detach's wait for a destination to take what the relay
// holds when there is no WriteTimeout (with one, the relay would end as
// stalled first).
const detachWait = 10 * time.Second

var (
	// ErrNotDetachable: the relay cannot be detached: not TCP↔TCP, inspect
	// not done yet, a side closed already (half-closed or ending), or another
	// Detach in progress. It goes on untouched.
	ErrNotDetachable = errors.New("relay: cannot be detached (not TCP to TCP, still inspecting, or ending)")
	// ErrDetachTimeout: a destination did not take the bytes in hand in time;
	// the relay goes on.
	ErrDetachTimeout = errors.New("relay: a destination did not take the relay's bytes in time, not detached")
)

// Detach stops the relay at a point where no byte of it is in this process
// (not in a buffer, not in a splice pipe): reads stop in both directions,
// a write in progress (or what the event loop holds for a destination) is
// finished first, waiting at most WriteTimeout (10 s without one). It returns
// duplicates of the two sockets, closes its own descriptors (the sockets stay
// open through the duplicates), and calls done exactly once with the counts
// and End "handed over". The sockets' file status is shared with the
// duplicates (non-blocking now; whoever resumes sets what it needs).
//
// Only a TCP↔TCP relay whose inspect phase is over and where neither side has
// closed can be detached; otherwise (and on a timeout) it returns an error and
// the relay goes on as before. A half-closed relay finishes where it is: it
// ends within ClientCloseLinger anyway, and a socket resumed in FIN_WAIT2 was
// seen to hold back its peer's late bytes until the peer closed.
func (h *Relaying) Detach() (client, server *os.File, err error) {
	wait := h.r.writeTimeout
	if wait <= 0 {
		wait = detachWait
	}
	return h.r.detach(wait)
}

type detachRequest struct{ result chan detachResult }

type detachResult struct {
	client, server *os.File
	err            error
}

func (r *relay) detach(wait time.Duration) (*os.File, *os.File, error) {
	r.mu.Lock()
	if r.closing || r.closed.Load() || r.handedOver.Load() || r.end.Load() != nil {
		r.mu.Unlock()
		return nil, nil, ErrNotDetachable
	}
	if ev := r.ev; ev != nil {
		r.mu.Unlock()
		return r.detachEvent(ev, wait)
	}
	if !r.stoppable || !r.inspectDone.Load() || r.detachReq != nil {
		r.mu.Unlock()
		return nil, nil, ErrNotDetachable
	}
	req := &detachRequest{result: make(chan detachResult, 1)}
	r.detachReq = req
	r.mu.Unlock()

	// The copiers stop at their next read; run, on its goroutine, then
	// serves the request (serveDetach).
	r.requestStop()
	timer := time.NewTimer(wait)
	defer timer.Stop()
	select {
	case res := <-req.result:
		return res.client, res.server, res.err
	case <-timer.C:
	}
	r.mu.Lock()
	if r.detachReq == req {
		// Not served: a copier is still in a write. Withdraw; when it
		// returns, run goes on relaying (or hands over to the event loop).
		r.detachReq = nil
		r.mu.Unlock()
		return nil, nil, ErrDetachTimeout
	}
	r.mu.Unlock()
	res := <-req.result // being served right now
	return res.client, res.server, res.err
}

// serveDetach answers a waiting Detach once both copiers have stopped. It
// reports whether the relay was handed over (run then returns its stats).
func (r *relay) serveDetach() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	req := r.detachReq
	if req == nil {
		return false
	}
	r.detachReq = nil
	if r.closing || r.closed.Load() || r.end.Load() != nil {
		req.result <- detachResult{err: ErrNotDetachable}
		return false
	}
	c, s, err := r.takeSockets()
	if err != nil {
		req.result <- detachResult{err: err}
		return false
	}
	r.handedOver.Store(true)
	req.result <- detachResult{client: c, server: s}
	return true
}

// takeSockets duplicates both conns' descriptors and closes the conns (under
// r.mu, with no copier running).
func (r *relay) takeSockets() (*os.File, *os.File, error) {
	cfd, err := dupSocket(r.client)
	if err != nil {
		return nil, nil, err
	}
	sfd, err := dupSocket(r.server)
	if err != nil {
		closeFD(cfd)
		return nil, nil, err
	}
	r.closeOnce.Do(func() {
		r.closed.Store(true)
		_ = r.client.Close()
		_ = r.server.Close()
	})
	return os.NewFile(uintptr(cfd), "client"), os.NewFile(uintptr(sfd), "server"), nil
}
