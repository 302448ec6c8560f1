package rtmpt

import "sync/atomic"

// Reasons a request is rejected, as used in Stats.Rejected.
const (
	RejectMethod         = "method"          // not a POST (405)
	RejectPath           = "path"            // not an RTMPT path (404)
	RejectMalformed      = "malformed"       // RTMPT path with a bad id or sequence number (400)
	RejectUnknownSession = "unknown_session" // no such session, or it has ended (404)
	RejectForeignIP      = "foreign_ip"      // session opened by another client IP (404)
	RejectSessionLimit   = "session_limit"   // MaxSessions reached (503)
	RejectPerIPLimit     = "per_ip_limit"    // MaxSessionsPerIP reached (503)
	RejectBodyTooLarge   = "body_too_large"  // body above MaxBody (413)
	RejectBadRequest     = "bad_request"     // fasthttp could not parse the request
	RejectServerClosed   = "server_closed"   // Close was called (503)
)

// Stats is a snapshot of the server's counters, for metrics export.
type Stats struct {
	SessionsOpened uint64
	SessionsClosed uint64
	// SessionsFailed counts sessions ended by a protocol failure (reorder
	// window exceeded, sequence gap timeout); they are in SessionsClosed too.
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
}

var commands = [...]command{cmdFCS, cmdOpen, cmdSend, cmdIdle, cmdClose}

var rejectReasons = [...]string{
	RejectMethod, RejectPath, RejectMalformed, RejectUnknownSession, RejectForeignIP,
	RejectSessionLimit, RejectPerIPLimit, RejectBodyTooLarge, RejectBadRequest, RejectServerClosed,
}

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
