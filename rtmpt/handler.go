package rtmpt

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"runtime/debug"
	"time"
	"unsafe"

	"github.com/valyala/fasthttp"
)

// serveHTTP dispatches one HTTP request. fasthttp calls it sequentially per
// connection, so pipelined requests are answered in order.
func (s *Server) serveHTTP(ctx *fasthttp.RequestCtx) {
	defer func() {
		if r := recover(); r != nil {
			s.log.Error("rtmpt request panic", "panic", r, "stack", string(debug.Stack()))
			ctx.ResetBody()
			writeHTTPError(ctx, fasthttp.StatusInternalServerError)
		}
	}()
	if s.closed.Load() {
		s.refuse(RejectServerClosed, ctx.RemoteAddr(), ErrServerClosed)
		writeReply(ctx, fasthttp.StatusServiceUnavailable, nil)
		return
	}
	if !ctx.IsPost() {
		s.refuse(RejectMethod, ctx.RemoteAddr(), fmt.Errorf("method %q, want POST", ctx.Method()))
		ctx.Response.Header.Set(fasthttp.HeaderAllow, fasthttp.MethodPost)
		writeHTTPError(ctx, fasthttp.StatusMethodNotAllowed)
		return
	}
	// A view of fasthttp's URI bytes, valid for this request: parsePath and
	// everything below use p.id only to look the session up and to format
	// errors, and keep no reference, so the conversion need not copy.
	p, err := parsePath(bytesView(ctx.RequestURI()))
	switch {
	case errors.Is(err, errUnknownPath):
		s.refuse(RejectPath, ctx.RemoteAddr(), fmt.Errorf("%w: %.64q", err, ctx.RequestURI()))
		writeHTTPError(ctx, fasthttp.StatusNotFound)
		return
	case err != nil:
		s.refuse(RejectMalformed, ctx.RemoteAddr(), fmt.Errorf("%w: %.64q", err, ctx.RequestURI()))
		writeReply(ctx, fasthttp.StatusBadRequest, nil)
		return
	}
	s.stats.request(p.cmd)
	body := ctx.PostBody()
	if len(body) > s.cfg.MaxBody { // fasthttp enforces it too; keep the invariant local
		s.refuse(RejectBodyTooLarge, ctx.RemoteAddr(), fmt.Errorf("body of %d bytes, max_body %d", len(body), s.cfg.MaxBody))
		writeReply(ctx, fasthttp.StatusRequestEntityTooLarge, nil)
		return
	}
	switch p.cmd {
	case cmdFCS:
		// Red5 and FMS answer ident2 with 404; Shumway insists on it, and the
		// other clients ignore the answer.
		writeReply(ctx, fasthttp.StatusNotFound, nil)
	case cmdOpen:
		s.open(ctx)
	default:
		s.serveSession(ctx, p, body)
	}
}

// open answers /open/1: a new session for the client IP, or 503 at a limit.
func (s *Server) open(ctx *fasthttp.RequestCtx) {
	sess, reason, err := s.openSession(ctx.RemoteAddr(), ctx.LocalAddr())
	switch {
	case err != nil:
		s.log.Error("rtmpt open", "err", err)
		s.refuse(RejectInternal, ctx.RemoteAddr(), err)
		writeReply(ctx, fasthttp.StatusInternalServerError, nil)
	case reason != "":
		s.refuse(reason, ctx.RemoteAddr(), fmt.Errorf("open refused: %s (max_sessions %d, max_sessions_per_ip %d)", reason, s.cfg.MaxSessions, s.cfg.MaxSessionsPerIP))
		writeReply(ctx, fasthttp.StatusServiceUnavailable, nil)
	default:
		writeReply(ctx, fasthttp.StatusOK, []byte(sess.id+"\n"))
	}
}

// maxEvictions bounds how many pending sessions one /open may displace
// while racing other opens for the freed slot.
const maxEvictions = 4

// openSession creates a session owned by remote's IP and starts its
// handler, unless a limit is reached and no pending session can make room
// (reason is then a Reject* constant).
func (s *Server) openSession(remote, local net.Addr) (sess *session, reason string, err error) {
	now := time.Now()
	sess = &session{srv: s, ip: ipString(remote), addr: addrIP(remote), opened: now}
	sess.conn = newConn(sess, s.cfg.Buffer, s.mem, remote, local)
	sess.touch(now)
	for try := 0; ; try++ {
		victim, reason, err := s.table.add(sess)
		if err != nil || reason != "" {
			return nil, reason, err
		}
		if victim == nil {
			break
		}
		if try == maxEvictions {
			return nil, RejectSessionLimit, nil
		}
		victim.end(endEvicted)
	}
	if s.closed.Load() {
		// Close ran between the request's check and add, and has already
		// ended the sessions it saw: do not leave this one behind.
		sess.end(endServerClose)
		return nil, RejectServerClosed, nil
	}
	s.stats.opened.Add(1)
	s.log.Debug("rtmpt session opened", "session", sess.id, "client", sess.ip)
	go s.runHandler(sess)
	return sess, "", nil
}

// serveSession handles send, idle and close for an existing session.
func (s *Server) serveSession(ctx *fasthttp.RequestCtx, p tunnelPath, body []byte) {
	sess := s.table.get(p.id)
	if sess == nil {
		s.refuse(RejectUnknownSession, ctx.RemoteAddr(), fmt.Errorf("%s for unknown or ended session %.64q", p.cmd, p.id))
		writeReply(ctx, fasthttp.StatusNotFound, nil)
		return
	}
	if !sess.ownedBy(ctx.RemoteAddr()) {
		// Indistinguishable from an unknown id, and changes nothing: the
		// owner's idle clock is not reset either.
		s.refuse(RejectForeignIP, ctx.RemoteAddr(), fmt.Errorf("%s for session %s of client %s", p.cmd, sess.id, sess.ip))
		writeReply(ctx, fasthttp.StatusNotFound, nil)
		return
	}
	sess.touch(time.Now())
	if p.cmd == cmdClose {
		writeReply(ctx, fasthttp.StatusOK, sess.closeReply())
		return
	}
	if p.cmd == cmdSend && len(body) > 0 && !sess.confirmed.Load() {
		// The first byte: a real client, no longer displaceable by opens.
		sess.confirmed.Store(true)
		s.table.confirm(sess)
	}
	reply, fail := sess.serve(p.cmd, p.seq, body)
	switch fail {
	case "":
		writeReply(ctx, fasthttp.StatusOK, reply)
	case endGone:
		s.refuse(RejectUnknownSession, ctx.RemoteAddr(), fmt.Errorf("%s for ended session %s", p.cmd, sess.id))
		writeReply(ctx, fasthttp.StatusNotFound, nil)
	case endBudget:
		// Counted and reported by the session's end, like every failure.
		writeReply(ctx, fasthttp.StatusServiceUnavailable, nil)
	default:
		writeReply(ctx, fasthttp.StatusNotFound, nil)
	}
}

// serveParseError answers requests fasthttp could not read.
// A request that does not arrive within HTTPReadTimeout (a slow or stalled
// client, or a connection that never sent one) is a refusal like any other.
func (s *Server) serveParseError(ctx *fasthttp.RequestCtx, err error) {
	var small *fasthttp.ErrSmallBuffer
	var ne net.Error
	switch {
	case errors.Is(err, fasthttp.ErrBodyTooLarge):
		s.refuse(RejectBodyTooLarge, ctx.RemoteAddr(), err)
		writeReply(ctx, fasthttp.StatusRequestEntityTooLarge, nil)
	case errors.Is(err, os.ErrDeadlineExceeded) || errors.As(err, &ne) && ne.Timeout():
		s.refuse(RejectHTTPTimeout, ctx.RemoteAddr(), fmt.Errorf("request not complete within http_read_timeout %v: %w", s.cfg.HTTPReadTimeout, err))
		writeHTTPError(ctx, fasthttp.StatusRequestTimeout)
	case errors.As(err, &small):
		s.refuse(RejectHeaderTooLarge, ctx.RemoteAddr(), err)
		writeHTTPError(ctx, fasthttp.StatusRequestHeaderFieldsTooLarge)
	default:
		s.refuse(RejectBadRequest, ctx.RemoteAddr(), err)
		writeHTTPError(ctx, fasthttp.StatusBadRequest)
	}
}

// bytesView returns b as a string without copying. The string is valid only
// while b is unchanged (for a request's URI: until the handler returns), so
// nothing may keep it.
func bytesView(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

// addrIP returns the IP of a connection address without allocating (it is
// compared on every request), IPv4-mapped IPv6 unmapped as ipString does.
func addrIP(a net.Addr) netip.Addr {
	if t, ok := a.(*net.TCPAddr); ok {
		ip, _ := netip.AddrFromSlice(t.IP)
		return ip.Unmap()
	}
	ip, _ := netip.ParseAddr(ipString(a))
	return ip.Unmap()
}

// ipString returns the IP of a connection address, the key sessions belong to.
func ipString(a net.Addr) string {
	switch a := a.(type) {
	case *net.TCPAddr:
		return a.IP.String()
	case nil:
		return ""
	}
	host, _, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	return host
}
