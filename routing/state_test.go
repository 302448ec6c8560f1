package routing

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// TestAdmissionRules: what drain, maint and weight 0 let in, for a client stuck to
// the server and for everyone else, and that none of them touches a running session.
func TestAdmissionRules(t *testing.T) {
	tests := []struct {
		name       string
		apply      func(s *Server)
		stuckGoes  bool   // the stuck client gets media02 back
		stuckWhy   string // its Lease.Reason prefix
		othersGoTo bool   // new clients may land on media02
	}{
		{"ready", func(s *Server) { s.SetState(StateReady) }, true, "stick", true},
		{"drain", func(s *Server) { s.SetState(StateDrain) }, true, "stick", false},
		{"maint", func(s *Server) { s.SetState(StateMaint) }, false, "roundrobin", false},
		{"weight 0", func(s *Server) { mustSetWeight(t, s, 0) }, true, "stick", false},
		{"drain via SetDraining", func(s *Server) { s.SetDraining(true) }, true, "stick", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newTestPool(t, withStick)
			m2 := p.Server("media02")
			running := hold(t, p, "media02", 2)
			stickTo(t, p, client1, "media02")
			tt.apply(m2)
			if m2.Active() != 2 {
				t.Fatalf("running sessions touched: Active %d, want 2", m2.Active())
			}
			l := mustAcquire(t, p, Request{Client: client1, Kind: Play})
			if got := l.Server == m2; got != tt.stuckGoes {
				t.Errorf("stuck client went to %s (%q); want media02: %v", l.Server, l.Reason, tt.stuckGoes)
			}
			if !strings.HasPrefix(l.Reason, tt.stuckWhy) {
				t.Errorf("stuck client's reason %q, want %q", l.Reason, tt.stuckWhy)
			}
			l.Release()
			got := 0
			for _, n := range pickNames(t, p, Play, 56) {
				if n == "media02" {
					got++
				}
			}
			if (got > 0) != tt.othersGoTo {
				t.Errorf("new clients got media02 %d times in 56; want some: %v", got, tt.othersGoTo)
			}
			for _, r := range running {
				r.Release()
			}
			if m2.Active() != 0 {
				t.Errorf("Active %d after the running sessions ended", m2.Active())
			}
		})
	}
}

func TestNothingReadyIsNoServer(t *testing.T) {
	tests := []struct {
		name  string
		apply func(t *testing.T, p *Pool)
	}{
		{"all maint", func(t *testing.T, p *Pool) {
			for _, s := range p.Servers() {
				s.SetState(StateMaint)
			}
		}},
		{"all weight 0", func(t *testing.T, p *Pool) {
			for _, s := range p.Servers() {
				mustSetWeight(t, s, 0)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newTestPool(t, nil)
			tt.apply(t, p)
			for _, k := range []Kind{Play, Publish} {
				if l, err := p.Acquire(context.Background(), Request{Kind: k}); !errors.Is(err, ErrNoServer) {
					t.Errorf("%s: Acquire = %v, %v; want ErrNoServer", k, l, err)
				}
			}
		})
	}
}

// TestQueuedSessionFailsWhenItsServersCloseToIt: a waiter whose servers are all
// taken out by the operator stops waiting at once instead of at its timeout.
func TestQueuedSessionFailsWhenItsServersCloseToIt(t *testing.T) {
	for _, tt := range []struct {
		name  string
		apply func(s *Server)
	}{
		{"maint", func(s *Server) { s.SetState(StateMaint) }},
		{"drain", func(s *Server) { s.SetState(StateDrain) }},
		{"weight 0", func(s *Server) { mustSetWeight(t, s, 0) }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := smallPool(t, time.Hour, false)
			hold(t, p, "a", 1)
			hold(t, p, "b", 1)
			ch := acquireAsync(t, context.Background(), p, Request{Kind: Play}, 0)
			tt.apply(p.Server("a"))
			tt.apply(p.Server("b"))
			if r := receive(t, ch); !errors.Is(r.err, ErrNoServer) {
				t.Fatalf("queued Acquire = %v, %v; want ErrNoServer", r.lease, r.err)
			}
		})
	}
}

func TestStateStringsAndParse(t *testing.T) {
	for _, st := range []State{StateReady, StateDrain, StateMaint} {
		back, err := ParseState(st.String())
		if err != nil || back != st {
			t.Errorf("ParseState(%q) = %v, %v", st.String(), back, err)
		}
	}
	if StateReady.String() != "ready" || StateDrain.String() != "drain" || StateMaint.String() != "maint" {
		t.Error("state spellings changed: they are the API's")
	}
	if _, err := ParseState("up"); err == nil {
		t.Error(`ParseState("up") succeeded`)
	}
	s := newServer(ServerConfig{Name: "x", Address: "h:1"}, nil)
	s.SetState(State(9))
	if s.State() != StateMaint {
		t.Errorf("unknown state stored as %s, want maint (the safe side)", s.State())
	}
}

func TestConfigStartState(t *testing.T) {
	p := newTestPool(t, func(c *PoolConfig) {
		c.Servers[0].Drain = true
		c.Servers[1].State = "maint"
		c.Servers[2].Weight = new(0)
	})
	if p.Server("media01").State() != StateDrain || p.Server("media02").State() != StateMaint ||
		p.Server("media03").State() != StateReady || p.Server("media03").Weight() != 0 {
		t.Errorf("start states %s %s %s, media03 weight %d", p.Server("media01").State(),
			p.Server("media02").State(), p.Server("media03").State(), p.Server("media03").Weight())
	}
}

func TestSetWeightRange(t *testing.T) {
	s := newTestPool(t, nil).Server("media01")
	for _, w := range []int{0, 1, MaxWeight} {
		if err := s.SetWeight(w); err != nil || s.Weight() != w {
			t.Errorf("SetWeight(%d) = %v, weight now %d", w, err, s.Weight())
		}
	}
	for _, w := range []int{-1, MaxWeight + 1} {
		if err := s.SetWeight(w); err == nil || !strings.Contains(err.Error(), "0..256") {
			t.Errorf("SetWeight(%d) = %v, want a 0..256 error", w, err)
		}
	}
	if s.Weight() != MaxWeight {
		t.Errorf("a refused SetWeight changed the weight to %d", s.Weight())
	}
}

// TestWeightChangeShiftsShares: the live weight is what the balancers use, from the
// next pick on.
func TestWeightChangeShiftsShares(t *testing.T) {
	t.Run("roundrobin", func(t *testing.T) {
		p := newTestPool(t, nil)
		pickNames(t, p, Play, 13) // mid-rotation
		mustSetWeight(t, p.Server("media01"), 20)
		counts := map[string]int{}
		for _, n := range pickNames(t, p, Play, 38) {
			counts[n]++
		}
		if counts["media01"] != 20 || counts["media02"] != 10 || counts["media03"] != 8 {
			t.Errorf("after weight 20/10/8: %v over 38 picks", counts)
		}
	})
	t.Run("leastconn", func(t *testing.T) {
		p := leastConnPool(t, 1, 1)
		mustSetWeight(t, p.Server("a"), 3)
		for range 8 {
			t.Cleanup(mustAcquire(t, p, Request{Kind: Play}).Release)
		}
		if a, b := p.Server("a").Active(), p.Server("b").Active(); a != 6 || b != 2 {
			t.Errorf("leastconn with weights 3/1 holds %d/%d, want 6/2", a, b)
		}
	})
}

func mustSetWeight(t testing.TB, s *Server, w int) {
	t.Helper()
	if err := s.SetWeight(w); err != nil {
		t.Fatalf("SetWeight(%d): %v", w, err)
	}
}
