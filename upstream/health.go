package upstream

import (
	"context"
	"fmt"
	"log/slog"
	"runtime/debug"
	"time"
)

// HealthCheck probes one server from the edge's own address (never transparently, like
// HAProxy, whose checks ignore usesrc). The server starts up; Fall consecutive failures take
// it down; Rise consecutive successes bring it back.
type HealthCheck struct {
	Config   CheckConfig
	Server   string                       // name, for logs
	Address  string                       // host:port of the server
	OnChange func(up bool, reason string) // called only on transitions, from Run's goroutine; may be nil
	// OnProbe, if non-nil, is called after every probe with its result (nil when it
	// passed), from Run's goroutine: what an operator's "last check" column shows.
	OnProbe func(err error)
	Logger  *slog.Logger // nil means slog.Default()
	// ProxyProtocol is the backend's proxy_protocol ("", "v1", "v2"): a server
	// that expects the header resets an rtmp probe without one, so the probe
	// sends it too, naming the edge's own addresses (checks never act for a client).
	ProxyProtocol string
	// OnConnectResult, when set, receives the server's connect reply after every successful
	// rtmp probe (from Run's goroutine): the shape the edge answers clients' connects in.
	OnConnectResult func(ConnectResult)
}

// Run probes every Interval until ctx is done. A probe runs at once, then one per tick; probes
// never overlap. Type "none" returns immediately (the server stays up). A panic in a probe
// counts as a failed probe; Run itself recovers and logs rather than crash the process.
func (h *HealthCheck) Run(ctx context.Context) {
	cfg := h.Config.WithDefaults()
	log := h.logger().With("server", h.Server, "address", h.Address, "check", cfg.Type)
	defer func() {
		if p := recover(); p != nil {
			log.Error("health check stopped by panic", "panic", p, "stack", string(debug.Stack()))
		}
	}()
	if cfg.Type == CheckNone {
		return
	}
	ticker := time.NewTicker(cfg.Interval)
	defer ticker.Stop()

	up, okStreak, failStreak := true, 0, 0
	for {
		err := h.probe(ctx, cfg)
		if ctx.Err() != nil {
			return // a probe cut short by shutdown says nothing about the server
		}
		if h.OnProbe != nil {
			h.OnProbe(err)
		}
		var changed bool
		up, okStreak, failStreak, changed = nextState(up, okStreak, failStreak, err == nil, cfg.Rise, cfg.Fall)
		if changed {
			reason := fmt.Sprintf("%d consecutive successful %s checks", okStreak, cfg.Type)
			if !up {
				reason = fmt.Sprintf("%d consecutive failed %s checks, last: %v", failStreak, cfg.Type, err)
				log.Warn("server down", "reason", reason)
			} else {
				log.Info("server up", "reason", reason)
			}
			if h.OnChange != nil {
				h.OnChange(up, reason)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
	}
}

// probe runs one check of cfg.Type within cfg.Timeout. A panic (go-rtmp has a few on
// malformed input) is a failed probe.
func (h *HealthCheck) probe(ctx context.Context, cfg CheckConfig) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%s check panicked: %v", cfg.Type, p)
		}
	}()
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	switch cfg.Type {
	case CheckRTMP:
		res, err := probeRTMPResult(ctx, h.Address, cfg.App, h.ProxyProtocol)
		if err == nil && h.OnConnectResult != nil {
			h.OnConnectResult(res)
		}
		return err
	default:
		return probeTCP(ctx, h.Address)
	}
}

func (h *HealthCheck) logger() *slog.Logger {
	if h.Logger != nil {
		return h.Logger
	}
	return slog.Default()
}

// nextState is the rise/fall transition for one probe result: it returns the new state,
// the new streaks, and whether up changed. Streaks are capped so they cannot overflow on a
// server that stays in one state for years.
func nextState(up bool, okStreak, failStreak int, ok bool, rise, fall int) (newUp bool, newOK, newFail int, changed bool) {
	if ok {
		okStreak, failStreak = min(okStreak+1, rise), 0
		if !up && okStreak >= rise {
			return true, okStreak, failStreak, true
		}
		return up, okStreak, failStreak, false
	}
	okStreak, failStreak = 0, min(failStreak+1, fall)
	if up && failStreak >= fall {
		return false, okStreak, failStreak, true
	}
	return up, okStreak, failStreak, false
}
