package rtmpt

import "sync/atomic"

// Reasons a request is refused or a session fails, as used in
// Stats.Rejected and passed to Options.OnRefuse. They are stable strings
// (metric label values). Each refusal is counted once: a request that makes
// its session fail (a body beyond the reorder window, over the memory
// budget) counts under the session's failure reason, not again as a request.
const (
	RejectMethod         = "method"           // not a POST (405)
	RejectPath           = "path"             // not an RTMPT path (404)
	RejectMalformed      = "malformed"        // RTMPT path with a bad id or sequence number (400)
	RejectUnknownSession = "unknown_session"  // no such session, or it has ended (404)
	RejectForeignIP      = "foreign_ip"       // session opened by another client IP (404)
	RejectSessionLimit   = "session_limit"    // MaxSessions reached (503)
	RejectPerIPLimit     = "per_ip_limit"     // MaxSessionsPerIP reached (503)
	RejectBodyTooLarge   = "body_too_large"   // body above MaxBody (413)
	RejectBadRequest     = "bad_request"      // fasthttp could not parse the request
	RejectServerClosed   = "server_closed"    // Close was called (503)
	RejectHTTPTimeout    = "http_timeout"     // request not complete within HTTPReadTimeout (408)
	RejectHeaderTooLarge = "header_too_large" // request line and headers above 4 KiB (431)
	RejectInternal       = "internal"         // the server could not make a session id (500)

	// Session failures: the session ends, its slot is free at once, and the
	// request that caused it (if any) gets the status shown.
	RejectReorder      = "reorder_window"  // ahead-of-turn request beyond ReorderWindow (404)
	RejectGap          = "sequence_gap"    // a held gap not filled within IdleTimeout
	RejectStalled      = "handler_stalled" // the handler did not read within IdleTimeout (404)
	RejectMemoryBudget = "memory_budget"   // MemoryBudget would be passed (503)
	RejectAbandoned    = "abandoned"       // no /send byte within OpenTimeout of /open
	RejectEvicted      = "evicted"         // unconfirmed session ended to make room for a new /open
)

// Stats is a snapshot of the server's counters, for metrics export.
type Stats struct {
	SessionsOpened uint64
	SessionsClosed uint64
	// SessionsFailed counts sessions ended by a failure (one of the session
	// Reject* reasons: reorder window, sequence gap, stalled handler, memory
	// budget, abandoned, evicted); they are in SessionsClosed too.
	SessionsFailed uint64
	// SessionsIdleTimeout counts sessions closed by IdleTimeout (also in SessionsClosed).
	SessionsIdleTimeout uint64
	// Requests by command: "fcs", "open", "send", "idle", "close".
	Requests map[string]uint64
	// Rejected requests by reason (the Reject* constants).
	Rejected map[string]uint64
	// Duplicates counts requests whose sequence number was already served.
	Duplicates uint64
	// Reordered counts requests that arrived ahead of their turn and were held.
	Reordered uint64
	BytesIn   uint64 // client→server payload (/send bodies fed to sessions)
	BytesOut  uint64 // server→client payload (reply bytes after the interval byte)

	// Gauges at the time of the snapshot.
	Sessions        int   // live sessions (Server.Sessions)
	SessionsPending int   // live sessions that have not sent a byte yet
	MemoryInUse     int64 // bytes held against MemoryBudget now
	MemoryParked    int64 // of MemoryInUse, held ahead-of-turn bodies (at most half the budget)
	MemoryPeak      int64 // highest MemoryInUse so far (never above MemoryBudget)
	MemoryBudget    int64 // the configured budget
}

var commands = [...]command{cmdFCS, cmdOpen, cmdSend, cmdIdle, cmdClose}

var rejectReasons = [...]string{
	RejectMethod, RejectPath, RejectMalformed, RejectUnknownSession, RejectForeignIP,
	RejectSessionLimit, RejectPerIPLimit, RejectBodyTooLarge, RejectBadRequest, RejectServerClosed,
	RejectHTTPTimeout, RejectHeaderTooLarge, RejectInternal,
	RejectReorder, RejectGap, RejectStalled, RejectMemoryBudget, RejectAbandoned, RejectEvicted,
}

// RejectReasons lists every reason Stats.Rejected may hold, so an exporter
// can create each series up front (a zero, not a missing series).
func RejectReasons() []string { return append([]string(nil), rejectReasons[:]...) }

// counters are the live atomics behind Stats.
type counters struct {
	opened, closed, failed, idleTimeout atomic.Uint64
	duplicates, reordered               atomic.Uint64
	bytesIn, bytesOut                   atomic.Uint64
	requests                            [len(commands)]atomic.Uint64
	rejected                            [len(rejectReasons)]atomic.Uint64
}

func (c *counters) request(cmd command) {
	for i, k := range commands {
		if k == cmd {
			c.requests[i].Add(1)
			return
		}
	}
}

func (c *counters) reject(reason string) {
	for i, k := range rejectReasons {
		if k == reason {
			c.rejected[i].Add(1)
			return
		}
	}
}

func (c *counters) snapshot() Stats {
	s := Stats{
		SessionsOpened:      c.opened.Load(),
		SessionsClosed:      c.closed.Load(),
		SessionsFailed:      c.failed.Load(),
		SessionsIdleTimeout: c.idleTimeout.Load(),
		Duplicates:          c.duplicates.Load(),
		Reordered:           c.reordered.Load(),
		BytesIn:             c.bytesIn.Load(),
		BytesOut:            c.bytesOut.Load(),
		Requests:            make(map[string]uint64, len(commands)),
		Rejected:            make(map[string]uint64, len(rejectReasons)),
	}
	for i, k := range commands {
		s.Requests[string(k)] = c.requests[i].Load()
	}
	for i, k := range rejectReasons {
		s.Rejected[k] = c.rejected[i].Load()
	}
	return s
}
