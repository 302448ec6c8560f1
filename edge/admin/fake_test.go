package admin

import (
	"fmt"
	"math"
	"net/netip"
	"sync"
	"time"
)

// fakeSource is an in-memory edge: enough state for every route to change
// something the test can read back.
type fakeSource struct {
	mu       sync.Mutex
	backends []BackendStatus
	sessions []SessionStatus
	sticks   map[string]map[netip.Addr]bool
	ended    []string
	notReady bool
	// failWith, when set, is what UpdateServer returns (to test mapping).
	failWith error
	// grow, when set, makes every Backends and Sessions call look one
	// poll later: byte counters move, so the page has rates to draw.
	grow  bool
	polls int64
}

var t0 = time.Date(2026, 12, 1, 21, 0, 0, 0, time.UTC)

func newFake() *fakeSource {
	return &fakeSource{
		backends: []BackendStatus{{
			Name: "bk_rtmp",
			Servers: []ServerStatus{
				{Name: "media01", Address: "10.0.0.1:1935", State: "ready", Up: true, Weight: 10, Sessions: 2, MaxConn: 200, BytesIn: 1000, BytesOut: 50000, CheckedAt: t0},
				{Name: "media02", Address: "10.0.0.2:1935", State: "drain", Up: true, Weight: 10, Sessions: 1, MaxConn: 200, CheckedAt: t0},
				{Name: "media03", Address: "10.0.0.3:1935", State: "ready", Up: false, Weight: 8, MaxConn: 200, Upload: true, CheckedAt: t0, CheckError: "dial tcp 10.0.0.3:1935: connection refused"},
			},
			Queue:        1,
			StickEntries: 3,
		}},
		sessions: []SessionStatus{
			{ID: "s1a2b3", Client: "127.0.0.7:50123", Listener: "rtmp", Proto: "rtmp", App: "live", TcURL: "rtmp://edge/live", Stream: "camera-north", Kind: "publish", Server: "media03", Backend: "bk_rtmp", Pick: "upload", Phase: "relay", BytesIn: 123456, BytesOut: 3456, Started: t0,
				Replicas: []ReplicaStatus{{Server: "media01", State: "live", Bytes: 120000, LagMs: 12, Queued: 800}, {Server: "media02", State: "backoff", Bytes: 4000, Drops: 1, End: "lag 5.1s"}}},
			{ID: "s4c5d6", Client: "127.0.0.8:50200", Listener: "rtmpt", Proto: "rtmpt", App: "live", TcURL: "rtmpt://edge/live", Stream: "camera-north", Kind: "play", Server: "media01", Backend: "bk_rtmp", Pick: "stick", Phase: "relay", BytesIn: 3456, BytesOut: 654321, Started: t0.Add(time.Minute)},
		},
		sticks: map[string]map[netip.Addr]bool{"bk_rtmp": {netip.MustParseAddr("127.0.0.7"): true}},
	}
}

func (f *fakeSource) Backends() []BackendStatus {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.grow {
		f.polls++
		for bi := range f.backends {
			for si := range f.backends[bi].Servers {
				s := &f.backends[bi].Servers[si]
				if s.Sessions > 0 {
					// Uneven steps, so a sparkline has a shape.
					n := float64(s.Sessions)
					wave := 1 + 0.35*math.Sin(float64(f.polls)/5+float64(si)) + 0.1*math.Sin(float64(f.polls)*1.7)
					s.BytesIn += int64(n * 400 * wave)
					s.BytesOut += int64(n * 48000 * wave)
				}
			}
		}
	}
	out := make([]BackendStatus, len(f.backends))
	for i, b := range f.backends {
		out[i] = b
		out[i].Servers = append([]ServerStatus(nil), b.Servers...)
	}
	return out
}

func (f *fakeSource) Sessions() []SessionStatus {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.grow {
		for i := range f.sessions {
			s := &f.sessions[i]
			// Each session its own bitrate, about 1.5 to 4 Mb/s.
			rate := int64(190000+37000*(i%7)) + 9000*(f.polls%3)
			switch s.Kind {
			case "publish":
				s.BytesIn += rate
				s.BytesOut += 900
			case "play":
				s.BytesIn += 700
				s.BytesOut += rate
			}
		}
	}
	return append([]SessionStatus(nil), f.sessions...)
}

func (f *fakeSource) UpdateServer(backend, server string, u ServerUpdate) (ServerStatus, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failWith != nil {
		return ServerStatus{}, f.failWith
	}
	for bi := range f.backends {
		if f.backends[bi].Name != backend {
			continue
		}
		for si := range f.backends[bi].Servers {
			s := &f.backends[bi].Servers[si]
			if s.Name != server {
				continue
			}
			if u.State != nil {
				s.State = *u.State
			}
			if u.Weight != nil {
				s.Weight = *u.Weight
			}
			return *s, nil
		}
		return ServerStatus{}, fmt.Errorf("backend %q has no server %q: %w", backend, server, ErrNotFound)
	}
	return ServerStatus{}, fmt.Errorf("no backend %q: %w", backend, ErrNotFound)
}

func (f *fakeSource) EndSession(id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i, s := range f.sessions {
		if s.ID == id {
			f.sessions = append(f.sessions[:i:i], f.sessions[i+1:]...)
			f.ended = append(f.ended, id)
			return nil
		}
	}
	return fmt.Errorf("no session %q: %w", id, ErrNotFound)
}

func (f *fakeSource) ForgetStick(backend string, client netip.Addr) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	t, ok := f.sticks[backend]
	if !ok {
		return fmt.Errorf("no backend %q: %w", backend, ErrNotFound)
	}
	if !t[client] {
		return fmt.Errorf("backend %q has no stick entry for %s: %w", backend, client, ErrNotFound)
	}
	delete(t, client)
	return nil
}

func (f *fakeSource) Ready() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return !f.notReady
}

func (f *fakeSource) server(backend, server string) ServerStatus {
	for _, b := range f.Backends() {
		for _, s := range b.Servers {
			if b.Name == backend && s.Name == server {
				return s
			}
		}
	}
	return ServerStatus{}
}
