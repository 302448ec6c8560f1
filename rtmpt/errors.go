package rtmpt

import "errors"

// Sentinel errors. Wrapped errors name the failing step; match with errors.Is.
var (
	// ErrSessionEnded is returned by Conn.Write (and by a blocked Read of the
	// client) once the tunnel session is over: the client closed it, it timed
	// out, it failed, or the server closed.
	ErrSessionEnded = errors.New("rtmpt: tunnel session ended")
	// ErrServerClosed is returned by Serve and ServeConn after Close.
	ErrServerClosed = errors.New("rtmpt: server closed")
	// ErrBadOpenReply: the server's /open/1 reply is not "<alnum id>\n".
	ErrBadOpenReply = errors.New("rtmpt: bad open reply")
	// ErrBadStatus: the server answered a tunnel request with an unexpected status.
	ErrBadStatus = errors.New("rtmpt: unexpected http status")
	// ErrEmptyReply: a send/idle reply without the polling-interval byte.
	ErrEmptyReply = errors.New("rtmpt: reply without interval byte")
	// ErrReplyTooLarge: a reply body above the client's cap.
	ErrReplyTooLarge = errors.New("rtmpt: reply too large")
)

// ErrSessionFailed is returned by Conn.Read when the session failed on a
// protocol error (reorder window exceeded, a sequence gap that never filled,
// the handler not reading); the wrapped text names the reason.
var ErrSessionFailed = errors.New("rtmpt: tunnel session failed")
