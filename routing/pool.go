package routing

import (
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Pool is one backend: servers, the classifier for its sessions, balancer state,
// the stick table and the queue of sessions waiting for a slot. Safe for concurrent use.
type Pool struct {
	name string

	// view is the current server list, replaced whole by Update so that Servers and
	// Server read it without the mutex (the session path and the API call them often).
	view       atomic.Pointer[poolView]
	classifier atomic.Pointer[Classifier]

	// mu guards the balancer state, the stick table, the wait queue, the settings
	// below and every lease's confirmed/released flags. Server slot counts, health,
	// state and weight are atomics (readable without it), but they only change under
	// it (health aside), so a pick sees a consistent picture and a freed slot goes to
	// the queue before anyone else.
	mu           sync.Mutex
	cfg          PoolConfig // the last applied config, defaults filled in
	balance      string
	queueTimeout time.Duration
	all          candidateSet // every server: plays, and publishes when no server is marked upload
	uploads      candidateSet // upload: true servers, tried first for publishes
	others       candidateSet // the rest: publishes when no upload server is usable
	stick        *stickTable  // nil when affinity is off
	queue        waitQueue
	// retired are servers a reload removed, by name: their leases still run, and a
	// later reload that adds the name again revives the same object, slots and all.
	retired map[string]*Server
	// streams is the stream registry: live streams by StreamKey. liveSets caches the
	// players' candidate set per origin server and live replicas; dropped whenever
	// the servers change.
	streams  map[string]*streamEntry
	liveSets map[liveKey]*liveSet
	takeover bool // publisher_takeover
	// Lease.Reason of players balanced over every server although their stream is
	// known: built once per rebuild so the session path does not concatenate.
	reasonNotLive, reasonLiveDown string
}

type poolView struct {
	servers []*Server // config order
	byName  map[string]*Server
}

// candidateSet is a group of servers with its own balancer state, so that, e.g.,
// publishes rotating over the upload servers do not shift the play rotation.
type candidateSet struct {
	servers     []*Server
	bal         balancer
	reasonPick  string // Lease.Reason for a balancer pick from this set
	reasonStick string // Lease.Reason for an affinity hit in this set
}

func newCandidateSet(algo string, all []*Server, member func(*Server) bool, prefix string) candidateSet {
	var servers []*Server
	for _, s := range all {
		if member(s) {
			servers = append(servers, s)
		}
	}
	cs := candidateSet{servers: servers, bal: newBalancer(algo, servers)}
	cs.reasonPick, cs.reasonStick = algo, "stick"
	if prefix != "" {
		cs.reasonPick, cs.reasonStick = prefix+": "+algo, "stick ("+prefix+")"
	}
	return cs
}

// member: membership is the list built at the last (re)build, not a live read of
// Upload, so a pick always agrees with the balancer's own server list.
func (cs *candidateSet) member(s *Server) bool { return slices.Contains(cs.servers, s) }

func (cs *candidateSet) anyUsable(f filter) bool {
	for _, s := range cs.servers {
		if f.usable(s) {
			return true
		}
	}
	return false
}

// NewPool validates cfg, applies the defaults and builds the pool. All servers start
// healthy, in the state their config gives (ready unless drain/state say otherwise).
func NewPool(cfg PoolConfig) (*Pool, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("pool %q: invalid config: %w", cfg.Name, err)
	}
	cfg = cfg.WithDefaults()
	classifier, err := NewClassifier(cfg.Classify)
	if err != nil { // unreachable after Validate; kept so a future change cannot panic here
		return nil, fmt.Errorf("pool %q: classify: %w", cfg.Name, err)
	}
	p := &Pool{
		name:         cfg.Name,
		cfg:          cfg,
		balance:      cfg.Balance,
		queueTimeout: cfg.QueueTimeout,
		stick:        newStickTable(cfg.Stick.Size, cfg.Stick.Expire),
		retired:      map[string]*Server{},
		streams:      map[string]*streamEntry{},
		takeover:     cfg.PublisherTakeover,
	}
	p.classifier.Store(classifier)
	servers := make([]*Server, 0, len(cfg.Servers))
	for _, sc := range cfg.Servers {
		servers = append(servers, newServer(sc, p))
	}
	p.setServersLocked(servers)
	return p, nil
}

// setServersLocked publishes a new server list and rebuilds the candidate sets.
func (p *Pool) setServersLocked(servers []*Server) {
	v := &poolView{servers: servers, byName: make(map[string]*Server, len(servers))}
	for _, s := range servers {
		v.byName[s.Name] = s
	}
	p.view.Store(v)
	p.rebuildSetsLocked()
}

// rebuildSetsLocked builds the candidate sets (and fresh balancers) from the current
// server list and upload flags.
func (p *Pool) rebuildSetsLocked() {
	servers := p.view.Load().servers
	p.all = newCandidateSet(p.balance, servers, func(*Server) bool { return true }, "")
	p.uploads = newCandidateSet(p.balance, servers, (*Server).Upload, "upload")
	p.others = newCandidateSet(p.balance, servers, func(s *Server) bool { return !s.Upload() }, "upload-fallback")
	p.liveSets = nil // replicas, members or the algorithm may have changed
	p.reasonNotLive, p.reasonLiveDown = "not live: "+p.balance, "live servers unusable: "+p.balance
}

// Name is the pool name from the config ("default" when it had none).
func (p *Pool) Name() string { return p.name }

// Balance is the effective balance algorithm ("roundrobin" or "leastconn").
func (p *Pool) Balance() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.balance
}

// Servers returns the servers in config order (a fresh slice; the servers are shared).
// Servers removed by Update are not in it, even while their sessions still run (see
// Retired).
func (p *Pool) Servers() []*Server { return slices.Clone(p.view.Load().servers) }

// Server returns the configured server with that name, or nil (also for a removed one).
func (p *Pool) Server(name string) *Server { return p.view.Load().byName[name] }

// Retired returns the servers an Update removed that still hold sessions, so metrics
// and the API can show those sessions until they end.
func (p *Pool) Retired() []*Server {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []*Server
	for _, s := range p.retired {
		if s.Active() > 0 {
			out = append(out, s)
		}
	}
	slices.SortFunc(out, func(a, b *Server) int {
		switch {
		case a.Name < b.Name:
			return -1
		case a.Name > b.Name:
			return 1
		}
		return 0
	})
	return out
}

// Classifier returns the pool's publish/play classifier (the current one: Update may
// replace it; a session keeps the one it classified with).
func (p *Pool) Classifier() *Classifier { return p.classifier.Load() }

// StickLen is the number of affinity entries: clients with a live session plus idle
// clients not yet expired (or expired but not yet swept). 0 when affinity is off.
func (p *Pool) StickLen() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stick.len()
}

// ForgetStick removes the affinity entry of client and reports whether there was one.
// An idle entry is gone at once. For a client with live sessions the running sessions
// stay where they are, but the client's next session is balanced anew (unless one
// of its running sessions is confirmed again first); after that the entry is whatever
// the new session confirms.
func (p *Pool) ForgetStick(client netip.Addr) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stick.forget(stickKey(client))
}

// Waiting is the number of sessions queued for a free slot (for metrics).
func (p *Pool) Waiting() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.queue.n
}

// stateChanged runs after a health flip: queued sessions may now fit (a server came
// back) or have nothing left to wait for (the last one went down).
func (p *Pool) stateChanged() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.serveWaitersLocked(true)
}
