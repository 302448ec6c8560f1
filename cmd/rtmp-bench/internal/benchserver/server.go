// Package benchserver is rtmp-bench's own minimal media server: in sink mode
// it accepts publishes and discards them (players get Play.Start and then
// nothing, which makes mostly idle sessions cheap to hold); in source mode
// players also receive a generated stream. It lets a bench measure a proxy
// rather than a media server.
package benchserver

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

	"github.com/rtmp-edge/rtmp-edge/cmd/rtmp-bench/internal/flvsrc"
	"github.com/rtmp-edge/rtmp-edge/cmd/rtmp-bench/internal/rtmpraw"
)

// Config configures a Server.
type Config struct {
	Source    bool          // players receive a generated stream (else nothing)
	FLV       *flvsrc.File  // what source mode plays; nil = synthetic
	Bitrate   int           // source mode, bits/s per player; 0 = as fast as possible
	FPS, GOP  int           // synthetic shape
	ChunkSize int           // outgoing chunk size; 0 = 60000
	MaxConns  int           // refuse connections above this many; 0 = 100000
	Timeout   time.Duration // handshake and session setup; 0 = rtmpraw.DefaultTimeout
	Logger    *slog.Logger  // nil = slog.Default()
}

// Stats counts what the server saw.
type Stats struct {
	Conns      int64 // open now
	Publishing int64 // publishing now
	Playing    int64 // playing now
	Sessions   uint64
	BytesIn    uint64
	BytesOut   uint64
}

// Server is a sink or source RTMP server.
type Server struct {
	cfg Config
	log *slog.Logger

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu    sync.Mutex
	conns map[net.Conn]struct{}

	open, publishing, playing   atomic.Int64
	sessions, bytesIn, bytesOut atomic.Uint64
}

// New returns a Server; it does nothing until Serve.
func New(cfg Config) *Server {
	if cfg.ChunkSize <= 0 {
		cfg.ChunkSize = 60000
	}
	if cfg.MaxConns <= 0 {
		cfg.MaxConns = 100000
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Server{cfg: cfg, log: cfg.Logger, ctx: ctx, cancel: cancel, conns: make(map[net.Conn]struct{})}
}

// Stats returns the counters now.
func (s *Server) Stats() Stats {
	return Stats{Conns: s.open.Load(), Publishing: s.publishing.Load(), Playing: s.playing.Load(),
		Sessions: s.sessions.Load(), BytesIn: s.bytesIn.Load(), BytesOut: s.bytesOut.Load()}
}

// Accept back-off bounds, so that EMFILE does not spin a core.
const (
	backoffMin = 5 * time.Millisecond
	backoffMax = time.Second
)

// Serve accepts on ln until Close (then returns nil) or a permanent error.
func (s *Server) Serve(ln net.Listener) error {
	stop := context.AfterFunc(s.ctx, func() { _ = ln.Close() })
	defer stop()
	delay := backoffMin
	for {
		c, err := ln.Accept()
		if err != nil {
			if s.ctx.Err() != nil {
				return nil
			}
			if errors.Is(err, net.ErrClosed) {
				return fmt.Errorf("bench server accept: %w", err)
			}
			s.log.Warn("accept failed, backing off", "err", err, "delay", delay)
			select {
			case <-s.ctx.Done():
				return nil
			case <-time.After(delay):
			}
			delay = min(2*delay, backoffMax)
			continue
		}
		delay = backoffMin
		if s.open.Load() >= int64(s.cfg.MaxConns) {
			_ = c.Close()
			continue
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.ServeConn(c)
		}()
	}
}

// ServeConn serves one connection (an accepted TCP connection or an RTMPT
// tunnel session) until it ends, and closes it.
func (s *Server) ServeConn(c net.Conn) {
	s.track(c, true)
	defer s.track(c, false)
	s.handle(c)
}

// Close stops accepting and closes every connection.
func (s *Server) Close() error {
	s.cancel()
	s.mu.Lock()
	for c := range s.conns {
		_ = c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	return nil
}

func (s *Server) track(c net.Conn, add bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if add {
		s.conns[c] = struct{}{}
		s.open.Add(1)
		if s.ctx.Err() != nil { // raced with Close
			_ = c.Close()
		}
		return
	}
	delete(s.conns, c)
	s.open.Add(-1)
}

func (s *Server) handle(c net.Conn) {
	defer c.Close()
	defer func() {
		if r := recover(); r != nil {
			s.log.Error("connection panic", "client", c.RemoteAddr().String(), "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
		}
	}()
	rc := rtmpraw.NewConn(rtmpraw.CountingConn{Conn: c, In: &s.bytesIn, Out: &s.bytesOut})
	rc.ChunkSize = s.cfg.ChunkSize
	rc.Timeout = s.cfg.Timeout
	if err := rc.ServerHandshake(); err != nil {
		s.log.Debug("handshake failed", "client", c.RemoteAddr().String(), "err", err)
		return
	}
	req, err := rc.AcceptSession()
	if err != nil {
		s.log.Debug("session setup failed", "client", c.RemoteAddr().String(), "err", err)
		return
	}
	s.sessions.Add(1)
	if req.Publish {
		s.publishing.Add(1)
		defer s.publishing.Add(-1)
		s.drain(rc)
		return
	}
	s.playing.Add(1)
	defer s.playing.Add(-1)
	if !s.cfg.Source {
		s.drain(rc)
		return
	}
	s.serveStream(rc, req.StreamID)
}

// drain reads and discards until the client leaves.
func (s *Server) drain(rc *rtmpraw.Conn) {
	for {
		if _, err := rc.ReadMessage(); err != nil {
			return
		}
	}
}

// serveStream sends the generated stream to a player until it leaves. A
// reader goroutine handles the player's acknowledgements and notices the close.
func (s *Server) serveStream(rc *rtmpraw.Conn, sid uint32) {
	gone := make(chan struct{})
	go func() {
		defer close(gone)
		defer func() {
			if r := recover(); r != nil {
				s.log.Error("player reader panic", "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
				_ = rc.Close()
			}
		}()
		s.drain(rc)
	}()
	var src flvsrc.Source
	if s.cfg.FLV != nil {
		src = s.cfg.FLV.Loop()
	} else {
		src = flvsrc.NewSynthetic(flvsrc.SyntheticParams{Bitrate: s.cfg.Bitrate, FPS: s.cfg.FPS, GOP: s.cfg.GOP})
	}
	write := func(b []byte) error {
		_ = rc.NetConn().SetWriteDeadline(time.Now().Add(playerWriteTimeout))
		return rc.Write(b)
	}
	_ = flvsrc.Send(gone, src, write, flvsrc.SendOptions{StreamID: sid, ChunkSize: s.cfg.ChunkSize, Bitrate: s.cfg.Bitrate, ToPlayer: true})
}

// playerWriteTimeout drops a player that takes nothing for this long.
const playerWriteTimeout = 30 * time.Second
