package load

import (
	"context"
	"fmt"
	"io"
	"maps"
	"slices"
	"sync"
	"time"
)

// Client roles.
const (
	rolePublish = "publish"
	rolePlay    = "play"
)

// Summary is the result of a run; -json prints it as is.
type Summary struct {
	DurationS    float64 `json:"duration_s"`
	Publishers   int     `json:"publishers"`    // configured
	Players      int     `json:"players"`       // configured, all streams
	PublishersUp int     `json:"publishers_up"` // publishers that set up at least one session
	PlayersUp    int     `json:"players_up"`
	PlayersMedia int     `json:"players_with_media"` // players that received media
	// PlayersAtEnd counts the players that received a media message in the
	// last MediaAtEndWindow of the run: still fed when it ended, not only once.
	PlayersAtEnd int               `json:"players_media_at_end"`
	Sessions     uint64            `json:"sessions"`
	SessionRate  float64           `json:"sessions_per_s"`
	BytesOut     uint64            `json:"bytes_out"`
	BytesIn      uint64            `json:"bytes_in"`
	OutMbps      float64           `json:"out_mbit_s"`
	InMbps       float64           `json:"in_mbit_s"`
	Connect      Percentiles       `json:"connect_ms"`      // TCP connect → connect _result
	FirstPacket  Percentiles       `json:"first_packet_ms"` // players: TCP connect → first audio/video message
	Errors       map[string]uint64 `json:"errors"`
	ErrorsTotal  uint64            `json:"errors_total"`
	Clients      []ClientSummary   `json:"clients"`
}

// ClientSummary is one client's part of the Summary.
type ClientSummary struct {
	ID            int               `json:"id"`
	Role          string            `json:"role"`
	Stream        string            `json:"stream"`
	Target        string            `json:"target"`
	Source        string            `json:"source,omitempty"`
	Sessions      uint64            `json:"sessions"`
	BytesOut      uint64            `json:"bytes_out"`
	BytesIn       uint64            `json:"bytes_in"`
	Mbps          float64           `json:"mbit_s"`
	ConnectMs     float64           `json:"connect_ms"`      // first session
	FirstPacketMs float64           `json:"first_packet_ms"` // first session, players
	Errors        map[string]uint64 `json:"errors,omitempty"`
	LastError     string            `json:"last_error,omitempty"`
}

// Run runs the load described by cfg until its Duration has passed or ctx
// ends, printing a progress line to progress every cfg.Progress.
func Run(ctx context.Context, cfg Config, progress io.Writer) (*Summary, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.Duration)
	defer cancel()
	clients := plan(&cfg)
	start := time.Now()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // the ramp: publishers first, then players
		defer wg.Done()
		var interval time.Duration
		if cfg.Ramp > 0 {
			interval = time.Duration(float64(time.Second) / cfg.Ramp)
		}
		for i, c := range clients {
			if ctx.Err() != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				c.run(ctx)
			}()
			if interval > 0 && i < len(clients)-1 {
				select {
				case <-ctx.Done():
					return
				case <-time.After(interval):
				}
			}
		}
	}()
	var progressDone sync.WaitGroup
	if cfg.Progress > 0 && progress != nil {
		progressDone.Add(1)
		go func() {
			defer progressDone.Done()
			reportProgress(ctx, clients, start, cfg.Progress, progress)
		}()
	}
	<-ctx.Done()
	wg.Wait()
	progressDone.Wait() // the caller may read progress's writer once Run returns
	return summarize(clients, time.Since(start)), nil
}

// MediaAtEndWindow is how recent a player's last media message must be, at
// the end of the run, for Summary.PlayersAtEnd. A live stream has several
// messages a second; two seconds leaves room for a keyframe burst and a
// loaded machine's scheduling, not for a starved player.
const MediaAtEndWindow = 2 * time.Second

// plan lays out the clients: one publisher per stream up to Publishers, then
// Players per stream; targets and source addresses are cycled.
func plan(cfg *Config) []*client {
	var out []*client
	add := func(role string, stream int, targets []Target) {
		n := len(out)
		st := &clientStats{id: n, role: role, stream: fmt.Sprintf("%s-%d", cfg.Stream, stream)}
		st.target = targets[n%len(targets)]
		c := &client{cfg: cfg, st: st}
		if len(cfg.Sources) > 0 {
			c.src = cfg.Sources[n%len(cfg.Sources)]
			st.source = c.src.String()
		}
		out = append(out, c)
	}
	for s := range cfg.Publishers {
		add(rolePublish, s, cfg.PublishTargets)
	}
	for range cfg.Players {
		for s := range cfg.Streams {
			add(rolePlay, s, cfg.PlayTargets)
		}
	}
	return out
}

type totals struct {
	up       [2]int // publishers, players connected now
	sessions uint64
	out, in  uint64
	errors   uint64
}

func collect(clients []*client) totals {
	var t totals
	for _, c := range clients {
		if c.st.connected.Load() {
			if c.st.role == rolePublish {
				t.up[0]++
			} else {
				t.up[1]++
			}
		}
		t.sessions += c.st.sessions.Load()
		t.out += c.st.bytesOut.Load()
		t.in += c.st.bytesIn.Load()
		c.st.mu.Lock()
		for _, n := range c.st.errors {
			t.errors += n
		}
		c.st.mu.Unlock()
	}
	return t
}

func reportProgress(ctx context.Context, clients []*client, start time.Time, every time.Duration, w io.Writer) {
	tick := time.NewTicker(every)
	defer tick.Stop()
	var last totals
	lastAt := start
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-tick.C:
			t := collect(clients)
			secs := now.Sub(lastAt).Seconds()
			fmt.Fprintf(w, "%6.1fs  publishers %d  players %d  sessions %d (+%.0f/s)  out %.1f Mbit/s  in %.1f Mbit/s  errors %d\n",
				now.Sub(start).Seconds(), t.up[0], t.up[1], t.sessions, float64(t.sessions-last.sessions)/secs,
				float64(t.out-last.out)*8/1e6/secs, float64(t.in-last.in)*8/1e6/secs, t.errors)
			last, lastAt = t, now
		}
	}
}

func summarize(clients []*client, elapsed time.Duration) *Summary {
	s := &Summary{DurationS: elapsed.Seconds(), Errors: map[string]uint64{}}
	recent := time.Now().Add(-MediaAtEndWindow).UnixNano()
	var connects, firsts []time.Duration
	for _, c := range clients {
		st := c.st
		st.mu.Lock()
		cs := ClientSummary{ID: st.id, Role: st.role, Stream: st.stream, Target: st.target.String(), Source: st.source,
			Sessions: st.sessions.Load(), BytesOut: st.bytesOut.Load(), BytesIn: st.bytesIn.Load(),
			Errors: maps.Clone(st.errors), LastError: st.lastErr}
		if len(st.connectTimes) > 0 {
			cs.ConnectMs = float64(st.connectTimes[0].Microseconds()) / 1000
		}
		if len(st.firstPackets) > 0 {
			cs.FirstPacketMs = float64(st.firstPackets[0].Microseconds()) / 1000
		}
		connects = append(connects, st.connectTimes...)
		firsts = append(firsts, st.firstPackets...)
		for k, n := range st.errors {
			s.Errors[k] += n
			s.ErrorsTotal += n
		}
		st.mu.Unlock()
		cs.Mbps = float64(cs.BytesOut+cs.BytesIn) * 8 / 1e6 / elapsed.Seconds()
		if st.role == rolePublish {
			s.Publishers++
			if cs.Sessions > 0 {
				s.PublishersUp++
			}
		} else {
			s.Players++
			if cs.Sessions > 0 {
				s.PlayersUp++
			}
			if cs.FirstPacketMs > 0 {
				s.PlayersMedia++
			}
			if st.lastMedia.Load() >= recent {
				s.PlayersAtEnd++
			}
		}
		s.Sessions += cs.Sessions
		s.BytesOut += cs.BytesOut
		s.BytesIn += cs.BytesIn
		s.Clients = append(s.Clients, cs)
	}
	s.SessionRate = float64(s.Sessions) / elapsed.Seconds()
	s.OutMbps = float64(s.BytesOut) * 8 / 1e6 / elapsed.Seconds()
	s.InMbps = float64(s.BytesIn) * 8 / 1e6 / elapsed.Seconds()
	s.Connect = percentiles(connects)
	s.FirstPacket = percentiles(firsts)
	return s
}

// WriteText prints the summary for people.
func (s *Summary) WriteText(w io.Writer) {
	fmt.Fprintf(w, "duration      %.1fs\n", s.DurationS)
	fmt.Fprintf(w, "publishers    %d/%d set up\n", s.PublishersUp, s.Publishers)
	fmt.Fprintf(w, "players       %d/%d set up, %d received media, %d still at the end\n", s.PlayersUp, s.Players, s.PlayersMedia, s.PlayersAtEnd)
	fmt.Fprintf(w, "sessions      %d (%.1f/s)\n", s.Sessions, s.SessionRate)
	fmt.Fprintf(w, "sent          %d bytes (%.2f Mbit/s)\n", s.BytesOut, s.OutMbps)
	fmt.Fprintf(w, "received      %d bytes (%.2f Mbit/s)\n", s.BytesIn, s.InMbps)
	p := func(name string, q Percentiles) {
		if q.N == 0 {
			fmt.Fprintf(w, "%-13s -\n", name)
			return
		}
		fmt.Fprintf(w, "%-13s p50 %.2f ms  p90 %.2f  p99 %.2f  max %.2f  (n=%d)\n", name, q.P50, q.P90, q.P99, q.Max, q.N)
	}
	p("connect", s.Connect)
	p("first packet", s.FirstPacket)
	fmt.Fprintf(w, "errors        %d", s.ErrorsTotal)
	for _, k := range slices.Sorted(maps.Keys(s.Errors)) {
		fmt.Fprintf(w, "  %s=%d", k, s.Errors[k])
	}
	fmt.Fprintln(w)
}
