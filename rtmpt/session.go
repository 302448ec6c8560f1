package rtmpt

import (
	"container/list"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
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

// trimAfter bounds how long a drained queue array outlives the last byte
// through it: the reaper gives it back at the first tick (at most 1 s apart)
// that finds no byte queued since the previous one. Steady traffic keeps
// reusing its arrays; a quiet direction costs nothing, however often its
// client polls.
const trimAfter = 2 * time.Second

// endReason says why a session ended, for logs and counters.
type endReason string

const (
	endClientClose   endReason = "client closed"
	endHandlerClose  endReason = "handler closed and output drained"
	endHandlerLinger endReason = "handler closed and the client stopped polling"
	endIdle          endReason = "idle timeout"
	endServerClose   endReason = "server closed"
	endReorder       endReason = "reorder window exceeded"
	endGap           endReason = "sequence gap not filled within idle timeout"
	endStalled       endReason = "handler did not read within idle timeout"
	endBudget        endReason = "memory budget exceeded"
	endAbandoned     endReason = "no data within open timeout"
	endEvicted       endReason = "no data yet, slot taken by a new open"

	// endGone is not a way to end: serve reports it for a request that
	// finds its session already over.
	endGone endReason = "session over"
)

// refusal returns the Reject* reason of a failure, or "" for an end that is
// not one (the client or handler closed, idle, server closed).
func (r endReason) refusal() string {
	switch r {
	case endReorder:
		return RejectReorder
	case endGap:
		return RejectGap
	case endStalled:
		return RejectStalled
	case endBudget:
		return RejectMemoryBudget
	case endAbandoned:
		return RejectAbandoned
	case endEvicted:
		return RejectEvicted
	}
	return ""
}

// failed reports whether the reason is a failure rather than an end.
func (r endReason) failed() bool { return r.refusal() != "" }

// session is one tunnel session: sequence ordering, the reply state and the
// Conn the handler owns.
type session struct {
	srv     *Server
	id      string
	ip      string     // the owner's IP as text: the per-IP key, logs
	addr    netip.Addr // the same, compared on every request
	conn    *Conn
	release func() // gives back the MaxSessions / MaxSessionsPerIP slots
	opened  time.Time

	// pendingElem is the session's place in table.pending while it has
	// carried no byte; guarded by the table's mutex. confirmed mirrors
	// "no longer pending" without that lock, for the per-request check.
	pendingElem *list.Element
	confirmed   atomic.Bool

	lastActive    atomic.Int64 // unix nanoseconds of the last request
	handlerClosed atomic.Bool  // Conn.Close was called: OpenTimeout applies

	mu       sync.Mutex
	next     uint64            // the sequence number whose turn it is
	inFlight bool              // next is being processed (its body is being fed)
	held     map[uint64][]byte // ahead-of-turn bodies, already answered
	heldSize int               // their bytes, charged to the memory budget
	gapSince time.Time         // when held became non-empty
	lastSeq  uint64            // the last in-turn request ...
	lastRep  []byte            // ... and its reply, replayed to a resent request (charged)
	empties  int               // consecutive replies without data
	step     int               // index into intervals
	ended    bool

	endOnce sync.Once
}

// ownedBy reports whether remote is the session's owner IP. An address that
// is not an IP (a test's pipe) is compared as text.
func (s *session) ownedBy(remote net.Addr) bool {
	if s.addr.IsValid() {
		return addrIP(remote) == s.addr
	}
	return ipString(remote) == s.ip
}

func (s *session) touch(now time.Time) { s.lastActive.Store(now.UnixNano()) }

// emptyReplies are the replies without server data, one per interval byte,
// shared by all sessions: an empty poll allocates nothing. Never written to.
var emptyReplies = func() (r [len(intervals)][]byte) {
	for i, b := range intervals {
		r[i] = []byte{b}
	}
	return r
}()

// closingReply is the empty reply that ends a session.
var closingReply = []byte{closingInterval}

// serve handles a /send or /idle with sequence number seq and returns the
// reply body, or the reason the request fails: endGone when the session was
// already over, else the failure it caused (the session has ended and the
// failure is counted).
//
// Ordering: the request whose turn it is feeds its body, then any held
// bodies that now follow in sequence. A request ahead of its turn is held
// (at most ReorderWindow of them) and answered at once with the interval
// byte alone, so it never blocks its HTTP connection and server bytes only
// ride on in-turn replies, in sequence order.
func (s *session) serve(cmd command, seq uint64, body []byte) (reply []byte, fail endReason) {
	if cmd == cmdIdle {
		body = nil // idle bodies are padding (0x00 or empty)
	}
	s.mu.Lock()
	if s.ended {
		s.mu.Unlock()
		return nil, endGone
	}
	switch {
	case seq < s.next || (seq == s.next && s.inFlight):
		// A resent request. Feed nothing; if it is the last in-turn
		// request, its reply may have been lost, so give the same one again.
		s.srv.stats.duplicates.Add(1)
		if seq == s.lastSeq && s.lastRep != nil {
			reply = s.lastRep
		} else {
			reply = emptyReplies[s.step]
		}
		s.mu.Unlock()
		return reply, ""
	case seq > s.next:
		if _, dup := s.held[seq]; dup {
			s.srv.stats.duplicates.Add(1)
			reply = emptyReplies[s.step]
			s.mu.Unlock()
			return reply, ""
		}
		window := uint64(s.srv.cfg.ReorderWindow)
		if seq-s.next > window || len(s.held) >= int(window) {
			next := s.next
			s.mu.Unlock()
			s.end(endReorder, slog.Uint64("seq", seq), slog.Uint64("expected", next))
			return nil, endReorder
		}
		// A held body is the cheapest memory a client can make the server
		// keep (it needs no connection to stay open), so it is charged.
		if !s.srv.mem.reserveParked(len(body)) {
			s.mu.Unlock()
			s.end(endBudget, slog.Uint64("seq", seq), slog.Int("body", len(body)))
			return nil, endBudget
		}
		if s.held == nil {
			s.held = make(map[uint64][]byte)
		}
		if len(s.held) == 0 {
			s.gapSince = time.Now()
		}
		s.held[seq] = append([]byte(nil), body...)
		s.heldSize += len(body)
		s.srv.stats.reordered.Add(1)
		reply = emptyReplies[s.step]
		s.mu.Unlock()
		return reply, ""
	}

	// seq == s.next: our turn.
	s.inFlight = true
	s.mu.Unlock()
	if fail := s.feed(body); fail != "" {
		return nil, fail
	}
	reply, fail = s.takeReply(len(body) > 0)
	if fail != "" {
		return nil, fail
	}

	s.mu.Lock()
	s.setLastRepLocked(seq, reply)
	s.next = seq + 1
	for !s.ended {
		b, ok := s.held[s.next]
		if !ok {
			break
		}
		delete(s.held, s.next)
		s.heldSize -= len(b)
		s.mu.Unlock()
		// The queue charges what it keeps of b; b itself is garbage after.
		fail := s.feed(b)
		s.srv.mem.releaseParked(len(b))
		if fail != "" {
			return nil, fail
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
	return reply, ""
}

// setLastRepLocked keeps reply for a resend of seq, charged to the budget by
// its own size (it is a fresh slice of exactly that size, or a shared empty
// reply, which costs nothing). When the budget has no room, the reply is not
// kept: a resend then gets the interval byte alone. Failing the session for
// it would punish the one request that is in turn. Call with mu held.
func (s *session) setLastRepLocked(seq uint64, reply []byte) {
	if s.ended {
		return
	}
	s.srv.mem.release(s.chargeOf(s.lastRep))
	s.lastSeq, s.lastRep = seq, reply
	if !s.srv.mem.reserve(s.chargeOf(reply)) {
		s.lastRep = nil
	}
}

// chargeOf is what a reply costs against the budget: its cap (a reply may
// be the out queue's array handed over whole), nothing for the shared
// one-byte replies.
func (s *session) chargeOf(reply []byte) int {
	if len(reply) <= 1 {
		return 0
	}
	return cap(reply)
}

// feed appends a body to the handler's input, waiting up to IdleTimeout
// while the handler has Buffer bytes unread (back-pressure towards the
// client, whose request stays unanswered meanwhile). It returns the failure
// that ended the session, if any.
func (s *session) feed(b []byte) endReason {
	if len(b) == 0 {
		return ""
	}
	a := &s.conn.att
	a.feedMu.Lock()
	if s.conn.feedSink(b) {
		// A relay took the body straight to its media server (attach.go);
		// its write was the back-pressure.
		a.feedMu.Unlock()
		s.srv.stats.bytesIn.Add(uint64(len(b)))
		return ""
	}
	a.feedMu.Unlock()
	// Wait for room before appending, so the queue exceeds Buffer by at most
	// one body: write would otherwise split the body and block midway. (Not
	// under feedMu: the reader that makes room may be about to attach a sink.)
	if s.conn.in.pending() >= s.conn.in.limit {
		ctx, cancel := context.WithTimeout(context.Background(), s.srv.cfg.IdleTimeout)
		defer cancel()
		for s.conn.in.pending() >= s.conn.in.limit {
			select {
			case <-s.conn.in.changed():
			case <-ctx.Done():
				s.end(endStalled)
				return endStalled
			}
		}
	}
	a.feedMu.Lock()
	if s.conn.feedSink(b) { // attached while this request waited for room
		a.feedMu.Unlock()
		s.srv.stats.bytesIn.Add(uint64(len(b)))
		return ""
	}
	added, err := s.conn.in.appendAll(b)
	a.feedMu.Unlock()
	if err != nil {
		s.end(endBudget, slog.Int("body", len(b)))
		return endBudget
	}
	if added {
		s.srv.stats.bytesIn.Add(uint64(len(b)))
	}
	// else: the handler closed its Conn (the body has no reader and is
	// dropped, while its remaining output is still delivered), or the
	// session ended meanwhile.
	return ""
}

// takeReply builds an in-turn reply: the interval byte, then up to
// maxReplyData pending server bytes. After the handler closed and its output
// is drained, the reply's interval byte is 0 and the session ends.
func (s *session) takeReply(bodyHadData bool) ([]byte, endReason) {
	reply, drained := s.conn.out.take(1, maxReplyData)
	if reply == nil && !drained {
		// Nothing queued by Write: the bytes a relay's source has ready
		// (attach.go), read now, straight into this reply.
		reply = s.conn.pull(1, maxReplyData)
	}
	data := max(len(reply)-1, 0)
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
	step := s.step
	s.mu.Unlock()
	switch {
	case drained:
		if reply == nil {
			reply = closingReply
		} else {
			reply[0] = closingInterval
		}
		s.end(endHandlerClose)
	case reply == nil:
		reply = emptyReplies[step]
	default:
		reply[0] = intervals[step]
	}
	return reply, ""
}

// closeReply answers /close: interval byte 0, then whatever server bytes are
// pending (up to maxReplyData), and ends the session.
func (s *session) closeReply() []byte {
	reply, _ := s.conn.out.take(1, maxReplyData)
	if reply == nil {
		reply = closingReply
	} else {
		reply[0] = closingInterval
		s.srv.stats.bytesOut.Add(uint64(len(reply) - 1))
	}
	s.end(endClientClose)
	return reply
}

// end ends the session once: it leaves the table, gives back its limit
// slots and its share of the memory budget, ends the Conn (Read: EOF, or
// ErrSessionFailed for a failure; Write: ErrSessionEnded) and, for a
// failure, reports the refusal.
func (s *session) end(reason endReason, attrs ...slog.Attr) {
	s.endOnce.Do(func() {
		s.mu.Lock()
		s.ended = true
		s.srv.mem.releaseParked(s.heldSize)
		s.srv.mem.release(s.chargeOf(s.lastRep))
		s.held, s.heldSize = nil, 0
		s.lastRep = nil
		s.mu.Unlock()
		s.srv.table.remove(s)
		s.release()
		var streamEnd error = io.EOF
		switch {
		case reason.failed():
			streamEnd = fmt.Errorf("%w: %s", ErrSessionFailed, reason)
			s.conn.in.closeRead(streamEnd)
		case reason == endIdle || reason == endHandlerLinger:
			// The client vanished without /close: the relay behind the
			// handler says so ("client idle") instead of "client closed".
			streamEnd = ErrSessionIdle
			s.conn.in.closeWriteEnd(ErrSessionEnded, streamEnd)
		default:
			s.conn.in.closeWrite(ErrSessionEnded)
		}
		s.conn.endSink(streamEnd)
		s.conn.out.closeRead(ErrSessionEnded)

		st := &s.srv.stats
		st.closed.Add(1)
		switch {
		case reason.failed():
			st.failed.Add(1)
		case reason == endIdle:
			st.idleTimeout.Add(1)
		}
		args := []slog.Attr{slog.String("session", s.id), slog.String("client", s.ip), slog.String("reason", string(reason))}
		// Debug: the edge logs its own line for every session, and a flood
		// of failing sessions must not flood the log from here.
		s.srv.log.LogAttrs(context.Background(), slog.LevelDebug, "rtmpt session ended", append(args, attrs...)...)
		if r := reason.refusal(); r != "" {
			s.srv.refuse(r, s.conn.RemoteAddr(), fmt.Errorf("rtmpt session %s: %s", s.id, reason))
		}
	})
}

// expire ends the session if it has been idle, or held a sequence gap, for
// longer than the idle timeout; once its handler has closed, the open
// timeout applies instead (the client only has the rest of the output to
// fetch, and a client that is gone should not hold the slot for long).
// Called by the server's reaper.
func (s *session) expire(now time.Time) {
	idle, reason := s.srv.cfg.IdleTimeout, endIdle
	if s.handlerClosed.Load() {
		idle, reason = min(idle, s.srv.cfg.OpenTimeout), endHandlerLinger
	}
	quiet := now.Sub(time.Unix(0, s.lastActive.Load()))
	if quiet > idle {
		s.end(reason)
		return
	}
	s.conn.in.trimQuiet()
	s.conn.out.trimQuiet()
	s.mu.Lock()
	gap := !s.gapSince.IsZero() && !s.inFlight && now.Sub(s.gapSince) > s.srv.cfg.IdleTimeout
	next := s.next
	s.mu.Unlock()
	if gap {
		s.end(endGap, slog.Uint64("expected", next))
	}
}
