package routing

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// PoolChanges is what one Pool.Update changed, for the reload log line.
type PoolChanges struct {
	Added   []string // servers that joined, config order
	Removed []string // servers that left (their running sessions continue)
	// Changes are the other differences, one human item each, e.g. "weight media01 10→5",
	// "address media02 10.0.0.2:1935→10.0.0.9:1935", "balance roundrobin→leastconn",
	// "media01: config replaces operator state maint".
	Changes []string
}

// Empty reports whether the update changed nothing.
func (c PoolChanges) Empty() bool {
	return len(c.Added) == 0 && len(c.Removed) == 0 && len(c.Changes) == 0
}

// String renders one line: "servers added: media04; removed: media02; weight media01 10→5".
// An empty PoolChanges gives "no changes".
func (c PoolChanges) String() string {
	var parts []string
	if len(c.Added) > 0 {
		parts = append(parts, "servers added: "+strings.Join(c.Added, ", "))
	}
	if len(c.Removed) > 0 {
		label := "removed: "
		if len(c.Added) == 0 {
			label = "servers removed: "
		}
		parts = append(parts, label+strings.Join(c.Removed, ", "))
	}
	parts = append(parts, c.Changes...)
	if len(parts) == 0 {
		return "no changes"
	}
	return strings.Join(parts, "; ")
}

// Update applies a new configuration to the running pool, in place, keyed by server
// name. Nothing is applied if cfg is invalid (the error lists every problem).
//
// What survives: each server's health, slot count and live leases, the stick table
// (entries of removed servers are ignored by later picks and overwritten on the
// client's next confirmed session), the wait queue (queued sessions re-pick at once
// against the new servers). An operator's SetState/SetWeight survives unless cfg
// changes that server's own entry compared with the config applied before; then
// the config's values win.
//
// Added servers join healthy. A removed server leaves Servers() at once and takes no
// new session, stuck clients included; its running sessions keep their leases and
// release them as usual (Retired lists it while it still has any), and a later
// Update that names it again revives it with its counts. Changed address, maxconn,
// upload and weight apply to new sessions only. balance, queue_timeout (for sessions
// that start waiting from now on), classify and stick size/expire may change too.
//
// The pool name cannot change: the caller keys pools by it.
func (p *Pool) Update(cfg PoolConfig) (PoolChanges, error) {
	if err := cfg.Validate(); err != nil {
		return PoolChanges{}, fmt.Errorf("pool %q: invalid config: %w", cfg.Name, err)
	}
	cfg = cfg.WithDefaults()
	if cfg.Name != p.name {
		return PoolChanges{}, fmt.Errorf("pool %q: cannot be updated with the config of pool %q", p.name, cfg.Name)
	}
	classifier, err := NewClassifier(cfg.Classify)
	if err != nil { // unreachable after Validate
		return PoolChanges{}, fmt.Errorf("pool %q: classify: %w", cfg.Name, err)
	}

	p.mu.Lock()
	defer p.mu.Unlock()
	var ch PoolChanges
	old := p.cfg
	note := func(format string, args ...any) { ch.Changes = append(ch.Changes, fmt.Sprintf(format, args...)) }

	if cfg.Balance != old.Balance {
		note("balance %s→%s", old.Balance, cfg.Balance)
		p.balance = cfg.Balance
	}
	if cfg.QueueTimeout != old.QueueTimeout {
		note("queue_timeout %s→%s", old.QueueTimeout, cfg.QueueTimeout)
		p.queueTimeout = cfg.QueueTimeout
	}
	if !slices.Equal(cfg.Classify, old.Classify) {
		note("classify rules %d→%d", len(old.Classify), len(cfg.Classify))
	}
	p.classifier.Store(classifier)
	if cfg.PublisherTakeover != old.PublisherTakeover {
		note("publisher_takeover %t→%t", old.PublisherTakeover, cfg.PublisherTakeover)
		p.takeover = cfg.PublisherTakeover
	}
	if cfg.Stick != old.Stick {
		note("stick size %d→%d expire %s→%s", old.Stick.Size, cfg.Stick.Size, old.Stick.Expire, cfg.Stick.Expire)
		// Only now a new table: expirable.LRU v2.0.7 starts a cleanup goroutine per
		// table that cannot be stopped, so replacing it on every reload would leak one
		// goroutine per reload. The old one leaks here too, once per size/expire change.
		p.stick = p.stick.resized(cfg.Stick.Size, cfg.Stick.Expire)
	}

	cur := p.view.Load()
	servers := make([]*Server, 0, len(cfg.Servers))
	keep := make(map[string]bool, len(cfg.Servers))
	for _, sc := range cfg.Servers {
		keep[sc.Name] = true
		s := cur.byName[sc.Name]
		if s == nil {
			if r := p.retired[sc.Name]; r != nil {
				delete(p.retired, sc.Name)
				r.removed.Store(false)
				r.applyConfig(sc)
				s = r
			} else {
				s = newServer(sc, p)
			}
			ch.Added = append(ch.Added, sc.Name)
			servers = append(servers, s)
			continue
		}
		if !s.cfg.sameAs(sc) {
			diffServer(s, sc, note)
			s.applyConfig(sc)
		}
		servers = append(servers, s)
	}
	for _, s := range cur.servers {
		if !keep[s.Name] {
			s.removed.Store(true)
			p.retired[s.Name] = s
			ch.Removed = append(ch.Removed, s.Name)
		}
	}
	for name, s := range p.retired { // nothing left to run out: a later re-add starts afresh
		if s.Active() == 0 {
			delete(p.retired, name)
		}
	}
	p.cfg = cfg
	p.setServersLocked(servers)
	p.serveWaitersLocked(true)
	return ch, nil
}

// diffServer notes what a changed entry changes for server s, including the
// operator's runtime values the config now replaces.
func diffServer(s *Server, sc ServerConfig, note func(string, ...any)) {
	o := s.cfg
	if o.Address != sc.Address {
		note("address %s %s→%s", s.Name, o.Address, sc.Address)
	}
	if o.weight() != sc.weight() {
		note("weight %s %d→%d", s.Name, o.weight(), sc.weight())
	}
	if o.MaxConn != sc.MaxConn {
		note("maxconn %s %s→%s", s.Name, limit(o.MaxConn), limit(sc.MaxConn))
	}
	if o.Upload != sc.Upload {
		note("upload %s %t→%t", s.Name, o.Upload, sc.Upload)
	}
	if o.startState() != sc.startState() {
		note("state %s %s→%s", s.Name, o.startState(), sc.startState())
	}
	if !slices.Equal(o.ReplicatesTo, sc.ReplicatesTo) {
		note("replicates_to %s [%s]→[%s]", s.Name, strings.Join(o.ReplicatesTo, " "), strings.Join(sc.ReplicatesTo, " "))
	}
	if w := s.Weight(); w != o.weight() && w != sc.weight() {
		note("%s: config replaces operator weight %d", s.Name, w)
	}
	if st := s.State(); st != o.startState() && st != sc.startState() {
		note("%s: config replaces operator state %s", s.Name, st)
	}
}

func limit(n int) string {
	if n == 0 {
		return "unlimited"
	}
	return strconv.Itoa(n)
}
