package routing

import (
	"errors"
	"net"
	"slices"
	"strconv"
	"time"
)

// Balance algorithm names accepted in PoolConfig.Balance.
const (
	BalanceRoundRobin = "roundrobin" // smooth weighted round robin, like HAProxy's `balance roundrobin`
	BalanceLeastConn  = "leastconn"  // fewest active sessions per unit of weight
)

// Defaults and limits (HAProxy's where one exists).
const (
	DefaultWeight       = 1                // HAProxy's default server weight
	MaxWeight           = 256              // HAProxy's maximum user weight; 0 is the minimum
	DefaultStickExpire  = 20 * time.Minute // the reference `expire 20m`
	DefaultQueueTimeout = 10 * time.Second // HAProxy would wait forever without `timeout queue`; we never do
	defaultPoolName     = "default"
)

// ServerConfig is one media server of a pool.
type ServerConfig struct {
	Name    string `yaml:"name"`    // required, unique in the pool
	Address string `yaml:"address"` // host:port, required (not resolved here)
	// Weight is 0..256, omitted (nil) = 1. A pointer because 0 is a real value
	// (HAProxy's: no new sessions from the balancer, clients stuck to it still get in)
	// and must not be mistaken for "not given".
	Weight  *int `yaml:"weight"`
	MaxConn int  `yaml:"maxconn"` // concurrent sessions; 0 = unlimited
	Upload  bool `yaml:"upload"`  // takes the uploads (publish sessions)
	// State is the admission state the server starts in: "ready" (default), "drain"
	// (only clients stuck to it get in) or "maint" (nothing new).
	State string `yaml:"state"`
	Drain bool   `yaml:"drain"` // the same as state: drain (kept for existing configs)
	// ReplicatesTo names the servers of this pool that every stream published here is
	// also live on (nginx-rtmp `push`, a crtmpserver proxypublish target), so players
	// of such a stream may be sent to any of them.
	ReplicatesTo []string `yaml:"replicates_to"`
}

// weight is the effective weight: the configured one, or DefaultWeight when omitted.
func (c ServerConfig) weight() int {
	if c.Weight == nil {
		return DefaultWeight
	}
	return *c.Weight
}

// startState is the effective starting state; Validate rejects the contradictory
// combinations, so here drain: true simply means drain.
func (c ServerConfig) startState() State {
	if st, err := ParseState(c.State); err == nil {
		return st
	}
	if c.Drain {
		return StateDrain
	}
	return StateReady
}

// sameAs reports whether two entries configure the server identically (effective
// values: an omitted weight equals weight 1, drain: true equals state: drain).
func (c ServerConfig) sameAs(o ServerConfig) bool {
	return c.Name == o.Name && c.Address == o.Address && c.weight() == o.weight() &&
		c.MaxConn == o.MaxConn && c.Upload == o.Upload && c.startState() == o.startState() &&
		slices.Equal(c.ReplicatesTo, o.ReplicatesTo)
}

// StickConfig is source-IP affinity (HAProxy `stick-table type ip` + `stick on src`).
type StickConfig struct {
	Size   int           `yaml:"size"`   // idle entries kept; 0 disables affinity
	Expire time.Duration `yaml:"expire"` // idle lifetime after the client's last session ended; 0 = 20m when Size > 0
}

// PoolConfig is one backend: its servers and how sessions are spread over them.
type PoolConfig struct {
	Name         string         `yaml:"name"`          // for logs and errors; "default" when empty
	Balance      string         `yaml:"balance"`       // "roundrobin" (default) | "leastconn"
	Stick        StickConfig    `yaml:"stick"`         // source-IP affinity; zero value = off
	QueueTimeout time.Duration  `yaml:"queue_timeout"` // how long a session waits for a free slot; 0 = 10s
	Classify     []Rule         `yaml:"classify"`      // operator rules before the publish/play defaults
	Servers      []ServerConfig `yaml:"servers"`       // at least one
	// PublisherTakeover: a new publish of a live stream from the same client IP as
	// its current publisher is told who that is (Lease.Takeover) so the caller can
	// end the old session: an encoder reconnecting before its old TCP session timed
	// out would otherwise be refused by the media server ("already publishing").
	PublisherTakeover bool `yaml:"publisher_takeover"`
}

// Validate checks every field and returns all problems at once (errors.Join of
// *FieldError, paths relative to the pool: "servers[2].weight: must be 1..256, got 300").
// It does not modify c; zero values that mean "default" are accepted.
func (c *PoolConfig) Validate() error {
	var errs []error
	switch c.Balance {
	case "", BalanceRoundRobin, BalanceLeastConn:
	default:
		errs = append(errs, fieldErrf("balance", "must be %q or %q, got %q", BalanceRoundRobin, BalanceLeastConn, c.Balance))
	}
	if c.Stick.Size < 0 {
		errs = append(errs, fieldErrf("stick.size", "must be >= 0 (0 disables affinity), got %d", c.Stick.Size))
	}
	if c.Stick.Expire < 0 {
		errs = append(errs, fieldErrf("stick.expire", "must be >= 0, got %s", c.Stick.Expire))
	}
	if c.QueueTimeout < 0 {
		errs = append(errs, fieldErrf("queue_timeout", "must be >= 0 (0 means %s), got %s", DefaultQueueTimeout, c.QueueTimeout))
	}
	if _, err := NewClassifier(c.Classify); err != nil {
		errs = append(errs, flattenJoined(err)...)
	}
	errs = append(errs, validateServers(c.Servers)...)
	return errors.Join(errs...)
}

func validateServers(servers []ServerConfig) []error {
	if len(servers) == 0 {
		return []error{fieldErrf("servers", "must list at least one server")}
	}
	var errs []error
	seen := make(map[string]int, len(servers))
	for i, s := range servers {
		path := "servers[" + strconv.Itoa(i) + "]"
		switch first, dup := seen[s.Name]; {
		case s.Name == "":
			errs = append(errs, fieldErrf(path+".name", "required"))
		case dup:
			errs = append(errs, fieldErrf(path+".name", "duplicate %q (also servers[%d])", s.Name, first))
		default:
			seen[s.Name] = i
		}
		if err := checkHostPort(s.Address); err != nil {
			errs = append(errs, &FieldError{Path: path + ".address", Err: err})
		}
		if s.Weight != nil && (*s.Weight < 0 || *s.Weight > MaxWeight) {
			errs = append(errs, fieldErrf(path+".weight", "must be 0..%d (0 = only clients already stuck to it), got %d", MaxWeight, *s.Weight))
		}
		if s.State != "" {
			if st, err := ParseState(s.State); err != nil {
				errs = append(errs, &FieldError{Path: path + ".state", Err: err})
			} else if s.Drain && st != StateDrain {
				errs = append(errs, fieldErrf(path+".drain", "drain: true contradicts state: %s (give only one of them)", s.State))
			}
		}
		if s.MaxConn < 0 {
			errs = append(errs, fieldErrf(path+".maxconn", "must be >= 0 (0 = unlimited), got %d", s.MaxConn))
		}
	}
	names := make(map[string]bool, len(servers))
	for _, s := range servers {
		names[s.Name] = true
	}
	for i, s := range servers {
		listed := make(map[string]bool, len(s.ReplicatesTo))
		for j, r := range s.ReplicatesTo {
			path := "servers[" + strconv.Itoa(i) + "].replicates_to[" + strconv.Itoa(j) + "]"
			switch {
			case r == s.Name:
				errs = append(errs, fieldErrf(path, "%q is the server itself", r))
			case !names[r]:
				errs = append(errs, fieldErrf(path, "no server %q in this pool", r))
			case listed[r]:
				errs = append(errs, fieldErrf(path, "%q listed twice", r))
			}
			listed[r] = true
		}
	}
	return errs
}

// checkHostPort accepts "host:port" with a non-empty host and a numeric port 1..65535.
// Names are not resolved: that is the dialer's business, at dial time.
func checkHostPort(addr string) error {
	if addr == "" {
		return errors.New("required (host:port)")
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return errors.New("must be host:port, got " + strconv.Quote(addr))
	}
	if host == "" {
		return errors.New("missing host in " + strconv.Quote(addr))
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil || n == 0 {
		return errors.New("port must be 1..65535, got " + strconv.Quote(port))
	}
	return nil
}

// WithDefaults returns a copy of c with every "0 means default" field filled in, as
// NewPool uses it. Handy for printing the effective configuration.
func (c PoolConfig) WithDefaults() PoolConfig {
	if c.Name == "" {
		c.Name = defaultPoolName
	}
	if c.Balance == "" {
		c.Balance = BalanceRoundRobin
	}
	if c.Stick.Size > 0 && c.Stick.Expire == 0 {
		c.Stick.Expire = DefaultStickExpire
	}
	if c.QueueTimeout == 0 {
		c.QueueTimeout = DefaultQueueTimeout
	}
	c.Classify = append([]Rule(nil), c.Classify...)
	c.Servers = append([]ServerConfig(nil), c.Servers...)
	for i := range c.Servers {
		// A fresh pointer each time: the copy must not share a weight with c.
		w := c.Servers[i].weight()
		c.Servers[i].Weight = &w
		st := c.Servers[i].startState()
		c.Servers[i].State, c.Servers[i].Drain = st.String(), st == StateDrain
		c.Servers[i].ReplicatesTo = slices.Clone(c.Servers[i].ReplicatesTo)
	}
	return c
}
