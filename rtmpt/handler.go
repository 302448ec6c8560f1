package rtmpt

import (
	"errors"
	"net"
	"runtime/debug"
	"time"

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
		s.stats.reject(RejectServerClosed)
		writeReply(ctx, fasthttp.StatusServiceUnavailable, nil)
		return
	}
	if !ctx.IsPost() {
		s.stats.reject(RejectMethod)
		ctx.Response.Header.Set(fasthttp.HeaderAllow, fasthttp.MethodPost)
		writeHTTPError(ctx, fasthttp.StatusMethodNotAllowed)
		return
	}
	p, err := parsePath(string(ctx.RequestURI()))
	switch {
	case errors.Is(err, errUnknownPath):
		s.stats.reject(RejectPath)
		writeHTTPError(ctx, fasthttp.StatusNotFound)
		return
	case err != nil:
		s.stats.reject(RejectMalformed)
		writeReply(ctx, fasthttp.StatusBadRequest, nil)
		return
	}
	s.stats.request(p.cmd)
	body := ctx.PostBody()
	if len(body) > s.cfg.MaxBody { // fasthttp enforces it too; keep the invariant local
		s.stats.reject(RejectBodyTooLarge)
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
		writeReply(ctx, fasthttp.StatusInternalServerError, nil)
	case reason != "":
		s.stats.reject(reason)
		s.log.Warn("rtmpt open refused", "client", ipString(ctx.RemoteAddr()), "reason", reason)
		writeReply(ctx, fasthttp.StatusServiceUnavailable, nil)
	default:
		writeReply(ctx, fasthttp.StatusOK, []byte(sess.id+"\n"))
	}
}

// openSession creates a session owned by remote's IP and starts its
// handler, unless a limit is reached (reason is then a Reject* constant).
func (s *Server) openSession(remote, local net.Addr) (sess *session, reason string, err error) {
	sess = &session{srv: s, ip: ipString(remote)}
	sess.conn = newConn(sess, s.cfg.Buffer, remote, local)
	sess.touch(time.Now())
	if reason, err := s.table.add(sess); err != nil || reason != "" {
		return nil, reason, err
	}
	if s.closed.Load() {
		// Close ran between the request's check and add, and has already
		// ended the sessions it saw: do not leave this one behind.
		sess.end(endServerClose)
		return nil, RejectServerClosed, nil
	}
	s.stats.opened.Add(1)
	s.log.Info("rtmpt session opened", "session", sess.id, "client", sess.ip)
	go s.runHandler(sess)
	return sess, "", nil
}

// serveSession handles send, idle and close for an existing session.
func (s *Server) serveSession(ctx *fasthttp.RequestCtx, p tunnelPath, body []byte) {
	sess := s.table.get(p.id)
	if sess == nil {
		s.stats.reject(RejectUnknownSession)
		writeReply(ctx, fasthttp.StatusNotFound, nil)
		return
	}
	if ip := ipString(ctx.RemoteAddr()); ip != sess.ip {
		// Indistinguishable from an unknown id, and changes nothing: the
		// owner's idle clock is not reset either.
		s.stats.reject(RejectForeignIP)
		s.log.Warn("rtmpt request for a session of another client", "session", sess.id, "owner", sess.ip, "client", ip)
		writeReply(ctx, fasthttp.StatusNotFound, nil)
		return
	}
	sess.touch(time.Now())
	if p.cmd == cmdClose {
		writeReply(ctx, fasthttp.StatusOK, sess.closeReply())
		return
	}
	reply, ok := sess.serve(p.cmd, p.seq, body)
	if !ok {
		s.stats.reject(RejectUnknownSession)
		writeReply(ctx, fasthttp.StatusNotFound, nil)
		return
	}
	writeReply(ctx, fasthttp.StatusOK, reply)
}

// serveParseError answers requests fasthttp could not read.
func (s *Server) serveParseError(ctx *fasthttp.RequestCtx, err error) {
	if errors.Is(err, fasthttp.ErrBodyTooLarge) {
		s.stats.reject(RejectBodyTooLarge)
		writeReply(ctx, fasthttp.StatusRequestEntityTooLarge, nil)
		return
	}
	s.stats.reject(RejectBadRequest)
	writeHTTPError(ctx, fasthttp.StatusBadRequest)
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
