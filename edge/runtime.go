package edge

import (
	"fmt"
	"slices"
	"strings"

	"github.com/rtmp-edge/rtmp-edge/edge/certs"
	"github.com/rtmp-edge/rtmp-edge/routing"
	"github.com/rtmp-edge/rtmp-edge/upstream"
)

// runtime is what one validated Config builds: its listeners and backends.
// It is immutable once built; Reload swaps in a new one. Sessions keep the
// runtime (through their listener) they started with.
type runtime struct {
	cfg       Config
	listeners map[string]*listener // by socketKey
	order     []*listener          // config order, for logs and Addr
	backends  map[string]*backend  // by name
	// newPools are pools this runtime created (backends that did not exist
	// before); they join Edge.pools when the runtime is committed.
	newPools map[string]*poolState
	// poolConfigs are the new configs of pools that already existed; they are
	// applied in place when the runtime is committed.
	poolConfigs map[string]BackendConfig
}

// backend is one backend of a runtime: its config and dialer, and the pool it
// shares with every other runtime that has a backend of that name.
type backend struct {
	cfg    BackendConfig
	ps     *poolState
	pool   *routing.Pool
	dialer *upstream.Dialer
}

// hasUploadServer reports whether any server of the pool takes uploads now.
func (b *backend) hasUploadServer() bool {
	for _, s := range b.pool.Servers() {
		if s.Upload() {
			return true
		}
	}
	return false
}

// buildRuntime validates cfg and builds a runtime from it without changing
// anything that runs: pools that exist already are only checked here and
// updated by commitPools. old is the running runtime (nil at start).
func (e *Edge) buildRuntime(cfg Config, old *runtime) (*runtime, changeList, error) {
	var changes changeList
	if err := cfg.Validate(); err != nil {
		return nil, changes, err
	}
	rt := &runtime{
		cfg: cfg, listeners: map[string]*listener{}, backends: map[string]*backend{},
		newPools: map[string]*poolState{}, poolConfigs: map[string]BackendConfig{},
	}
	needTransparent := false
	for _, bc := range cfg.Backends {
		dialer, err := upstream.NewDialer(bc.DialConfig)
		if err != nil {
			return nil, changes, fmt.Errorf("backend %s: %w", bc.Name, err)
		}
		if bc.Source == "clientip" || bc.Source == "client" {
			needTransparent = true
		}
		b := &backend{cfg: bc, dialer: dialer}
		if ps, ok := e.pools[bc.Name]; ok {
			if err := bc.PoolConfig.Validate(); err != nil {
				return nil, changes, fmt.Errorf("backend %s: %w", bc.Name, err)
			}
			b.ps, b.pool = ps, ps.pool
			rt.poolConfigs[bc.Name] = bc
		} else {
			pool, err := routing.NewPool(bc.PoolConfig)
			if err != nil {
				return nil, changes, fmt.Errorf("backend %s: %w", bc.Name, err)
			}
			ps := newPoolState(bc, pool)
			b.ps, b.pool = ps, pool
			rt.newPools[bc.Name] = ps
			if old != nil {
				changes.add("backend added: %s", bc.Name)
			}
		}
		rt.backends[bc.Name] = b
	}
	if needTransparent && (old == nil || !old.transparent()) {
		if err := checkTransparent(); err != nil {
			return nil, changes, fmt.Errorf("source clientip/client cannot work on this host: %w", err)
		}
	}
	for _, lc := range cfg.Listeners {
		l := &listener{e: e, rt: rt, cfg: lc.withDefaults(), backend: rt.backends[lc.Backend]}
		if l.cfg.servesTLS() {
			// Validate loaded the files already; they are read again here
			// and may have changed since: a failure still refuses the
			// whole runtime, and the running one keeps its certificates.
			st, err := certs.NewStore(lc.TLS)
			if err != nil {
				return nil, changes, fmt.Errorf("listener %s: tls: %w", lc.Name, err)
			}
			l.certs = st
		}
		rt.listeners[lc.socketKey()] = l
		rt.order = append(rt.order, l)
	}
	if old != nil {
		diffListeners(old, rt, &changes)
		for name := range old.backends {
			if _, ok := rt.backends[name]; !ok {
				changes.add("backend removed: %s (its sessions go on)", name)
			}
		}
	}
	return rt, changes, nil
}

func (rt *runtime) transparent() bool {
	for _, b := range rt.backends {
		if b.cfg.Source == "clientip" || b.cfg.Source == "client" {
			return true
		}
	}
	return false
}

// discard forgets a runtime that was built but not committed.
func (rt *runtime) discard(*Edge) {}

// commitPools applies the runtime's pool configs in place and adopts its new
// pools. Called with e.mu held, after everything that can fail succeeded.
func (e *Edge) commitPools(rt *runtime, changes *changeList) {
	for name, bc := range rt.poolConfigs {
		ps := e.pools[name]
		pc, err := ps.pool.Update(bc.PoolConfig)
		if err != nil {
			// Validated in buildRuntime; an error here is a bug, and the pool
			// simply keeps its previous config.
			e.log.Error("updating a pool failed after validation (bug)", "backend", name, "err", err.Error())
			continue
		}
		if s := pc.String(); s != "" {
			changes.add("backend %s: %s", name, s)
		}
		ps.setConfig(bc)
	}
	for name, ps := range rt.newPools {
		e.pools[name] = ps
	}
	for name, ps := range e.pools {
		if _, ok := rt.backends[name]; !ok {
			// A removed backend's checks stop; its pool stays alive as long as
			// sessions of old runtimes hold leases on it.
			ps.stopChecks()
			delete(e.pools, name)
		}
	}
}

func diffListeners(old, rt *runtime, changes *changeList) {
	for addr, l := range rt.listeners {
		o, ok := old.listeners[addr]
		switch {
		case !ok:
			changes.add("listener added: %s %s", l.cfg.Name, addr)
		case !sameListener(o.cfg, l.cfg):
			changes.add("listener changed: %s %s", l.cfg.Name, addr)
		}
		// Renewed certificates at the same paths are a change the config
		// file does not show; name what is served now.
		if l.certs != nil && (!ok || o.certs == nil || o.certs.Describe() != l.certs.Describe()) {
			changes.add("certificates %s: %s", l.cfg.Name, l.certs.Describe())
		}
	}
}

func sameListener(a, b ListenerConfig) bool {
	return a.Name == b.Name && slices.Equal(a.Protocols, b.Protocols) && a.MaxConn == b.MaxConn &&
		a.Backend == b.Backend && a.AcceptProxy == b.AcceptProxy && a.HandshakeTimeout == b.HandshakeTimeout &&
		a.MaxConnect == b.MaxConnect && a.InspectBytes == b.InspectBytes && a.InspectTime == b.InspectTime &&
		a.RTMPT == b.RTMPT && sameTLS(a.TLS, b.TLS)
}

func sameTLS(a, b certs.Config) bool {
	return a.Cert == b.Cert && a.Key == b.Key && a.MinVersion == b.MinVersion && slices.Equal(a.SNI, b.SNI)
}

// changeList collects what a reload changed, for its one log line.
type changeList []string

func (c *changeList) add(format string, args ...any) { *c = append(*c, fmt.Sprintf(format, args...)) }

func (c changeList) String() string {
	if len(c) == 0 {
		return "nothing changed"
	}
	return strings.Join(c, "; ")
}
