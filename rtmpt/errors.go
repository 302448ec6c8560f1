package rtmpt

import (
	"errors"
	"io"
)

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

// ErrSessionIdle is returned by Conn.Read and Conn.WriteTo, after the bytes
// already received, when the session ended because the client sent no
// request for IdleTimeout: it vanished without /close. The client's byte
// stream has ended, so errors.Is(err, io.EOF) holds too (code that only
// asks "is the stream over" needs nothing new); a relay that asks why can
// tell it from a /close (plain io.EOF) by errors.Is(err, ErrSessionIdle), or,
// without importing this package, by its PeerIdle method.
var ErrSessionIdle error = sessionIdle{}

type sessionIdle struct{}

func (sessionIdle) Error() string {
	return "rtmpt: tunnel session idle (no request within idle timeout)"
}
func (sessionIdle) Is(target error) bool { return target == io.EOF }
func (sessionIdle) Timeout() bool        { return true }
func (sessionIdle) PeerIdle() bool       { return true }

// ErrSessionFailed is returned by Conn.Read when the session failed on a
// protocol error (reorder window exceeded, a sequence gap that never filled,
// the handler not reading); the wrapped text names the reason.
var ErrSessionFailed = errors.New("rtmpt: tunnel session failed")
