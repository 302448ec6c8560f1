package upstream

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Health check types of CheckConfig.Type.
const (
	CheckTCP  = "tcp"  // the server is up when a TCP connection can be established (HAProxy's plain "check")
	CheckRTMP = "rtmp" // handshake + connect(app) answered by a successful _result
	CheckNone = "none" // no checks: the server is always up
)

// Defaults applied to zero fields of CheckConfig (HAProxy's inter, rise and fall defaults).
const (
	DefaultCheckInterval = 2 * time.Second
	DefaultCheckTimeout  = 2 * time.Second
	DefaultCheckRise     = 2
	DefaultCheckFall     = 3
	DefaultCheckApp      = "live"
)

// CheckConfig configures the health check of one server. The zero value is a tcp check with
// HAProxy's defaults.
type CheckConfig struct {
	Type     string        `yaml:"type"`     // "tcp" (default) | "rtmp" | "none"
	Interval time.Duration `yaml:"interval"` // between the starts of two probes; 0 means 2s
	Timeout  time.Duration `yaml:"timeout"`  // whole probe (connect, and for rtmp handshake + connect); 0 means 2s
	Rise     int           `yaml:"rise"`     // consecutive successes that bring a down server up; 0 means 2
	Fall     int           `yaml:"fall"`     // consecutive failures that take an up server down; 0 means 3
	App      string        `yaml:"app"`      // rtmp check: app to connect to; "" means "live"
}

// Validate reports every invalid field, each prefixed with its YAML key.
func (c *CheckConfig) Validate() error {
	var errs []error
	switch c.Type {
	case "", CheckTCP, CheckRTMP, CheckNone:
	default:
		errs = append(errs, fmt.Errorf("type: must be tcp, rtmp or none, got %q", c.Type))
	}
	if c.Interval < 0 {
		errs = append(errs, fmt.Errorf("interval: must not be negative, got %s", c.Interval))
	}
	if c.Timeout < 0 {
		errs = append(errs, fmt.Errorf("timeout: must not be negative, got %s", c.Timeout))
	}
	if c.Rise < 0 {
		errs = append(errs, fmt.Errorf("rise: must not be negative, got %d", c.Rise))
	}
	if c.Fall < 0 {
		errs = append(errs, fmt.Errorf("fall: must not be negative, got %d", c.Fall))
	}
	if strings.ContainsFunc(c.App, func(r rune) bool { return r < 0x20 || r == 0x7f || r == '/' }) {
		errs = append(errs, fmt.Errorf("app: must not contain '/' or control characters, got %q", c.App))
	}
	return errors.Join(errs...)
}

// WithDefaults returns a copy with every zero field set to its default.
func (c CheckConfig) WithDefaults() CheckConfig {
	if c.Type == "" {
		c.Type = CheckTCP
	}
	if c.Interval == 0 {
		c.Interval = DefaultCheckInterval
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultCheckTimeout
	}
	if c.Rise == 0 {
		c.Rise = DefaultCheckRise
	}
	if c.Fall == 0 {
		c.Fall = DefaultCheckFall
	}
	if c.App == "" {
		c.App = DefaultCheckApp
	}
	return c
}
