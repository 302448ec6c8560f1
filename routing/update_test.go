package routing

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

func mustUpdate(t testing.TB, p *Pool, mutate func(*PoolConfig)) PoolChanges {
	t.Helper()
	cfg := seedConfig()
	cfg.Stick = StickConfig{}
	if mutate != nil {
		mutate(&cfg)
	}
	ch, err := p.Update(cfg)
	if err != nil {
		t.Fatalf("Update: %v", err)
	}
	return ch
}

func addMedia04(c *PoolConfig) {
	c.Servers = append(c.Servers, ServerConfig{Name: "media04", Address: "10.0.0.4:1935", Weight: new(10), MaxConn: 200})
}

// TestUpdateKeepsStateSlotsAndStick: the objects, their health, state, slots, the
// stick table (pinned and idle) and the operator's changes all survive a reload
// that adds a server and changes another one.
func TestUpdateKeepsStateSlotsAndStick(t *testing.T) {
	p := newTestPool(t, withStick)
	before := p.Servers()
	running := hold(t, p, "media01", 2)
	stickTo(t, p, client1, "media02")
	live := mustAcquire(t, p, Request{Client: addr("127.0.0.12"), Kind: Publish})
	live.Confirm()
	p.Server("media01").SetState(StateDrain)
	p.Server("media02").SetHealthy(false)
	table := p.stick

	ch := mustUpdate(t, p, func(c *PoolConfig) {
		withStick(c)
		addMedia04(c)
		c.Servers[2].Weight = new(4)
	})

	if !slices.Equal(ch.Added, []string{"media04"}) || len(ch.Removed) != 0 ||
		!slices.Contains(ch.Changes, "weight media03 8→4") {
		t.Errorf("changes = %+v", ch)
	}
	for i, s := range before {
		if p.Servers()[i] != s {
			t.Errorf("%s was replaced by a new object", s)
		}
	}
	if p.Server("media01").State() != StateDrain || p.Server("media01").Active() != 2 {
		t.Errorf("media01: state %s active %d, want drain 2", p.Server("media01").State(), p.Server("media01").Active())
	}
	if p.Server("media02").Healthy() {
		t.Error("media02's health was reset")
	}
	if p.Server("media03").Weight() != 4 || p.Server("media04") == nil || !p.Server("media04").Healthy() {
		t.Error("the new config was not applied")
	}
	if p.stick != table || p.StickLen() != 2 {
		t.Errorf("stick table replaced (%v) or lost entries (len %d)", p.stick != table, p.StickLen())
	}
	p.Server("media02").SetHealthy(true)
	if l := mustAcquire(t, p, Request{Client: client1, Kind: Play}); l.Server.Name != "media02" || l.Reason != "stick" {
		t.Errorf("stuck client went to %s (%q) after the update", l.Server, l.Reason)
	} else {
		l.Release()
	}
	for _, l := range running {
		l.Release()
	}
	live.Release()
	for _, s := range p.Servers() {
		if s.Active() != 0 {
			t.Errorf("%s Active %d after every release", s, s.Active())
		}
	}
}

// TestUpdateRemovedServerWithLiveLease: a removed server leaves the list, gets
// nothing new (not even its stuck clients), and its running session releases
// normally.
func TestUpdateRemovedServerWithLiveLease(t *testing.T) {
	p := newTestPool(t, withStick)
	m2 := p.Server("media02")
	l := mustAcquire(t, p, Request{Client: client1, Kind: Play, Exclude: []*Server{p.Server("media01"), p.Server("media03")}})
	l.Confirm()
	ch := mustUpdate(t, p, func(c *PoolConfig) {
		withStick(c)
		c.Servers = slices.Delete(c.Servers, 1, 2)
	})
	if !slices.Equal(ch.Removed, []string{"media02"}) || ch.String() != "servers removed: media02" {
		t.Errorf("changes = %+v (%q)", ch, ch)
	}
	if p.Server("media02") != nil || len(p.Servers()) != 2 || !m2.Removed() {
		t.Errorf("media02 still listed: Server %v, %d servers, Removed %v", p.Server("media02"), len(p.Servers()), m2.Removed())
	}
	if r := p.Retired(); len(r) != 1 || r[0] != m2 || m2.Active() != 1 {
		t.Errorf("Retired = %v, media02 Active %d; want media02 with its session", r, m2.Active())
	}
	for range 20 {
		again := mustAcquire(t, p, Request{Client: client1, Kind: Play})
		if again.Server == m2 || again.Reason == "stick" {
			t.Fatalf("removed server got a new session (%s, %q)", again.Server, again.Reason)
		}
		again.Release()
	}
	l.Release()
	if m2.Active() != 0 || len(p.Retired()) != 0 {
		t.Errorf("after release: Active %d, Retired %v", m2.Active(), p.Retired())
	}
	mustUpdate(t, p, withStick) // media02 back
	if s := p.Server("media02"); s == nil || s.Removed() || !s.Usable() {
		t.Errorf("re-added media02 = %v (removed %v)", s, s != nil && s.Removed())
	}
}

// TestUpdateRevivesARetiredServerWithItsSlots: removed and re-added while a session
// still runs there, the server is the same object, so maxconn counts that session.
func TestUpdateRevivesARetiredServerWithItsSlots(t *testing.T) {
	p := newTestPool(t, nil)
	m2 := p.Server("media02")
	hold(t, p, "media02", 1)
	mustUpdate(t, p, func(c *PoolConfig) { c.Servers = slices.Delete(c.Servers, 1, 2) })
	ch := mustUpdate(t, p, nil)
	if p.Server("media02") != m2 || m2.Active() != 1 || m2.Removed() || !slices.Equal(ch.Added, []string{"media02"}) {
		t.Errorf("re-added media02: same object %v, Active %d, removed %v, changes %+v", p.Server("media02") == m2, m2.Active(), m2.Removed(), ch)
	}
}

// TestRuntimeChangeSurvivesUpdate: the operator's state or weight stays unless the
// new config changes that server's entry (compared with the config applied before).
func TestRuntimeChangeSurvivesUpdate(t *testing.T) {
	tests := []struct {
		name       string
		operator   func(t *testing.T, s *Server)
		config     func(*PoolConfig)
		wantState  State
		wantWeight int
		wantNote   string
	}{
		{"state kept, same config", func(t *testing.T, s *Server) { s.SetState(StateMaint) }, nil, StateMaint, 10, ""},
		{"weight kept, same config", func(t *testing.T, s *Server) { mustSetWeight(t, s, 3) }, nil, StateReady, 3, ""},
		{"kept when another server changes", func(t *testing.T, s *Server) { s.SetState(StateDrain); mustSetWeight(t, s, 0) },
			func(c *PoolConfig) { c.Servers[1].MaxConn = 5 }, StateDrain, 0, ""},
		{"kept when only pool settings change", func(t *testing.T, s *Server) { s.SetState(StateMaint) },
			func(c *PoolConfig) { c.Balance = BalanceLeastConn }, StateMaint, 10, ""},
		{"omitted weight equals weight 1", func(t *testing.T, s *Server) { s.SetState(StateMaint) },
			func(c *PoolConfig) { c.Servers[0].Weight = nil }, StateReady, 1, "weight media01 10→1"},
		{"config changes the server: its state wins", func(t *testing.T, s *Server) { s.SetState(StateMaint) },
			func(c *PoolConfig) { c.Servers[0].MaxConn = 100 }, StateReady, 10, "media01: config replaces operator state maint"},
		{"config changes the server: its weight wins", func(t *testing.T, s *Server) { mustSetWeight(t, s, 3) },
			func(c *PoolConfig) { c.Servers[0].Address = "10.0.0.9:1935" }, StateReady, 10, "media01: config replaces operator weight 3"},
		{"config drains it", func(t *testing.T, s *Server) { mustSetWeight(t, s, 3) },
			func(c *PoolConfig) { c.Servers[0].Drain = true }, StateDrain, 10, "state media01 ready→drain"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newTestPool(t, nil)
			s := p.Server("media01")
			tt.operator(t, s)
			ch := mustUpdate(t, p, tt.config)
			if s.State() != tt.wantState || s.Weight() != tt.wantWeight {
				t.Errorf("after Update: state %s weight %d, want %s %d", s.State(), s.Weight(), tt.wantState, tt.wantWeight)
			}
			if tt.wantNote != "" && !slices.Contains(ch.Changes, tt.wantNote) {
				t.Errorf("changes %q lack %q", ch.Changes, tt.wantNote)
			}
			// A second identical Update must not undo the operator again.
			tt.operator(t, s)
			st, w := s.State(), s.Weight()
			mustUpdate(t, p, tt.config)
			if s.State() != st || s.Weight() != w {
				t.Errorf("an unchanged reload reset the operator's change: %s %d, want %s %d", s.State(), s.Weight(), st, w)
			}
		})
	}
}

func TestUpdatePoolSettings(t *testing.T) {
	p := newTestPool(t, withStick)
	stickTo(t, p, client1, "media02")
	live := mustAcquire(t, p, Request{Client: addr("127.0.0.12"), Kind: Play, Exclude: []*Server{p.Server("media01"), p.Server("media02")}})
	live.Confirm()
	defer live.Release()
	oldClassifier := p.Classifier()
	ch := mustUpdate(t, p, func(c *PoolConfig) {
		c.Balance = BalanceLeastConn
		c.QueueTimeout = time.Second
		c.Classify = []Rule{{App: "^ingest", Kind: "publish"}}
		c.Stick = StickConfig{Size: 50, Expire: time.Hour}
		c.Servers[0].Upload = true
	})
	want := []string{"balance roundrobin→leastconn", "queue_timeout 10s→1s", "classify rules 0→1",
		"stick size 1000→50 expire 1h0m0s→1h0m0s", "upload media01 false→true"}
	for _, w := range want {
		if !slices.Contains(ch.Changes, w) {
			t.Errorf("changes %q lack %q", ch.Changes, w)
		}
	}
	if p.Balance() != BalanceLeastConn || p.Classifier() == oldClassifier {
		t.Errorf("balance %s, classifier replaced %v", p.Balance(), p.Classifier() != oldClassifier)
	}
	if k, _ := p.Classifier().Classify(ConnectInfo{App: "ingest/x"}); k != Publish {
		t.Error("new classify rules not applied")
	}
	if p.StickLen() != 2 || stuckServer(p, client1) != p.Server("media02") || stuckServer(p, addr("127.0.0.12")) != p.Server("media03") {
		t.Errorf("stick entries lost on resize: len %d", p.StickLen())
	}
	l := mustAcquire(t, p, Request{Kind: Play})
	if l.Reason != "leastconn" {
		t.Errorf("reason %q after switching to leastconn", l.Reason)
	}
	l.Release()
	// media01 now takes uploads: the idle one wins leastconn; without it, media03
	// (an upload server too) rather than the fallback.
	if l := mustAcquire(t, p, Request{Kind: Publish}); l.Server.Name != "media01" || l.Reason != "upload: leastconn" {
		t.Errorf("publish went to %s (%q), want media01 by upload: leastconn", l.Server, l.Reason)
	} else {
		l.Release()
	}
	if l := mustAcquire(t, p, Request{Kind: Publish, Exclude: []*Server{p.Server("media01")}}); l.Server.Name != "media03" || l.Reason != "upload: leastconn" {
		t.Errorf("publish went to %s (%q), want media03 by upload: leastconn", l.Server, l.Reason)
	} else {
		l.Release()
	}
	mustUpdate(t, p, nil) // affinity off
	if p.StickLen() != 0 {
		t.Errorf("StickLen %d with affinity off", p.StickLen())
	}
}

// TestUpdateServesTheQueue: a raised maxconn lets queued sessions in at once.
func TestUpdateServesTheQueue(t *testing.T) {
	p := smallPool(t, time.Hour, false)
	hold(t, p, "a", 1)
	hold(t, p, "b", 1)
	ch := acquireAsync(t, context.Background(), p, Request{Kind: Play}, 0)
	if _, err := p.Update(PoolConfig{Name: "media", QueueTimeout: time.Hour, Servers: []ServerConfig{
		{Name: "a", Address: "10.0.0.1:1935", MaxConn: 2},
		{Name: "b", Address: "10.0.0.2:1935", MaxConn: 1},
	}}); err != nil {
		t.Fatal(err)
	}
	r := receive(t, ch)
	if r.err != nil || r.lease.Server.Name != "a" {
		t.Fatalf("queued Acquire = %v, %v; want a lease on a", r.lease, r.err)
	}
	r.lease.Release()
}

func TestUpdateRefusesBadConfig(t *testing.T) {
	p := newTestPool(t, nil)
	_, err := p.Update(PoolConfig{Name: "media", Balance: "random", Servers: []ServerConfig{{Name: "x"}}})
	if err == nil || !strings.Contains(err.Error(), "balance") || !strings.Contains(err.Error(), "servers[0].address") {
		t.Errorf("Update(bad) = %v, want every error", err)
	}
	other := seedConfig()
	other.Name = "other"
	if _, err := p.Update(other); err == nil {
		t.Error("Update accepted another pool's config")
	}
	if len(p.Servers()) != 3 || p.Balance() != BalanceRoundRobin || p.Server("x") != nil {
		t.Error("a refused Update changed the pool")
	}
	if ch := mustUpdate(t, p, nil); !ch.Empty() || ch.String() != "no changes" {
		t.Errorf("identical config: %+v", ch)
	}
}

func TestPoolChangesString(t *testing.T) {
	tests := []struct {
		ch   PoolChanges
		want string
	}{
		{PoolChanges{}, "no changes"},
		{PoolChanges{Added: []string{"media04"}}, "servers added: media04"},
		{PoolChanges{Added: []string{"a", "b"}, Removed: []string{"c"}, Changes: []string{"weight media01 10→5", "balance roundrobin→leastconn"}},
			"servers added: a, b; removed: c; weight media01 10→5; balance roundrobin→leastconn"},
		{PoolChanges{Removed: []string{"c"}}, "servers removed: c"},
		{PoolChanges{Changes: []string{"weight media01 10→5"}}, "weight media01 10→5"},
	}
	for _, tt := range tests {
		if got := tt.ch.String(); got != tt.want {
			t.Errorf("%+v.String() = %q, want %q", tt.ch, got, tt.want)
		}
	}
}

func TestForgetStick(t *testing.T) {
	t.Run("idle entry", func(t *testing.T) {
		p := newTestPool(t, withStick)
		stickTo(t, p, client1, "media03")
		if !p.ForgetStick(addr("::ffff:127.0.0.11")) || p.StickLen() != 0 {
			t.Fatalf("ForgetStick: StickLen %d", p.StickLen())
		}
		if l := mustAcquire(t, p, Request{Client: client1, Kind: Play}); l.Reason == "stick" {
			t.Errorf("forgotten client still stuck to %s", l.Server)
		}
		if p.ForgetStick(client1) {
			t.Error("second ForgetStick reported an entry")
		}
	})
	t.Run("live entry", func(t *testing.T) {
		p := newTestPool(t, withStick)
		stickTo(t, p, client1, "media03") // an idle copy under the pin
		live := mustAcquire(t, p, Request{Client: client1, Kind: Play})
		live.Confirm()
		if !p.ForgetStick(client1) || p.StickLen() != 0 {
			t.Fatalf("ForgetStick of a live client: StickLen %d", p.StickLen())
		}
		next := mustAcquire(t, p, Request{Client: client1, Kind: Play, Exclude: []*Server{p.Server("media03")}})
		if next.Reason == "stick" {
			t.Errorf("next session of a forgotten live client went by stick to %s", next.Server)
		}
		next.Release() // never confirmed
		if live.Server.Active() != 1 {
			t.Error("the running session lost its slot")
		}
		live.Release()
		if s := stuckServer(p, client1); s != nil || p.StickLen() != 0 {
			t.Errorf("the running session's end brought the entry back (%v, len %d)", s, p.StickLen())
		}
	})
	t.Run("affinity off", func(t *testing.T) {
		if newTestPool(t, nil).ForgetStick(client1) {
			t.Error("ForgetStick true with affinity off")
		}
	})
}

// TestConcurrentUpdateAndRuntimeChanges: reloads, state and weight changes race with
// sessions; no slot is lost or double-freed, removed servers included.
func TestConcurrentUpdateAndRuntimeChanges(t *testing.T) {
	const workers, iterations = 24, 200
	small := func(c *PoolConfig) {
		withStick(c)
		c.QueueTimeout = time.Minute
		for i := range c.Servers {
			c.Servers[i].MaxConn = 3
		}
	}
	p := newTestPool(t, small)
	configs := []func(*PoolConfig){
		small,
		func(c *PoolConfig) { small(c); addMedia04(c); c.Servers[3].MaxConn = 2 },
		func(c *PoolConfig) { small(c); c.Servers = slices.Delete(c.Servers, 0, 1) },
		func(c *PoolConfig) { small(c); c.Balance = BalanceLeastConn; c.Servers[1].Weight = new(1) },
		func(c *PoolConfig) { small(c); c.Stick.Size = 10 },
	}
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() { // media03 is never touched, so nobody can get ErrNoServer
		defer close(done)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			cfg := seedConfig()
			configs[i%len(configs)](&cfg)
			if _, err := p.Update(cfg); err != nil {
				t.Errorf("Update: %v", err)
				return
			}
			for _, s := range p.Servers() {
				if s.Name == "media03" {
					continue
				}
				s.SetState(State(i % 3))
				_ = s.SetWeight(i % 4)
			}
			p.ForgetStick(addr("127.0.0.1"))
			time.Sleep(50 * time.Microsecond)
		}
	}()
	seen := make(chan *Server, workers*iterations)
	errs := make(chan error, workers)
	runWorkers(workers, func(w int) {
		for i := range iterations {
			l, err := p.Acquire(context.Background(), Request{Client: addr("127.0.0." + string(rune('1'+(w+i)%8))), Kind: Kind(i % 2)})
			if err != nil {
				errs <- err
				return
			}
			seen <- l.Server
			if l.Server.Active() > 3 {
				errs <- errors.New(l.Server.Name + " above maxconn")
			}
			if i%3 != 0 {
				l.Confirm()
			}
			if i%2 == 0 { // hold a while, so reloads catch sessions on servers they remove
				time.Sleep(time.Duration(i%7) * 30 * time.Microsecond)
			}
			l.Release()
		}
	})
	close(stop)
	<-done
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	close(seen)
	all := map[*Server]bool{}
	for s := range seen {
		all[s] = true
	}
	for _, s := range p.Servers() {
		all[s] = true
	}
	for s := range all {
		if s.Active() != 0 {
			t.Errorf("%s (removed %v) Active = %d after every lease was released", s, s.Removed(), s.Active())
		}
	}
	p.mu.Lock()
	pinned := 0
	if p.stick != nil {
		pinned = len(p.stick.pinned)
	}
	p.mu.Unlock()
	if p.Waiting() != 0 || pinned != 0 {
		t.Errorf("Waiting %d, pinned %d; want 0, 0", p.Waiting(), pinned)
	}
}

func runWorkers(n int, f func(w int)) {
	done := make(chan struct{}, n)
	for w := range n {
		go func() {
			defer func() { done <- struct{}{} }()
			f(w)
		}()
	}
	for range n {
		<-done
	}
}
