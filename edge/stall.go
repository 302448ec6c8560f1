package edge

import (
	"time"

	"github.com/rtmp-edge/rtmp-edge/routing"
)

// stallTimeout: 0 means the default, negative disables (0 returned).
func (b *BackendConfig) stallTimeout() time.Duration {
	return orDefault(b.StallTimeout, defaultStallTimeout)
}

// writeTimeout: 0 means the default, negative disables (0 returned).
func (b *BackendConfig) writeTimeout() time.Duration {
	return orDefault(b.WriteTimeout, defaultWriteTimeout)
}

// sndBuf: 0 means the default, negative leaves the kernel's autotuning (0 returned).
func (l *ListenerConfig) sndBuf() int {
	switch {
	case l.SndBuf == 0:
		return defaultSndBuf
	case l.SndBuf < 0:
		return 0
	}
	return l.SndBuf
}

func orDefault(d, def time.Duration) time.Duration {
	switch {
	case d == 0:
		return def
	case d < 0:
		return 0
	}
	return d
}

// stallSweep is how often the edge looks for sessions stalled on a media
// server that is down.
const stallSweep = time.Second

// watchStalls ends, every stallSweep until done closes, the relaying players
// whose media server is marked down and has sent them nothing for the
// backend's stall_timeout: the health check already knows the server is
// gone, so the client should not wait for the idle timeout to find out.
func (e *Edge) watchStalls(done <-chan struct{}) {
	t := time.NewTicker(stallSweep)
	defer t.Stop()
	for {
		select {
		case <-done:
			return
		case now := <-t.C:
			e.sweepStalls(now)
		}
	}
}

func (e *Edge) sweepStalls(now time.Time) {
	for _, s := range e.sessions.snapshot() {
		s.mu.Lock()
		relaying, server := s.phase == phaseRelay, s.server
		// Only viewers: a media server sends a publisher next to nothing after
		// its publish, so silence says nothing there.
		player := s.kind == routing.Play
		if s.command != nil {
			player = s.command.Name != "publish"
		}
		s.mu.Unlock()
		if !relaying || server == nil || !player {
			continue
		}
		limit := s.backend.cfg.stallTimeout() // the SNI entry's backend for a TLS client
		// Only this goroutine touches the stall fields.
		if down := s.counters.ServerToClient.Load(); down != s.stallBytes || s.stallSince.IsZero() {
			s.stallBytes, s.stallSince = down, now
			continue
		}
		if limit > 0 && !server.Healthy() && now.Sub(s.stallSince) >= limit {
			e.log.Info("media server down and silent: ending its session", "id", s.id, "server", server.Name,
				"silent_for", now.Sub(s.stallSince).Round(time.Second).String())
			s.cut(endServerDown)
		}
	}
}
