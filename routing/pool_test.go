package routing

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"
)

var client1 = addr("127.0.0.11")

func TestAcquireCandidatesAndAffinity(t *testing.T) {
	tests := []struct {
		name       string
		stick      bool
		setup      func(t *testing.T, p *Pool)
		req        func(p *Pool) Request
		wantServer string // "" = any server but notServer
		notServer  string
		wantReason string // prefix
		wantErr    error
	}{
		{name: "play uses the balancer over all servers", req: play(client1), wantServer: "media01", wantReason: "roundrobin"},
		{name: "publish goes to the upload server", req: publish(client1), wantServer: "media03", wantReason: "upload: roundrobin"},
		{name: "publish falls back when the upload server is down",
			setup: func(t *testing.T, p *Pool) { p.Server("media03").SetHealthy(false) },
			req:   publish(client1), wantServer: "media01", wantReason: "upload-fallback: roundrobin"},
		{name: "publish falls back when the upload server drains",
			setup: func(t *testing.T, p *Pool) { p.Server("media03").SetDraining(true) },
			req:   publish(client1), wantServer: "media01", wantReason: "upload-fallback"},
		{name: "publish falls back when the upload server is full",
			setup: func(t *testing.T, p *Pool) { hold(t, p, "media03", 200) },
			req:   publish(client1), wantServer: "media01", wantReason: "upload-fallback"},
		{name: "publish falls back when the upload server is excluded",
			req: func(p *Pool) Request {
				return Request{Client: client1, Kind: Publish, Exclude: []*Server{p.Server("media03")}}
			}, wantServer: "media01", wantReason: "upload-fallback"},
		{name: "play never gets an excluded server",
			req: func(p *Pool) Request {
				return Request{Client: client1, Kind: Play, Exclude: []*Server{p.Server("media01")}}
			}, wantServer: "media02"},
		{name: "everything excluded", req: func(p *Pool) Request {
			return Request{Kind: Play, Exclude: p.Servers()}
		}, wantErr: ErrNoServer},
		{name: "everything down", setup: allDown, req: play(client1), wantErr: ErrNoServer},
		{name: "publish with everything down", setup: allDown, req: publish(client1), wantErr: ErrNoServer},
		{name: "everything draining and no affinity", setup: allDraining, req: play(client1), wantErr: ErrNoServer},
		{name: "draining servers get no new sessions",
			setup: func(t *testing.T, p *Pool) { p.Server("media01").SetDraining(true) },
			req:   play(client1), wantServer: "media02"},

		{name: "stuck client returns to its server", stick: true,
			setup: func(t *testing.T, p *Pool) { stickTo(t, p, client1, "media02") },
			req:   play(client1), wantServer: "media02", wantReason: "stick"},
		{name: "stuck client still reaches a draining server", stick: true,
			setup: func(t *testing.T, p *Pool) {
				stickTo(t, p, client1, "media02")
				p.Server("media02").SetDraining(true)
			}, req: play(client1), wantServer: "media02", wantReason: "stick"},
		{name: "all draining but the client is stuck", stick: true,
			setup: func(t *testing.T, p *Pool) {
				stickTo(t, p, client1, "media03")
				allDraining(t, p)
			}, req: play(client1), wantServer: "media03", wantReason: "stick"},
		{name: "another client does not get the draining server", stick: true,
			setup: func(t *testing.T, p *Pool) {
				stickTo(t, p, client1, "media01")
				p.Server("media01").SetDraining(true)
			}, req: play(addr("127.0.0.99")), notServer: "media01", wantReason: "roundrobin"},
		{name: "stuck server down: pick anew", stick: true,
			setup: func(t *testing.T, p *Pool) {
				stickTo(t, p, client1, "media01")
				p.Server("media01").SetHealthy(false)
			}, req: play(client1), notServer: "media01", wantReason: "roundrobin"},
		{name: "stuck server excluded: pick anew", stick: true,
			setup: func(t *testing.T, p *Pool) { stickTo(t, p, client1, "media01") },
			req: func(p *Pool) Request {
				return Request{Client: client1, Kind: Play, Exclude: []*Server{p.Server("media01")}}
			}, notServer: "media01", wantReason: "roundrobin"},
		{name: "stuck server full: pick anew", stick: true,
			setup: func(t *testing.T, p *Pool) {
				stickTo(t, p, client1, "media02")
				hold(t, p, "media02", 200)
			}, req: play(client1), notServer: "media02", wantReason: "roundrobin"},
		{name: "publisher stuck to a play server goes to the upload server", stick: true,
			setup: func(t *testing.T, p *Pool) { stickTo(t, p, client1, "media01") },
			req:   publish(client1), wantServer: "media03", wantReason: "upload: roundrobin"},
		{name: "publisher stuck to the draining upload server stays", stick: true,
			setup: func(t *testing.T, p *Pool) {
				stickTo(t, p, client1, "media03")
				p.Server("media03").SetDraining(true)
			}, req: publish(client1), wantServer: "media03", wantReason: "stick (upload)"},
		{name: "fallback publisher sticks within the fallback set", stick: true,
			setup: func(t *testing.T, p *Pool) {
				stickTo(t, p, client1, "media02")
				p.Server("media03").SetHealthy(false)
			}, req: publish(client1), wantServer: "media02", wantReason: "stick (upload-fallback)"},
		{name: "IPv4-mapped IPv6 is the same client", stick: true,
			setup: func(t *testing.T, p *Pool) { stickTo(t, p, client1, "media02") },
			req:   play(addr("::ffff:127.0.0.11")), wantServer: "media02", wantReason: "stick"},
		{name: "unconfirmed lease does not stick", stick: true,
			setup: func(t *testing.T, p *Pool) {
				l := mustAcquire(t, p, Request{Client: client1, Kind: Play})
				l.Release()
			}, req: play(client1), wantServer: "media02", wantReason: "roundrobin"},
		{name: "affinity off", setup: func(t *testing.T, p *Pool) { stickTo(t, p, client1, "media03") },
			req: play(client1), wantServer: "media01", wantReason: "roundrobin"},
		{name: "invalid client address means no affinity", stick: true,
			setup: func(t *testing.T, p *Pool) {
				l := mustAcquire(t, p, Request{Kind: Play})
				l.Confirm()
				l.Release()
			}, req: play(addr("127.0.0.1")), wantServer: "media02", wantReason: "roundrobin"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newTestPool(t, func(c *PoolConfig) {
				if tt.stick {
					withStick(c)
				}
			})
			if tt.setup != nil {
				tt.setup(t, p)
			}
			l, err := p.Acquire(context.Background(), tt.req(p))
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("Acquire = %v, %v; want error %v", l, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Acquire: %v", err)
			}
			defer l.Release()
			if tt.wantServer != "" && l.Server.Name != tt.wantServer {
				t.Errorf("server %s (%q), want %s", l.Server.Name, l.Reason, tt.wantServer)
			}
			if tt.notServer != "" && l.Server.Name == tt.notServer {
				t.Errorf("server %s (%q), must not be %s", l.Server.Name, l.Reason, tt.notServer)
			}
			if !strings.HasPrefix(l.Reason, tt.wantReason) {
				t.Errorf("reason %q, want prefix %q", l.Reason, tt.wantReason)
			}
			if l.Server.Active() < 1 {
				t.Errorf("lease holds no slot on %s", l.Server.Name)
			}
		})
	}
}

// TestStickOverwrittenAfterFailover is HAProxy's behaviour: a client whose server
// went down is re-balanced, the entry is overwritten on Confirm, and the client stays on
// the new server after the old one recovers.
func TestStickOverwrittenAfterFailover(t *testing.T) {
	p := newTestPool(t, withStick)
	stickTo(t, p, client1, "media01")
	p.Server("media01").SetHealthy(false)
	l := mustAcquire(t, p, Request{Client: client1, Kind: Play})
	moved := l.Server
	l.Confirm()
	l.Release()
	p.Server("media01").SetHealthy(true)
	again := mustAcquire(t, p, Request{Client: client1, Kind: Play})
	defer again.Release()
	if again.Server != moved || again.Reason != "stick" {
		t.Errorf("after recovery the client went to %s (%q), want to stay on %s", again.Server, again.Reason, moved)
	}
}

// TestRetryWithExclude is the dial-retry loop of the session pipeline: each failed
// server is excluded, every server is tried once, then ErrNoServer.
func TestRetryWithExclude(t *testing.T) {
	p := newTestPool(t, withStick)
	stickTo(t, p, client1, "media02")
	var tried []*Server
	seen := map[string]bool{}
	for {
		l, err := p.Acquire(context.Background(), Request{Client: client1, Kind: Play, Exclude: tried})
		if errors.Is(err, ErrNoServer) {
			break
		}
		if err != nil {
			t.Fatalf("Acquire: %v", err)
		}
		if seen[l.Server.Name] {
			t.Fatalf("server %s picked twice", l.Server.Name)
		}
		seen[l.Server.Name] = true
		tried = append(tried, l.Server)
		l.Release() // the dial failed: no Confirm
	}
	if len(seen) != 3 || tried[0].Name != "media02" {
		t.Errorf("tried %v, want all three, media02 (stuck) first", tried)
	}
	if got := stuckServer(p, client1); got == nil || got.Name != "media02" {
		t.Errorf("failed attempts changed the stick entry to %v", got)
	}
}

func TestHealthAndDrainTransitions(t *testing.T) {
	p := newTestPool(t, nil)
	s := p.Server("media01")
	steps := []struct {
		up          bool
		wantChanged bool
	}{{true, false}, {false, true}, {false, false}, {true, true}}
	for i, st := range steps {
		if got := s.SetHealthy(st.up); got != st.wantChanged || s.Healthy() != st.up {
			t.Errorf("step %d: SetHealthy(%v) changed=%v healthy=%v", i, st.up, got, s.Healthy())
		}
	}
	if s.Draining() {
		t.Error("server starts draining without drain: true")
	}
	s.SetDraining(true)
	if !s.Draining() || s.Usable() {
		t.Error("draining server reported usable")
	}
	drained := newTestPool(t, func(c *PoolConfig) { c.Servers[1].Drain = true })
	if !drained.Server("media02").Draining() || drained.Server("media01").Draining() {
		t.Error("drain: true not applied at start")
	}
}

func TestHealthChangeKeepsRunningLeases(t *testing.T) {
	p := newTestPool(t, nil)
	leases := hold(t, p, "media02", 3)
	s := p.Server("media02")
	s.SetHealthy(false)
	s.SetDraining(true)
	if s.Active() != 3 {
		t.Fatalf("Active = %d after going down, want the 3 running sessions", s.Active())
	}
	for _, l := range leases {
		l.Release()
	}
	if s.Active() != 0 {
		t.Errorf("Active = %d after release, want 0", s.Active())
	}
}

func TestLeaseReleaseIdempotentAndConfirmAfterRelease(t *testing.T) {
	p := newTestPool(t, withStick)
	l := mustAcquire(t, p, Request{Client: client1, Kind: Play})
	s := l.Server
	l.Release()
	l.Release()
	l.Confirm()
	if s.Active() != 0 {
		t.Errorf("Active = %d after double release, want 0", s.Active())
	}
	if p.StickLen() != 0 {
		t.Errorf("Confirm after Release stored a stick entry (StickLen %d)", p.StickLen())
	}
	var nilLease *Lease
	nilLease.Confirm()
	nilLease.Release()
}

func TestPoolAccessors(t *testing.T) {
	p := newTestPool(t, nil)
	if p.Name() != "media" || p.Balance() != "roundrobin" || p.Classifier() == nil {
		t.Errorf("Name %q Balance %q Classifier %v", p.Name(), p.Balance(), p.Classifier())
	}
	servers := p.Servers()
	if len(servers) != 3 || servers[2].Name != "media03" || !servers[2].Upload() || servers[2].Weight() != 8 || servers[0].MaxConn() != 200 {
		t.Errorf("Servers() = %+v", servers)
	}
	servers[0] = nil
	if p.Servers()[0] == nil {
		t.Error("Servers() exposes the pool's own slice")
	}
	if p.Server("nope") != nil || p.Server("media02") == nil {
		t.Error("Server lookup by name")
	}
	defaulted := newTestPool(t, func(c *PoolConfig) { c.Name = ""; c.Servers[0].Weight = nil })
	if defaulted.Name() != "default" || defaulted.Server("media01").Weight() != 1 {
		t.Errorf("defaults not applied: name %q weight %d", defaulted.Name(), defaulted.Server("media01").Weight())
	}
}

func play(c netip.Addr) func(*Pool) Request {
	return func(*Pool) Request { return Request{Client: c, Kind: Play} }
}

func publish(c netip.Addr) func(*Pool) Request {
	return func(*Pool) Request { return Request{Client: c, Kind: Publish} }
}

func allDown(t *testing.T, p *Pool) {
	for _, s := range p.Servers() {
		s.SetHealthy(false)
	}
}

func allDraining(t *testing.T, p *Pool) {
	for _, s := range p.Servers() {
		s.SetDraining(true)
	}
}
