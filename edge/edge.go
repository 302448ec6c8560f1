// Package edge is rtmp-edge's front: it accepts clients (RTMP, and RTMPT
// through package rtmpt), ends their RTMP handshake, reads their connect
// command, asks package routing for a media server, and hands the rest to
// package upstream (dial, media-server handshake, relay). See DESIGN.md.
package edge

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/rtmp-edge/rtmp-edge/routing"
	"github.com/rtmp-edge/rtmp-edge/rtmpt"
	"github.com/rtmp-edge/rtmp-edge/upstream"
)

// Options are what the edge needs besides its Config.
type Options struct {
	// Logger receives the session and health lines; nil means slog.Default().
	Logger *slog.Logger
	// Registry receives the metrics; nil means a registry of the edge's own,
	// served on Config.Admin.Address.
	Registry *prometheus.Registry
}

// Edge runs the listeners and health checks of one Config.
type Edge struct {
	cfg       Config
	log       *slog.Logger
	registry  *prometheus.Registry
	metrics   *metrics
	backends  map[string]*backend
	listeners []*listener
	metricsLn net.Listener

	mu    sync.Mutex
	conns map[io.Closer]struct{} // every client conn and tunnel session, closed at shutdown
}

// backend is a pool of media servers with the dialer that reaches them.
type backend struct {
	cfg             BackendConfig
	pool            *routing.Pool
	dialer          *upstream.Dialer
	hasUploadServer bool
}

// New validates cfg and builds the edge; nothing listens yet.
// When a backend dials from the client's address (source clientip/client) it
// checks here, once, that the host is set up for it.
func New(cfg Config, opts Options) (*Edge, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	e := &Edge{cfg: cfg, log: opts.Logger, registry: opts.Registry, backends: map[string]*backend{}, conns: map[io.Closer]struct{}{}}
	if e.log == nil {
		e.log = slog.Default()
	}
	if e.registry == nil {
		e.registry = prometheus.NewRegistry()
	}
	e.metrics = newMetrics(e.registry)
	transparent := false
	for _, bc := range cfg.Backends {
		pool, err := routing.NewPool(bc.PoolConfig)
		if err != nil {
			return nil, fmt.Errorf("backend %s: %w", bc.Name, err)
		}
		dialer, err := upstream.NewDialer(bc.DialConfig)
		if err != nil {
			return nil, fmt.Errorf("backend %s: %w", bc.Name, err)
		}
		b := &backend{cfg: bc, pool: pool, dialer: dialer}
		for _, s := range pool.Servers() {
			b.hasUploadServer = b.hasUploadServer || s.Upload()
			e.metrics.setServerUp(bc.Name, s.Name, s.Healthy())
		}
		e.backends[bc.Name] = b
		if bc.Source == "clientip" || bc.Source == "client" {
			transparent = true
		}
	}
	if transparent {
		if err := upstream.CheckTransparent(); err != nil {
			return nil, fmt.Errorf("source clientip/client cannot work on this host: %w", err)
		}
	}
	return e, nil
}

// Listen binds every listener (and the metrics endpoint), so that address
// errors come out before anything is served.
func (e *Edge) Listen() error {
	for _, lc := range e.cfg.Listeners {
		ln, err := net.Listen("tcp", lc.Address)
		if err != nil {
			e.closeListeners()
			return fmt.Errorf("listener %s: %w", lc.Name, err)
		}
		e.listeners = append(e.listeners, &listener{e: e, cfg: lc.withDefaults(), backend: e.backends[lc.Backend], ln: ln})
	}
	if e.cfg.Admin.Address != "" {
		ln, err := net.Listen("tcp", e.cfg.Admin.Address)
		if err != nil {
			e.closeListeners()
			return fmt.Errorf("admin: %w", err)
		}
		e.metricsLn = ln
	}
	return nil
}

// Addr is the bound address of the named listener (nil before Listen).
func (e *Edge) Addr(name string) net.Addr {
	for _, l := range e.listeners {
		if l.cfg.Name == name {
			return l.ln.Addr()
		}
	}
	return nil
}

// Serve runs until ctx is done: it accepts clients and runs health checks.
// Then it stops accepting, gives running sessions up to grace to end, closes
// the rest and returns.
func (e *Edge) Serve(ctx context.Context, grace time.Duration) error {
	if len(e.listeners) == 0 {
		if err := e.Listen(); err != nil {
			return err
		}
	}
	checks, stopChecks := context.WithCancel(context.Background())
	defer stopChecks()
	var checksWG sync.WaitGroup
	e.startHealthChecks(checks, &checksWG)

	var httpSrv *http.Server
	if e.metricsLn != nil {
		mux := http.NewServeMux()
		mux.Handle("/metrics", promhttp.HandlerFor(e.registry, promhttp.HandlerOpts{}))
		mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok\n") })
		httpSrv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
		go func() { _ = httpSrv.Serve(e.metricsLn) }()
	}

	for _, l := range e.listeners {
		l.ctx = ctx
		if l.cfg.MaxConn > 0 {
			l.slots = make(chan struct{}, l.cfg.MaxConn)
		}
		if l.cfg.serves(ProtoRTMPT) {
			ts, err := rtmpt.New(l.cfg.RTMPT, l.serveTunnel)
			if err != nil {
				return fmt.Errorf("listener %s: %w", l.cfg.Name, err)
			}
			l.tunnel = ts
		}
		l.wg.Add(1)
		go l.acceptLoop()
		e.log.Info("listening", "listener", l.cfg.Name, "address", l.ln.Addr().String(), "protocols", l.cfg.Protocols, "backend", l.cfg.Backend)
	}

	<-ctx.Done()
	e.log.Info("stopping: no new clients", "grace", grace.String())
	e.closeListeners()
	if httpSrv != nil {
		_ = httpSrv.Close()
	}
	done := make(chan struct{})
	go func() {
		for _, l := range e.listeners {
			l.wg.Wait()
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(grace):
		e.closeConns()
		for _, l := range e.listeners {
			if l.tunnel != nil {
				_ = l.tunnel.Close()
			}
		}
		<-done
	}
	stopChecks()
	checksWG.Wait()
	return nil
}

func (e *Edge) closeListeners() {
	for _, l := range e.listeners {
		_ = l.ln.Close()
	}
	if e.metricsLn != nil {
		_ = e.metricsLn.Close()
	}
}

// track registers a client conn so shutdown can close it; the returned func
// forgets it.
func (e *Edge) track(c io.Closer) func() {
	e.mu.Lock()
	e.conns[c] = struct{}{}
	e.mu.Unlock()
	return func() {
		e.mu.Lock()
		delete(e.conns, c)
		e.mu.Unlock()
	}
}

func (e *Edge) closeConns() {
	e.mu.Lock()
	defer e.mu.Unlock()
	for c := range e.conns {
		_ = c.Close()
	}
}

func (e *Edge) startHealthChecks(ctx context.Context, wg *sync.WaitGroup) {
	for _, b := range e.backends {
		if b.cfg.Check.Type == "none" {
			continue
		}
		for _, s := range b.pool.Servers() {
			hc := &upstream.HealthCheck{
				Config:  b.cfg.Check,
				Server:  s.Name,
				Address: s.Address(),
				Logger:  e.log.With("backend", b.cfg.Name),
				// A server that expects PROXY headers gets one from the check too.
				ProxyProtocol: b.cfg.ProxyProtocol,
				// The check logs "server down"/"server up" itself, once per change.
				OnChange: func(up bool, _ string) {
					if s.SetHealthy(up) {
						e.metrics.setServerUp(b.cfg.Name, s.Name, up)
					}
				},
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				hc.Run(ctx)
			}()
		}
	}
}
