package edge

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	edgecmd "github.com/rtmp-edge/rtmp-edge/edge/command"
	"github.com/rtmp-edge/rtmp-edge/routing"
	"github.com/rtmp-edge/rtmp-edge/upstream"
)

// poolState is a backend's part that outlives configurations: its routing
// pool (server state, slots, stick table, queue) and a health check per
// server. Guarded by Edge.mu, except what the checks update (atomics).
type poolState struct {
	name   string
	pool   *routing.Pool
	cfg    BackendConfig // the config last applied
	checks map[string]*serverCheck
	// template is the connect reply an rtmp check learned last, for route:
	// command (session_command.go).
	template atomic.Pointer[edgecmd.Template]
	// replicate is cfg.Replicate for the session and check goroutines (nil:
	// off); repl the backend's live replicated publishes (replicate.go).
	replicate atomic.Pointer[ReplicateConfig]
	repl      replications
}

// serverCheck is the running health check of one server.
type serverCheck struct {
	address string
	cfg     upstream.CheckConfig
	proxy   string
	cancel  context.CancelFunc
	done    chan struct{}

	lastAt  atomic.Int64 // unix nanoseconds of the last probe; 0 before the first
	lastErr atomic.Pointer[string]
}

func newPoolState(cfg BackendConfig, pool *routing.Pool) *poolState {
	ps := &poolState{name: cfg.Name, pool: pool, checks: map[string]*serverCheck{}}
	ps.setConfig(cfg)
	return ps
}

func (ps *poolState) setConfig(cfg BackendConfig) {
	ps.cfg = cfg
	ps.replicate.Store(cfg.Replicate)
}

// startChecks makes the running checks match the pool's servers: a server
// whose address or check settings changed gets a new check, a removed one
// loses its check, an unchanged one keeps it (and its rise/fall streak).
func (ps *poolState) startChecks(e *Edge) {
	want := map[string]*routing.Server{}
	for _, s := range ps.pool.Servers() {
		want[s.Name] = s
	}
	for name, c := range ps.checks {
		s, ok := want[name]
		if !ok || c.address != s.Address() || c.cfg != ps.cfg.Check || c.proxy != ps.cfg.ProxyProtocol {
			c.stop()
			delete(ps.checks, name)
		}
	}
	// Called at start and after each reload: live replicated publishes
	// follow the servers and the replicate key (replicate.go).
	defer ps.reconcileReplicas()
	if ps.cfg.Check.Type == upstream.CheckNone {
		return
	}
	for name, s := range want {
		if _, ok := ps.checks[name]; ok {
			continue
		}
		ps.checks[name] = ps.startCheck(e, s)
	}
}

func (ps *poolState) startCheck(e *Edge, s *routing.Server) *serverCheck {
	ctx, cancel := context.WithCancel(context.Background())
	c := &serverCheck{address: s.Address(), cfg: ps.cfg.Check, proxy: ps.cfg.ProxyProtocol, cancel: cancel, done: make(chan struct{})}
	backend := ps.name
	hc := &upstream.HealthCheck{
		Config:  ps.cfg.Check,
		Server:  s.Name,
		Address: s.Address(),
		Logger:  e.log.With("backend", backend),
		// A server that expects PROXY headers gets one from the check too.
		ProxyProtocol: ps.cfg.ProxyProtocol,
		// The check logs "server down"/"server up" itself, once per change.
		OnConnectResult: func(res upstream.ConnectResult) { ps.learnTemplate(e, s.Name, res) },
		OnChange: func(up bool, _ string) {
			if s.SetHealthy(up) {
				e.metrics.setServerUp(backend, s.Name, up)
				if up {
					ps.replicaServerUp(s.Name)
				} else {
					ps.replicaServerDown(s.Name)
				}
			}
		},
		OnProbe: func(err error) {
			c.lastAt.Store(time.Now().UnixNano())
			msg := ""
			if err != nil {
				msg = err.Error()
			}
			c.lastErr.Store(&msg)
		},
	}
	e.metrics.setServerUp(backend, s.Name, s.Healthy())
	go func() {
		defer close(c.done)
		hc.Run(ctx)
	}()
	return c
}

func (c *serverCheck) stop() {
	c.cancel()
	<-c.done
}

// last returns when the server was last probed and the error, if it failed.
func (c *serverCheck) last() (time.Time, string) {
	if c == nil {
		return time.Time{}, ""
	}
	var at time.Time
	if n := c.lastAt.Load(); n != 0 {
		at = time.Unix(0, n)
	}
	msg := ""
	if p := c.lastErr.Load(); p != nil {
		msg = *p
	}
	return at, msg
}

func (ps *poolState) stopChecks() {
	var wg sync.WaitGroup
	for name, c := range ps.checks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.stop()
		}()
		delete(ps.checks, name)
	}
	wg.Wait()
}
