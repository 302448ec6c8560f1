package rtmpt

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// intervals are the polling-interval bytes a reply may start with (Red5's
// steps). The index moves up one step after emptiesPerStep consecutive
// replies with no data in either direction and back to 0 when data flows.
var intervals = [...]byte{1, 3, 5, 9, 17, 33}

const (
	emptiesPerStep = 10
	// closingInterval starts the close reply and the last reply after the
	// handler closed: "the server is closing" in Red5's convention.
	closingInterval = 0
)

// endReason says why a session ended, for logs and counters.
type endReason string

const (
	endClientClose  endReason = "client closed"
	endHandlerClose endReason = "handler closed and output drained"
	endIdle         endReason = "idle timeout"
	endServerClose  endReason = "server closed"
	endReorder      endReason = "reorder window exceeded"
	endGap          endReason = "sequence gap not filled within idle timeout"
	endStalled      endReason = "handler did not read within idle timeout"
)

// failed reports whether the reason is a protocol failure rather than an end.
func (r endReason) failed() bool {
	return r == endReorder || r == endGap || r == endStalled
}

// session is one tunnel session: sequence ordering, the reply state and the
// Conn the handler owns.
type session struct {
	srv     *Server
	id      string
	ip      string
	conn    *Conn
	release func() // gives back the MaxSessions / MaxSessionsPerIP slots

	lastActive atomic.Int64 // unix nanoseconds of the last request

	mu       sync.Mutex
	next     uint64            // the sequence number whose turn it is
	inFlight bool              // next is being processed (its body is being fed)
	held     map[uint64][]byte // ahead-of-turn bodies, already answered
	gapSince time.Time         // when held became non-empty
	lastSeq  uint64            // the last in-turn request ...
	lastRep  []byte            // ... and its reply, replayed to a resent request
	empties  int               // consecutive replies without data
	step     int               // index into intervals
	ended    bool

	endOnce sync.Once
}

func (s *session) touch(now time.Time) { s.lastActive.Store(now.UnixNano()) }

// serve handles a /send or /idle with sequence number seq and returns the
// reply body. ok is false when the session failed on this request (the
// caller answers 404: the session is gone).
//
// Ordering: the request whose turn it is feeds its body, then any held
// bodies that now follow in sequence. A request ahead of its turn is held
// (at most ReorderWindow of them) and answered at once with the interval
// byte alone, so it never blocks its HTTP connection and server bytes only
// ride on in-turn replies, in sequence order.
func (s *session) serve(cmd command, seq uint64, body []byte) (reply []byte, ok bool) {
	if cmd == cmdIdle {
		body = nil // idle bodies are padding (0x00 or empty)
	}
	s.mu.Lock()
	if s.ended {
		s.mu.Unlock()
		return nil, false
	}
	switch {
	case seq < s.next || (seq == s.next && s.inFlight):
		// A resent request. Feed nothing; if it is the last in-turn
		// request, its reply may have been lost, so give the same one again.
		s.srv.stats.duplicates.Add(1)
		if seq == s.lastSeq && s.lastRep != nil {
			reply = s.lastRep
		} else {
			reply = []byte{intervals[s.step]}
		}
		s.mu.Unlock()
		return reply, true
	case seq > s.next:
		if _, dup := s.held[seq]; dup {
			s.srv.stats.duplicates.Add(1)
			reply = []byte{intervals[s.step]}
			s.mu.Unlock()
			return reply, true
		}
		window := uint64(s.srv.cfg.ReorderWindow)
		if seq-s.next > window || len(s.held) >= int(window) {
			next := s.next
			s.mu.Unlock()
			s.end(endReorder, slog.Uint64("seq", seq), slog.Uint64("expected", next))
			return nil, false
		}
		if s.held == nil {
			s.held = make(map[uint64][]byte)
		}
		if len(s.held) == 0 {
			s.gapSince = time.Now()
		}
		s.held[seq] = append([]byte{}, body...)
		s.srv.stats.reordered.Add(1)
		reply = []byte{intervals[s.step]}
		s.mu.Unlock()
		return reply, true
	}

	// seq == s.next: our turn.
	s.inFlight = true
	s.mu.Unlock()
	if !s.feed(body) {
		return nil, false
	}
	reply = s.takeReply(len(body) > 0)

	s.mu.Lock()
	s.lastSeq, s.lastRep = seq, reply
	s.next = seq + 1
	for !s.ended {
		b, ok := s.held[s.next]
		if !ok {
			break
		}
		delete(s.held, s.next)
		s.mu.Unlock()
		if !s.feed(b) {
			return nil, false
		}
		s.mu.Lock()
		s.next++
	}
	if len(s.held) == 0 {
		s.gapSince = time.Time{}
	} else {
		s.gapSince = time.Now() // a new gap, before the next held request
	}
	s.inFlight = false
	s.mu.Unlock()
	return reply, true
}

// feed appends a body to the handler's input, waiting up to IdleTimeout
// while the handler has Buffer bytes unread (back-pressure towards the
// client, whose request stays unanswered meanwhile). It reports false when
// the session failed.
func (s *session) feed(b []byte) bool {
	if len(b) == 0 {
		return true
	}
	// Wait for room before appending, so the queue exceeds Buffer by at most
	// one body: write would otherwise split the body and block midway.
	ctx, cancel := context.WithTimeout(context.Background(), s.srv.cfg.IdleTimeout)
	defer cancel()
	for s.conn.in.pending() >= s.conn.in.limit {
		select {
		case <-s.conn.in.changed():
		case <-ctx.Done():
			s.end(endStalled)
			return false
		}
	}
	if s.conn.in.appendAll(b) {
		s.srv.stats.bytesIn.Add(uint64(len(b)))
	}
	// else: the handler closed its Conn (the body has no reader and is
	// dropped, while its remaining output is still delivered), or the
	// session ended meanwhile.
	return true
}

// takeReply builds an in-turn reply: the interval byte, then up to
// maxReplyData pending server bytes. After the handler closed and its output
// is drained, the reply's interval byte is 0 and the session ends.
func (s *session) takeReply(bodyHadData bool) []byte {
	reply, drained := s.conn.out.take(1, maxReplyData)
	data := len(reply) - 1
	s.srv.stats.bytesOut.Add(uint64(data))
	s.mu.Lock()
	if bodyHadData || data > 0 {
		s.empties, s.step = 0, 0
	} else {
		s.empties++
		if s.empties > emptiesPerStep && s.step < len(intervals)-1 {
			s.step++
			s.empties = 0
		}
	}
	reply[0] = intervals[s.step]
	s.mu.Unlock()
	if drained {
		reply[0] = closingInterval
		s.end(endHandlerClose)
	}
	return reply
}

// closeReply answers /close: interval byte 0, then whatever server bytes are
// pending (up to maxReplyData), and ends the session.
func (s *session) closeReply() []byte {
	reply, _ := s.conn.out.take(1, maxReplyData)
	reply[0] = closingInterval
	s.srv.stats.bytesOut.Add(uint64(len(reply) - 1))
	s.end(endClientClose)
	return reply
}

// end ends the session once: it leaves the table, gives back its limit
// slots, ends the Conn (Read: EOF, or ErrSessionFailed for a failure; Write:
// ErrSessionEnded) and logs why.
func (s *session) end(reason endReason, attrs ...slog.Attr) {
	s.endOnce.Do(func() {
		s.mu.Lock()
		s.ended = true
		s.held = nil
		s.lastRep = nil
		s.mu.Unlock()
		s.srv.table.remove(s)
		s.release()
		if reason.failed() {
			s.conn.in.closeRead(fmt.Errorf("%w: %s", ErrSessionFailed, reason))
		} else {
			s.conn.in.closeWrite(ErrSessionEnded)
		}
		s.conn.out.closeRead(ErrSessionEnded)

		st := &s.srv.stats
		st.closed.Add(1)
		level := slog.LevelInfo
		switch {
		case reason.failed():
			st.failed.Add(1)
			level = slog.LevelWarn
		case reason == endIdle:
			st.idleTimeout.Add(1)
		}
		args := []slog.Attr{slog.String("session", s.id), slog.String("client", s.ip), slog.String("reason", string(reason))}
		s.srv.log.LogAttrs(context.Background(), level, "rtmpt session ended", append(args, attrs...)...)
	})
}

// expire ends the session if it has been idle, or held a sequence gap, for
// longer than the idle timeout. Called by the server's reaper.
func (s *session) expire(now time.Time) {
	idle := s.srv.cfg.IdleTimeout
	if now.Sub(time.Unix(0, s.lastActive.Load())) > idle {
		s.end(endIdle)
		return
	}
	s.mu.Lock()
	gap := !s.gapSince.IsZero() && !s.inFlight && now.Sub(s.gapSince) > idle
	next := s.next
	s.mu.Unlock()
	if gap {
		s.end(endGap, slog.Uint64("expected", next))
	}
}
