package rtmpt

import (
	"errors"
	"fmt"
	"time"
)

// Defaults applied by Config for zero values. Negative values are errors.
const (
	DefaultMaxSessions      = 1000
	DefaultMaxSessionsPerIP = 16
	DefaultMaxBody          = 256 << 10
	DefaultIdleTimeout      = 30 * time.Second
	DefaultReorderWindow    = 8
	DefaultBuffer           = 256 << 10
	DefaultMemoryBudget     = 64 << 20
	// DefaultOpenTimeout and the HTTP defaults equal the edge's RTMP
	// handshake timeout: a tunnelled client gets no longer than a TCP one to
	// show it is real, and a slow HTTP peer holds a connection no longer.
	DefaultOpenTimeout      = 5 * time.Second
	DefaultHTTPReadTimeout  = 5 * time.Second
	DefaultHTTPIdleTimeout  = 5 * time.Second
	DefaultHTTPWriteTimeout = 5 * time.Second

	// maxReplyData caps the server→client bytes carried by one reply, so one
	// poll never turns into an unbounded response; the rest waits for the next.
	maxReplyData = 64 << 10
)

// Config configures the tunnel server. The zero value of every field means
// its default (named after the field); negative values are rejected by
// Validate.
type Config struct {
	// MaxSessions caps the tunnel sessions open at once; /open/1 beyond it is
	// answered 503. 0 means DefaultMaxSessions (1000).
	MaxSessions int `yaml:"max_sessions"`
	// MaxSessionsPerIP caps the sessions one client IP may hold; /open/1
	// beyond it is answered 503. 0 means DefaultMaxSessionsPerIP (16).
	MaxSessionsPerIP int `yaml:"max_sessions_per_ip"`
	// MaxBody caps one request body in bytes; larger requests get 413.
	// 0 means DefaultMaxBody (256 KiB).
	MaxBody int `yaml:"max_body"`
	// IdleTimeout closes a session that received no request for this long,
	// and fails a session whose sequence gap stays open this long.
	// 0 means DefaultIdleTimeout (30s).
	IdleTimeout time.Duration `yaml:"idle_timeout"`
	// ReorderWindow is how many ahead-of-turn requests one session may hold
	// before the session fails. 0 means DefaultReorderWindow (8).
	ReorderWindow int `yaml:"reorder_window"`
	// Buffer is how many server→client bytes a session holds before
	// Conn.Write blocks, and how many client→server bytes it holds before a
	// /send waits for the handler to read. 0 means DefaultBuffer (256 KiB).
	Buffer int `yaml:"buffer"`
	// MemoryBudget caps, across all sessions, the bytes held for clients:
	// ahead-of-turn bodies, both directions' buffers and the replies kept
	// for resends. The session whose request (or whose handler's Write)
	// would pass it fails (reason memory_budget); the others go on. Held
	// bodies may take at most half of it, so in-turn traffic always has
	// room. 0 means DefaultMemoryBudget (64 MiB); it must be at least MaxBody.
	MemoryBudget int `yaml:"memory_budget"`
	// OpenTimeout ends a session that received no /send byte this long
	// after its /open (reason abandoned), and a session whose handler has
	// closed when the client sent no request for this long: both free
	// their slots well before IdleTimeout. 0 means DefaultOpenTimeout (5s).
	OpenTimeout time.Duration `yaml:"open_timeout"`
	// HTTPReadTimeout bounds reading one request, headers and body, from
	// its first byte (or from the connection's start for the first request);
	// a request not complete in time gets 408 (reason http_timeout).
	// 0 means DefaultHTTPReadTimeout (5s).
	HTTPReadTimeout time.Duration `yaml:"http_read_timeout"`
	// HTTPIdleTimeout is how long a keep-alive connection may wait for its
	// next request; then it is closed (not a refusal: clients reconnect).
	// 0 means DefaultHTTPIdleTimeout (5s).
	HTTPIdleTimeout time.Duration `yaml:"http_idle_timeout"`
	// HTTPWriteTimeout bounds writing one reply to a client that does not
	// read. 0 means DefaultHTTPWriteTimeout (5s).
	HTTPWriteTimeout time.Duration `yaml:"http_write_timeout"`
}

// Validate reports every invalid field, each prefixed by its yaml path.
func (c *Config) Validate() error {
	var errs []error
	neg := func(name string, v int64) {
		if v < 0 {
			errs = append(errs, fmt.Errorf("rtmpt.%s: must not be negative, got %d (0 means the default)", name, v))
		}
	}
	neg("max_sessions", int64(c.MaxSessions))
	neg("max_sessions_per_ip", int64(c.MaxSessionsPerIP))
	neg("max_body", int64(c.MaxBody))
	neg("idle_timeout", int64(c.IdleTimeout))
	neg("reorder_window", int64(c.ReorderWindow))
	neg("buffer", int64(c.Buffer))
	neg("memory_budget", int64(c.MemoryBudget))
	neg("open_timeout", int64(c.OpenTimeout))
	neg("http_read_timeout", int64(c.HTTPReadTimeout))
	neg("http_idle_timeout", int64(c.HTTPIdleTimeout))
	neg("http_write_timeout", int64(c.HTTPWriteTimeout))
	if d := c.withDefaults(); c.MemoryBudget >= 0 && c.MaxBody >= 0 && d.MemoryBudget < d.MaxBody {
		// A budget below one body would fail every session that sends one.
		errs = append(errs, fmt.Errorf("rtmpt.memory_budget: %d is below max_body %d", d.MemoryBudget, d.MaxBody))
	}
	if c.MaxSessions > 0 && c.MaxSessionsPerIP > c.MaxSessions {
		errs = append(errs, fmt.Errorf("rtmpt.max_sessions_per_ip: %d exceeds max_sessions %d", c.MaxSessionsPerIP, c.MaxSessions))
	}
	return errors.Join(errs...)
}

// withDefaults returns c with zero fields replaced by their defaults.
func (c Config) withDefaults() Config {
	if c.MaxSessions == 0 {
		c.MaxSessions = DefaultMaxSessions
	}
	if c.MaxSessionsPerIP == 0 {
		c.MaxSessionsPerIP = DefaultMaxSessionsPerIP
	}
	if c.MaxBody == 0 {
		c.MaxBody = DefaultMaxBody
	}
	if c.IdleTimeout == 0 {
		c.IdleTimeout = DefaultIdleTimeout
	}
	if c.ReorderWindow == 0 {
		c.ReorderWindow = DefaultReorderWindow
	}
	if c.Buffer == 0 {
		c.Buffer = DefaultBuffer
	}
	if c.MemoryBudget == 0 {
		c.MemoryBudget = DefaultMemoryBudget
	}
	if c.OpenTimeout == 0 {
		c.OpenTimeout = DefaultOpenTimeout
	}
	if c.HTTPReadTimeout == 0 {
		c.HTTPReadTimeout = DefaultHTTPReadTimeout
	}
	if c.HTTPIdleTimeout == 0 {
		c.HTTPIdleTimeout = DefaultHTTPIdleTimeout
	}
	if c.HTTPWriteTimeout == 0 {
		c.HTTPWriteTimeout = DefaultHTTPWriteTimeout
	}
	return c
}
