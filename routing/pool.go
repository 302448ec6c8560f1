package routing

import (
	"fmt"
	"sync"
	"time"
)

// Pool is one backend: servers, the classifier for its sessions, balancer state,
// the stick table and the queue of sessions waiting for a slot. Safe for concurrent use.
type Pool struct {
	name         string
	balance      string
	queueTimeout time.Duration
	classifier   *Classifier
	servers      []*Server
	byName       map[string]*Server

	// mu guards the balancer state, the stick table's pinned map, the wait queue and
	// every lease's confirmed/released flags. Server slot counts and health are atomics
	// (readable without it), but they only change under it, so a pick sees a
	// consistent picture and a freed slot goes to the queue before anyone else.
	mu      sync.Mutex
	all     candidateSet // every server: plays, and publishes when no server is marked upload
	uploads candidateSet // upload: true servers, tried first for publishes
	others  candidateSet // the rest: publishes when no upload server is usable
	stick   *stickTable  // nil when affinity is off
	queue   waitQueue
}

// candidateSet is a group of servers with its own balancer state, so that, e.g.,
// publishes rotating over the upload servers do not shift the play rotation.
type candidateSet struct {
	servers     []*Server
	member      func(*Server) bool // membership test for a stuck server
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
	cs := candidateSet{servers: servers, member: member, bal: newBalancer(algo, servers)}
	cs.reasonPick, cs.reasonStick = algo, "stick"
	if prefix != "" {
		cs.reasonPick, cs.reasonStick = prefix+": "+algo, "stick ("+prefix+")"
	}
	return cs
}

func (cs *candidateSet) anyUsable(f filter) bool {
	for _, s := range cs.servers {
		if f.usable(s) {
			return true
		}
	}
	return false
}

// NewPool validates cfg, applies the defaults and builds the pool. All servers start
// healthy; those with `drain: true` start draining.
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
		balance:      cfg.Balance,
		queueTimeout: cfg.QueueTimeout,
		classifier:   classifier,
		servers:      make([]*Server, 0, len(cfg.Servers)),
		byName:       make(map[string]*Server, len(cfg.Servers)),
		stick:        newStickTable(cfg.Stick.Size, cfg.Stick.Expire),
	}
	for _, sc := range cfg.Servers {
		s := &Server{Name: sc.Name, Address: sc.Address, Weight: sc.Weight, MaxConn: sc.MaxConn, Upload: sc.Upload, pool: p}
		s.draining.Store(sc.Drain)
		p.servers = append(p.servers, s)
		p.byName[s.Name] = s
	}
	p.all = newCandidateSet(cfg.Balance, p.servers, func(*Server) bool { return true }, "")
	p.uploads = newCandidateSet(cfg.Balance, p.servers, func(s *Server) bool { return s.Upload }, "upload")
	p.others = newCandidateSet(cfg.Balance, p.servers, func(s *Server) bool { return !s.Upload }, "upload-fallback")
	return p, nil
}

// Name is the pool name from the config ("default" when it had none).
func (p *Pool) Name() string { return p.name }

// Balance is the effective balance algorithm ("roundrobin" or "leastconn").
func (p *Pool) Balance() string { return p.balance }

// Servers returns the servers in config order (a fresh slice; the servers are shared).
func (p *Pool) Servers() []*Server { return append([]*Server(nil), p.servers...) }

// Server returns the server with that name, or nil.
func (p *Pool) Server(name string) *Server { return p.byName[name] }

// Classifier returns the pool's publish/play classifier.
func (p *Pool) Classifier() *Classifier { return p.classifier }

// StickLen is the number of affinity entries: clients with a live session plus idle
// clients not yet expired (or expired but not yet swept). 0 when affinity is off.
func (p *Pool) StickLen() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stick.len()
}

// Waiting is the number of sessions queued for a free slot (for metrics).
func (p *Pool) Waiting() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.queue.n
}

// stateChanged runs after a health or drain flip: queued sessions may now fit (a
// server came back) or have nothing left to wait for (the last one went down).
func (p *Pool) stateChanged() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.serveWaitersLocked(true)
}
