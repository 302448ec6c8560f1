package rtmpt

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
)

// Server serves RTMPT tunnels and turns each session into a Conn for its
// handler.
type Server struct {
	cfg    Config
	handle func(conn *Conn)
	http   *fasthttp.Server
	table  *table
	stats  counters
	mem    *budget
	log    *slog.Logger
	opts   Options

	closed    atomic.Bool
	done      chan struct{} // closed by Close: stops the reaper
	lnMu      sync.Mutex
	listeners map[net.Listener]struct{}
}

// Options are the parts of a Server that are code, not configuration.
type Options struct {
	// OnRefuse, if set, is called once for every refusal counted in
	// Stats.Rejected: a refused request (remote is its connection's peer)
	// or a failed session (remote is its Conn.RemoteAddr). reason is a
	// Reject* constant and err says what happened. It runs on the request's
	// goroutine (or the reaper's), so it must be quick and must not call
	// back into the Server; the edge logs it, rate-limited, like an RTMP
	// rejection. The package itself logs refusals only at Debug, so a flood
	// of bad requests cannot flood the log.
	OnRefuse func(reason string, remote net.Addr, err error)
	// Logger receives the package's own lines (Debug session lines, Error
	// for recovered panics). nil means slog.Default().
	Logger *slog.Logger
}

// New builds a Server with no Options; see NewServer.
func New(cfg Config, handle func(conn *Conn)) (*Server, error) {
	return NewServer(cfg, handle, Options{})
}

// NewServer builds a Server. handle runs in its own goroutine for each new
// tunnel session (after /open/1). After the call, the server never closes
// conn except when handle panics (the panic is recovered and logged): handle
// owns conn and is responsible for closing it, possibly from another
// goroutine.
func NewServer(cfg Config, handle func(conn *Conn), opts Options) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("rtmpt config: %w", err)
	}
	if handle == nil {
		return nil, errors.New("rtmpt: nil session handler")
	}
	cfg = cfg.withDefaults()
	logger := opts.Logger
	if logger == nil {
		logger = slog.Default()
	}
	s := &Server{
		cfg:       cfg,
		handle:    handle,
		table:     newTable(cfg.MaxSessions, cfg.MaxSessionsPerIP),
		mem:       newBudget(cfg.MemoryBudget),
		log:       logger.With("component", "rtmpt"),
		opts:      opts,
		done:      make(chan struct{}),
		listeners: make(map[net.Listener]struct{}),
	}
	s.http = &fasthttp.Server{
		Handler:      s.serveHTTP,
		ErrorHandler: s.serveParseError,
		// HTTP timeouts of their own, as short as the RTMP handshake's: the
		// tunnel session's IdleTimeout (30 s) is about a client between
		// polls, and would let slow requests hold connections six times
		// longer than a TCP client may take for its handshake.
		ReadTimeout:                  cfg.HTTPReadTimeout,
		WriteTimeout:                 cfg.HTTPWriteTimeout,
		IdleTimeout:                  cfg.HTTPIdleTimeout,
		MaxRequestBodySize:           cfg.MaxBody,
		ReadBufferSize:               4096, // also the cap on request headers
		DisablePreParseMultipartForm: true,
		// Many long-lived, mostly quiet keep-alive connections: give the
		// request context and the read/write buffers back to fasthttp's
		// pools between requests (about 14 KiB less per idle session, see
		// BenchmarkIdleSessionMemory), for a pool get/put per request.
		ReduceMemoryUsage:     true,
		NoDefaultServerHeader: true,
		NoDefaultDate:         true,
		NoDefaultContentType:  true,
		Logger:                fasthttpLogger{s.log},
	}
	go s.reap()
	return s, nil
}

// ServeConn serves HTTP requests on one accepted connection until it is done,
// then closes it. The client IP is c.RemoteAddr().
func (s *Server) ServeConn(c net.Conn) error {
	if s.closed.Load() {
		_ = c.Close()
		return ErrServerClosed
	}
	if err := s.http.ServeConn(c); err != nil {
		return fmt.Errorf("rtmpt serve conn from %s: %w", c.RemoteAddr(), err)
	}
	return nil
}

// Serve accepts connections on ln and serves each, until Close (which closes
// ln; Serve then returns ErrServerClosed).
func (s *Server) Serve(ln net.Listener) error {
	s.lnMu.Lock()
	if s.closed.Load() {
		s.lnMu.Unlock()
		return ErrServerClosed
	}
	s.listeners[ln] = struct{}{}
	s.lnMu.Unlock()
	err := s.http.Serve(ln)
	s.lnMu.Lock()
	delete(s.listeners, ln)
	s.lnMu.Unlock()
	if s.closed.Load() {
		return ErrServerClosed
	}
	if err != nil {
		return fmt.Errorf("rtmpt serve %s: %w", ln.Addr(), err)
	}
	return nil
}

// Close stops the listeners given to Serve, ends every session (their
// handlers' Reads return EOF) and closes idle HTTP connections. Requests
// arriving afterwards get 503.
func (s *Server) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	close(s.done)
	var errs []error
	s.lnMu.Lock()
	for ln := range s.listeners {
		if err := ln.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			errs = append(errs, fmt.Errorf("close listener %s: %w", ln.Addr(), err))
		}
	}
	s.lnMu.Unlock()
	for _, sess := range s.table.all() {
		sess.end(endServerClose)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	// Busy connections finish their current request; only idle ones close now.
	if err := s.http.ShutdownWithContext(ctx); err != nil && !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, net.ErrClosed) {
		errs = append(errs, fmt.Errorf("shut down http: %w", err))
	}
	return errors.Join(errs...)
}

// Sessions reports the number of live tunnel sessions.
func (s *Server) Sessions() int { return s.table.count() }

// Stats returns a snapshot of the counters and gauges.
func (s *Server) Stats() Stats {
	st := s.stats.snapshot()
	st.Sessions, st.SessionsPending = s.table.counts()
	st.MemoryInUse = s.mem.inUse()
	st.MemoryParked = s.mem.parked.Load()
	st.MemoryPeak = s.mem.peak.Load()
	st.MemoryBudget = s.mem.limit
	return st
}

// refuse counts one refusal and reports it to Options.OnRefuse. A panic in
// the hook is the edge's bug, but it must not take the request down.
func (s *Server) refuse(reason string, remote net.Addr, err error) {
	s.stats.reject(reason)
	s.log.Debug("rtmpt refused", "reason", reason, "client", ipString(remote), "err", err)
	if s.opts.OnRefuse == nil {
		return
	}
	defer func() {
		if r := recover(); r != nil {
			s.log.Error("rtmpt OnRefuse panic", "panic", r, "stack", string(debug.Stack()))
		}
	}()
	s.opts.OnRefuse(reason, remote, err)
}

// reap ends sessions that stayed idle, or kept a sequence gap, past the idle
// timeout, and sessions abandoned past the open timeout. It checks a few
// times per (shorter) timeout, so a session lives at most about 1.25 × its
// timeout without requests.
func (s *Server) reap() {
	tick := min(max(min(s.cfg.IdleTimeout, s.cfg.OpenTimeout)/4, 5*time.Millisecond), time.Second)
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		select {
		case <-s.done:
			return
		case now := <-t.C:
			s.reapOnce(now)
		}
	}
}

func (s *Server) reapOnce(now time.Time) {
	defer func() {
		if r := recover(); r != nil {
			s.log.Error("rtmpt reaper panic", "panic", r, "stack", string(debug.Stack()))
		}
	}()
	for _, sess := range s.table.abandoned(now.Add(-s.cfg.OpenTimeout)) {
		sess.end(endAbandoned)
	}
	for _, sess := range s.table.all() {
		sess.expire(now)
	}
}

// runHandler runs the session handler. The handler owns the Conn (it may
// hand it to another goroutine and return), so the Conn is closed here only
// when the handler panics.
func (s *Server) runHandler(sess *session) {
	defer func() {
		if r := recover(); r != nil {
			s.log.Error("rtmpt session handler panic", "session", sess.id, "panic", r, "stack", string(debug.Stack()))
			_ = sess.conn.Close()
		}
	}()
	s.handle(sess.conn)
}

// fasthttpLogger sends fasthttp's own messages to slog at debug level: they
// are about malformed client requests, which are counted in Stats anyway.
type fasthttpLogger struct{ log *slog.Logger }

func (l fasthttpLogger) Printf(format string, args ...any) {
	l.log.Debug(fmt.Sprintf(format, args...))
}
