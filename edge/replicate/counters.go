package replicate

import (
	"strings"
	"sync"
)

// ServerCounts are one server's replica counts.
type ServerCounts struct {
	Sessions int64 // replica sessions started (first joins and rejoins)
	Live     int64 // replica sessions whose publish the server accepted, now
	Bytes    int64 // bytes written to the server by replica sessions
	Drops    int64 // replica sessions ended by a bound or a failure (not by the publisher's end)
	Rejoins  int64 // sessions started again after a drop
}

// Counters keeps ServerCounts per server. The zero value is ready; it is
// safe for concurrent use and may be shared by many Publishes.
type Counters struct {
	mu    sync.Mutex
	m     map[string]*ServerCounts
	stops map[string]int64 // replications stopped for good, by reason label
}

// stopped counts a publish whose replication stopped before its publisher
// ended (intake overflow, unreadable publisher stream, internal error). The
// label is the reason up to its first colon, so that details (an offset, a
// parser's message) do not make a metric label per event.
func (c *Counters) stopped(reason string) {
	label, _, _ := strings.Cut(reason, ":")
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stops == nil {
		c.stops = make(map[string]int64)
	}
	c.stops[label]++
}

// Stops returns how many publishes' replication stopped before the
// publisher ended, by reason label.
func (c *Counters) Stops() map[string]int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]int64, len(c.stops))
	for k, v := range c.stops {
		out[k] = v
	}
	return out
}

func (c *Counters) add(server string, f func(*ServerCounts)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = make(map[string]*ServerCounts)
	}
	s := c.m[server]
	if s == nil {
		s = &ServerCounts{}
		c.m[server] = s
	}
	f(s)
}

// Snapshot returns a copy of every server's counts.
func (c *Counters) Snapshot() map[string]ServerCounts {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]ServerCounts, len(c.m))
	for k, v := range c.m {
		out[k] = *v
	}
	return out
}
