package replicate

import "sync"

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
	mu sync.Mutex
	m  map[string]*ServerCounts
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
