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

// open creates a session for the client IP and starts its handler.
func (s *Server) open(ctx *fasthttp.RequestCtx) {
	sess := &session{srv: s, ip: ipString(ctx.RemoteAddr())}
	release, reason, err := s.table.add(sess)
	if err != nil {
		s.log.Error("rtmpt open", "err", err)
		writeReply(ctx, fasthttp.StatusInternalServerError, nil)
		return
	}
	if reason != "" {
		s.stats.reject(reason)
		s.log.Warn("rtmpt open refused", "client", sess.ip, "reason", reason)
		writeReply(ctx, fasthttp.StatusServiceUnavailable, nil)
		return
	}
	sess.release = release
	sess.conn = newConn(sess, s.cfg.Buffer, ctx.RemoteAddr(), ctx.LocalAddr())
	sess.touch(time.Now())
	s.stats.opened.Add(1)
	s.log.Info("rtmpt session opened", "session", sess.id, "client", sess.ip)
	go s.runHandler(sess)
	writeReply(ctx, fasthttp.StatusOK, []byte(sess.id+"\n"))
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
