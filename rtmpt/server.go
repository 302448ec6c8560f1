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
	log    *slog.Logger

	closed    atomic.Bool
	done      chan struct{} // closed by Close: stops the reaper
	lnMu      sync.Mutex
	listeners map[net.Listener]struct{}
}

// New builds a Server. handle runs in its own goroutine for each new tunnel
// session (after /open/1). After the call, the server never closes conn
// except when handle panics (the panic is recovered and logged): handle owns
// conn and is responsible for closing it, possibly from another goroutine.
func New(cfg Config, handle func(conn *Conn)) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("rtmpt config: %w", err)
	}
	if handle == nil {
		return nil, errors.New("rtmpt: nil session handler")
	}
	cfg = cfg.withDefaults()
	s := &Server{
		cfg:       cfg,
		handle:    handle,
		table:     newTable(cfg.MaxSessions, cfg.MaxSessionsPerIP),
		log:       slog.Default().With("component", "rtmpt"),
		done:      make(chan struct{}),
		listeners: make(map[net.Listener]struct{}),
	}
	s.http = &fasthttp.Server{
		Handler:      s.serveHTTP,
		ErrorHandler: s.serveParseError,
		// A request (headers + body) must arrive within the idle timeout,
		// and a keep-alive connection may wait that long for the next one.
		ReadTimeout:                  cfg.IdleTimeout,
		WriteTimeout:                 cfg.IdleTimeout,
		IdleTimeout:                  cfg.IdleTimeout,
		MaxRequestBodySize:           cfg.MaxBody,
		ReadBufferSize:               4096, // also the cap on request headers
		DisablePreParseMultipartForm: true,
		NoDefaultServerHeader:        true,
		NoDefaultDate:                true,
		NoDefaultContentType:         true,
		Logger:                       fasthttpLogger{s.log},
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

// Stats returns a snapshot of the counters.
func (s *Server) Stats() Stats { return s.stats.snapshot() }

// reap ends sessions that stayed idle, or kept a sequence gap, past the idle
// timeout. It checks a few times per timeout, so a session lives at most
// about 1.25 × IdleTimeout without requests.
func (s *Server) reap() {
	tick := min(max(s.cfg.IdleTimeout/4, 5*time.Millisecond), time.Second)
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
