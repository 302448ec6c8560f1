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
	return c
}
