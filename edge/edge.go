// Package edge is rtmp-edge's front: it accepts clients (RTMP, and RTMPT
// through package rtmpt), ends their RTMP handshake, reads their connect
// command, asks package routing for a media server, and hands the rest to
// package upstream (dial, media-server handshake, relay).
//
// Three things live while the edge runs, each an object of this package:
//
//   - the Edge, the process-wide part: the listening sockets, the routing
//     pools with their health checks, the session registry, the admin endpoint
//     and the metrics. It outlives every configuration.
//   - a runtime: the listeners and backends built from one validated Config.
//     Reload builds a new runtime and swaps it in atomically; pools are updated
//     in place by backend and server name, so server state, slot counts and
//     stick tables survive, and a listener whose address is unchanged keeps its
//     socket. A session keeps the runtime it started with until it ends.
//   - a session: one client from accept (or RTMPT /open) to the end of its
//     relay, registered while it lives and ended exactly once (finish), which
//     settles its slots, metrics, registry entry and log line.
package edge

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rtmp-edge/rtmp-edge/edge/ratelog"

	"github.com/rtmp-edge/rtmp-edge/upstream"
)

// At most rejectionLines "session rejected" lines per listener and reason in
// each rejectionWindow; the rest are summed up in one line.
const (
	rejectionLines  = 10
	rejectionWindow = 10 * time.Second
)

// Options are what the edge needs besides its Config.
type Options struct {
	// Logger receives the session and health lines; nil means slog.Default().
	Logger *slog.Logger
	// Registry receives the metrics; nil means a registry of the edge's own,
	// served on Config.Admin.Address.
	Registry *prometheus.Registry
	// Inherit is what an upgrade's old process handed over (see
	// ReceiveInheritance): its sockets are used instead of binding anew,
	// its state restored. nil for a normal start.
	Inherit *Inheritance
}

// Edge runs the listeners, backends and sessions of successive Configs.
type Edge struct {
	log      *slog.Logger
	registry *prometheus.Registry
	metrics  *metrics
	sessions sessionTable
	// rejections rate-limits the lines of rejected clients and refused
	// RTMPT requests, per listener and reason.
	rejections     *ratelog.Limiter
	rejectionsDone chan struct{}

	// mu serialises Listen, Reload and shutdown: the runtime swap and the
	// sockets, pools and checks that go with it.
	mu        sync.Mutex
	rt        atomic.Pointer[runtime]
	acceptors map[string]*acceptor // by configured listen address
	// retired are acceptors a reload removed: they accept nothing, and the
	// sessions that came through them (TLS and RTMPT ones are still tracked
	// there) go on until they end or the edge stops.
	retired []*acceptor
	pools   map[string]*poolState // by backend name
	admin   *adminEndpoint
	serving bool // Serve has started the accept loops and checks

	// base is cancelled when the edge has stopped: it bounds dials and queue
	// waits of sessions that are still being set up.
	base       context.Context
	cancelBase context.CancelFunc
	inherit    *Inheritance  // until Listen took its sockets
	started    chan struct{} // closed once Serve accepts

	// stopping is set once shutdown began: /healthz answers 503, new clients
	// are refused.
	stopping atomic.Bool
}

// New validates cfg and builds the edge; nothing listens yet.
// When a backend dials from the client's address (source clientip/client) it
// checks here, once, that the host is set up for it.
func New(cfg Config, opts Options) (*Edge, error) {
	e := &Edge{
		log: opts.Logger, registry: opts.Registry,
		acceptors: map[string]*acceptor{}, pools: map[string]*poolState{},
		inherit: opts.Inherit, started: make(chan struct{}),
	}
	if e.log == nil {
		e.log = slog.Default()
	}
	if e.registry == nil {
		e.registry = prometheus.NewRegistry()
	}
	e.base, e.cancelBase = context.WithCancel(context.Background())
	e.sessions.init()
	e.rejections = ratelog.New(e.log, rejectionLines, rejectionWindow)
	rt, changes, err := e.buildRuntime(cfg, nil)
	if err != nil {
		return nil, err
	}
	e.metrics = newMetrics(e.registry, e)
	e.commitPools(rt, &changes)
	e.rt.Store(rt)
	if e.inherit != nil {
		e.restore(e.inherit)
	}
	return e, nil
}

// Listen binds every listener and the admin endpoint, so that address errors
// come out before anything is served.
func (e *Edge) Listen() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	rt := e.rt.Load()
	bound, err := e.bindAcceptors(rt.cfg)
	if err != nil {
		return err
	}
	if err := e.bindAdmin(rt.cfg.Admin); err != nil {
		for _, a := range bound {
			a.close()
			delete(e.acceptors, a.addr)
		}
		return err
	}
	e.attach(rt)
	return nil
}

// Addr is the bound address of the named listener of the current
// configuration (nil before Listen).
func (e *Edge) Addr(name string) net.Addr {
	rt := e.rt.Load()
	for _, l := range rt.listeners {
		if l.cfg.Name == name && l.acc != nil {
			return l.acc.ln.Addr()
		}
	}
	return nil
}

// AdminAddr is the bound address of the admin endpoint (nil when it has none).
func (e *Edge) AdminAddr() net.Addr {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.admin == nil {
		return nil
	}
	return e.admin.ln.Addr()
}

// Serve runs until ctx is done: it accepts clients and runs health checks.
// Then it shuts down: it stops accepting at once (and /healthz answers 503),
// gives running sessions up to grace to end, then closes both sides of every
// session that is left, and returns once they have all ended.
func (e *Edge) Serve(ctx context.Context, grace time.Duration) error {
	e.mu.Lock()
	if e.rt.Load().order[0].acc == nil {
		e.mu.Unlock()
		if err := e.Listen(); err != nil {
			return err
		}
		e.mu.Lock()
	}
	e.serving = true
	e.rejectionsDone = make(chan struct{})
	go func() { // summary lines for bursts that end quietly, and at the end
		defer close(e.rejectionsDone)
		e.rejections.Run(e.base)
	}()
	rt := e.rt.Load()
	for _, a := range e.acceptors {
		a.start(e)
	}
	for _, ps := range e.pools {
		ps.startChecks(e)
	}
	go e.watchStalls(e.base.Done())
	if e.admin != nil {
		e.admin.start()
	}
	for _, l := range rt.order {
		e.log.Info("listening", "listener", l.cfg.Name, "address", l.acc.ln.Addr().String(), "protocols", l.cfg.Protocols, "backend", l.cfg.Backend)
	}
	close(e.started)
	e.mu.Unlock()

	<-ctx.Done()
	e.shutdown(grace)
	return nil
}

// shutdown is the end of Serve: see there.
func (e *Edge) shutdown(grace time.Duration) {
	e.stopping.Store(true)
	e.log.Info("stopping: no new clients", "grace", grace.String(), "sessions", e.sessions.count())
	e.mu.Lock()
	for _, a := range e.acceptors {
		a.stopAccepting()
	}
	e.mu.Unlock()

	if !e.sessions.waitEmpty(grace) {
		n := e.sessions.cutAll("shutdown")
		e.log.Info("grace period over: closing the sessions left", "sessions", n)
	}
	e.mu.Lock()
	for _, a := range e.acceptors {
		a.close() // RTMPT tunnels end here: their handlers' reads return EOF
	}
	for _, a := range e.retired {
		a.close()
	}
	e.mu.Unlock()
	// Every session has both its sides closed now; what is left is their
	// goroutines noticing. A second is plenty; never hang the exit on a bug.
	if !e.sessions.waitEmpty(time.Second) {
		e.log.Error("sessions did not end after their conns were closed (bug)", "sessions", e.sessions.count())
	}
	e.cancelBase()
	<-e.rejectionsDone // its last summary line is written before Serve returns
	e.mu.Lock()
	for _, ps := range e.pools {
		ps.stopChecks()
	}
	if e.admin != nil {
		e.admin.close()
	}
	e.mu.Unlock()
}

// Reload validates cfg, builds a runtime from it and swaps it in: new sessions
// follow the new listeners, backends, servers, weights and limits; running
// sessions go on with what they started with. On any error nothing changes.
// It returns a one-line summary of what changed.
func (e *Edge) Reload(cfg Config) (string, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.stopping.Load() {
		return "", errors.New("the edge is stopping")
	}
	old := e.rt.Load()
	rt, changes, err := e.buildRuntime(cfg, old)
	if err != nil {
		e.metrics.reloaded(false)
		return "", err
	}
	bound, err := e.bindAcceptors(rt.cfg)
	if err != nil {
		rt.discard(e)
		e.metrics.reloaded(false)
		return "", err
	}
	if err := e.rebindAdmin(rt.cfg.Admin, &changes); err != nil {
		for _, a := range bound {
			a.close()
			delete(e.acceptors, a.addr)
		}
		rt.discard(e)
		e.metrics.reloaded(false)
		return "", err
	}
	// From here on nothing fails: commit.
	e.commitPools(rt, &changes)
	e.attach(rt)
	e.rt.Store(rt)
	for addr, a := range e.acceptors {
		if _, ok := rt.listeners[addr]; !ok {
			a.stopAccepting() // its running sessions go on; only accepting stops
			e.retired = append(e.retired, a)
			delete(e.acceptors, addr)
			changes.add("listener closed: %s", addr)
		}
	}
	if e.serving {
		for _, a := range bound {
			a.start(e)
		}
		for _, ps := range e.pools {
			ps.startChecks(e)
		}
	}
	e.metrics.reloaded(true)
	return changes.String(), nil
}

// Started is closed once Serve accepts clients.
func (e *Edge) Started() <-chan struct{} { return e.started }

// Sessions is the number of sessions this process holds.
func (e *Edge) Sessions() int { return e.sessions.count() }

// ReloadFailed counts a reload that failed before Reload was called (a file
// that did not load).
func (e *Edge) ReloadFailed() { e.metrics.reloaded(false) }

// Ready reports whether the edge takes new clients (false once shutdown began).
func (e *Edge) Ready() bool { return !e.stopping.Load() }

// adminEndpoint is the operator's HTTP listener.
type adminEndpoint struct {
	cfg     AdminConfig
	ln      net.Listener
	srv     *http.Server
	handler adminHandler
}

func (e *Edge) bindAdmin(cfg AdminConfig) error {
	if cfg.Address == "" {
		e.admin = nil
		return nil
	}
	ln, err := e.inherit.adminListener(cfg.Address)
	if ln == nil && err == nil {
		ln, err = net.Listen("tcp", cfg.Address)
	}
	if err != nil {
		return fmt.Errorf("admin: %w", listenHint(err, cfg.Address))
	}
	a := &adminEndpoint{cfg: cfg, ln: ln}
	h := e.newAdminHandler(cfg.Token)
	a.handler.h.Store(&h)
	e.admin = a
	return nil
}

// rebindAdmin moves the admin endpoint when its address changed; a new token
// takes effect at once.
func (e *Edge) rebindAdmin(cfg AdminConfig, changes *changeList) error {
	cur := e.admin
	switch {
	case cur == nil && cfg.Address == "":
		return nil
	case cur != nil && cur.cfg.Address == cfg.Address:
		if cur.cfg.Token != cfg.Token {
			h := e.newAdminHandler(cfg.Token)
			cur.handler.h.Store(&h)
			changes.add("admin token changed")
		}
		cur.cfg = cfg
		return nil
	}
	if err := e.bindAdmin(cfg); err != nil {
		e.admin = cur
		return err
	}
	if cur != nil {
		cur.close()
	}
	changes.add("admin address: %q", cfg.Address)
	if e.serving && e.admin != nil {
		e.admin.start()
	}
	return nil
}

func (a *adminEndpoint) start() {
	a.srv = &http.Server{Handler: &a.handler, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second, IdleTimeout: time.Minute}
	go func() { _ = a.srv.Serve(a.ln) }()
}

func (a *adminEndpoint) close() {
	if a.srv != nil {
		_ = a.srv.Close()
	} else {
		_ = a.ln.Close()
	}
}

// checkTransparent is upstream.CheckTransparent, a variable so that the
// start-up check is done once per Edge and can be named in errors.
var checkTransparent = upstream.CheckTransparent
