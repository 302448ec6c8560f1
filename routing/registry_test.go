package routing

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

const demo = "live/demo"

func replicate(from string, to ...string) func(*PoolConfig) {
	return func(c *PoolConfig) {
		for i := range c.Servers {
			if c.Servers[i].Name == from {
				c.Servers[i].ReplicatesTo = to
			}
		}
	}
}

func with(mutators ...func(*PoolConfig)) func(*PoolConfig) {
	return func(c *PoolConfig) {
		for _, m := range mutators {
			m(c)
		}
	}
}

// publishStream starts a publish of stream (its lease is released at cleanup).
func publishStream(t testing.TB, p *Pool, client string, stream string, owner any) *Lease {
	t.Helper()
	l := mustAcquire(t, p, Request{Client: addr(client), Kind: Publish, Stream: stream, Owner: owner})
	l.Confirm()
	t.Cleanup(l.Release)
	return l
}

// players opens n players of stream from distinct clients, held until cleanup, and
// counts them per server and per reason.
func players(t testing.TB, p *Pool, stream string, n int) (perServer, perReason map[string]int) {
	t.Helper()
	perServer, perReason = map[string]int{}, map[string]int{}
	for i := range n {
		l := mustAcquire(t, p, Request{Client: addr(fmt.Sprintf("127.0.40.%d", i+1)), Kind: Play, Stream: stream})
		l.Confirm()
		t.Cleanup(l.Release)
		perServer[l.Server.Name]++
		perReason[l.Reason]++
	}
	return perServer, perReason
}

func TestReplicatesToValidation(t *testing.T) {
	tests := []struct {
		name string
		to   []string
		want string
	}{
		{"unknown server", []string{"media09"}, `servers[2].replicates_to[0]: no server "media09" in this pool`},
		{"itself", []string{"media01", "media03"}, `servers[2].replicates_to[1]: "media03" is the server itself`},
		{"twice", []string{"media01", "media01"}, `servers[2].replicates_to[1]: "media01" listed twice`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := seedConfig()
			replicate("media03", tt.to...)(&cfg)
			err := cfg.Validate()
			if err == nil || !strings.Contains(err.Error(), tt.want) || len(flattenJoined(err)) != 1 {
				t.Errorf("Validate = %v, want exactly %q", err, tt.want)
			}
		})
	}
	ok := seedConfig()
	replicate("media03", "media01", "media02")(&ok)
	if err := ok.Validate(); err != nil {
		t.Errorf("valid replicates_to refused: %v", err)
	}
}

func TestPlayersOfAStream(t *testing.T) {
	tests := []struct {
		name       string
		config     func(*PoolConfig)
		publish    bool // a publisher of demo holds it live (on media03, the upload server)
		setup      func(t *testing.T, p *Pool)
		stream     string
		n          int
		wantServer map[string]int
		wantReason map[string]int
	}{
		{name: "live on one server: every player goes there", publish: true, stream: demo, n: 8,
			wantServer: map[string]int{"media03": 8}, wantReason: map[string]int{"live on media03": 8}},
		{name: "live on all three via replicates_to: 10/10/8", config: replicate("media03", "media01", "media02"),
			publish: true, stream: demo, n: 28,
			wantServer: map[string]int{"media01": 10, "media02": 10, "media03": 8},
			wantReason: map[string]int{"replica of media03": 20, "live on media03": 8}},
		{name: "live on two of three", config: replicate("media03", "media02"), publish: true, stream: demo, n: 18,
			wantServer: map[string]int{"media02": 10, "media03": 8},
			wantReason: map[string]int{"replica of media03": 10, "live on media03": 8}},
		{name: "query and stray slashes are the same stream", publish: true, stream: StreamKey("live?t=1", "/demo?token=x"), n: 3,
			wantServer: map[string]int{"media03": 3}, wantReason: map[string]int{"live on media03": 3}},
		{name: "another stream is not live", publish: true, stream: "live/other", n: 28,
			wantServer: map[string]int{"media01": 10, "media02": 10, "media03": 8},
			wantReason: map[string]int{"not live: roundrobin": 28}},
		{name: "stream unknown: as at connect", publish: true, stream: "", n: 28,
			wantServer: map[string]int{"media01": 10, "media02": 10, "media03": 8},
			wantReason: map[string]int{"roundrobin": 28}},
		{name: "origin draining: players go to its replicas", config: replicate("media03", "media01", "media02"), publish: true,
			setup:  func(t *testing.T, p *Pool) { p.Server("media03").SetState(StateDrain) },
			stream: demo, n: 20, wantServer: map[string]int{"media01": 10, "media02": 10},
			wantReason: map[string]int{"replica of media03": 20}},
		{name: "live servers down: balanced over the rest", publish: true,
			setup:  func(t *testing.T, p *Pool) { p.Server("media03").SetHealthy(false) },
			stream: demo, n: 20, wantServer: map[string]int{"media01": 10, "media02": 10},
			wantReason: map[string]int{"live servers unusable: roundrobin": 20}},
		{name: "leastconn among the live servers", config: with(replicate("media03", "media01"), func(c *PoolConfig) { c.Balance = BalanceLeastConn }),
			publish: true, stream: demo, n: 17,
			wantServer: map[string]int{"media01": 10, "media03": 7}, // the publisher holds one slot of media03
			wantReason: map[string]int{"replica of media03": 10, "live on media03": 7}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newTestPool(t, tt.config)
			if tt.publish {
				if l := publishStream(t, p, "127.0.0.2", demo, "pub"); l.Server.Name != "media03" {
					t.Fatalf("publisher on %s (%q)", l.Server, l.Reason)
				}
			}
			if tt.setup != nil {
				tt.setup(t, p)
			}
			gotServer, gotReason := players(t, p, tt.stream, tt.n)
			if !mapsEqual(gotServer, tt.wantServer) || !mapsEqual(gotReason, tt.wantReason) {
				t.Errorf("players on %v by %v\nwant %v by %v", gotServer, gotReason, tt.wantServer, tt.wantReason)
			}
		})
	}
}

func TestLivePlayersAffinity(t *testing.T) {
	tests := []struct {
		name       string
		config     func(*PoolConfig)
		stuckTo    string
		setup      func(p *Pool)
		wantServer string
		wantReason string
	}{
		{"stuck to a replica: stays", replicate("media03", "media01", "media02"), "media02", nil, "media02", "stick (replica of media03)"},
		{"stuck to the origin: stays", replicate("media03", "media01"), "media03", nil, "media03", "stick (live on media03)"},
		{"stuck to a draining replica: stays", replicate("media03", "media01", "media02"), "media01",
			func(p *Pool) { p.Server("media01").SetState(StateDrain) }, "media01", "stick (replica of media03)"},
		{"stuck to a server without the stream: goes where it is", nil, "media01", nil, "media03", "live on media03"},
		{"stuck to a replica in maint: another live server", replicate("media03", "media01"), "media01",
			func(p *Pool) { p.Server("media01").SetState(StateMaint) }, "media03", "live on media03"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newTestPool(t, with(withStick, orNothing(tt.config)))
			publishStream(t, p, "127.0.0.2", demo, nil)
			stickTo(t, p, client1, tt.stuckTo)
			if tt.setup != nil {
				tt.setup(p)
			}
			l := mustAcquire(t, p, Request{Client: client1, Kind: Play, Stream: demo})
			defer l.Release()
			if l.Server.Name != tt.wantServer || l.Reason != tt.wantReason {
				t.Errorf("player on %s (%q), want %s (%q)", l.Server, l.Reason, tt.wantServer, tt.wantReason)
			}
		})
	}
}

func orNothing(f func(*PoolConfig)) func(*PoolConfig) {
	if f == nil {
		return func(*PoolConfig) {}
	}
	return f
}

// TestLivePlayersWaitForTheServerThatHasIt: the live server is full; a player waits
// for it rather than going to a server without the stream.
func TestLivePlayersWaitForTheServerThatHasIt(t *testing.T) {
	p := newTestPool(t, func(c *PoolConfig) { c.QueueTimeout = time.Hour; c.Servers[2].MaxConn = 2 })
	publishStream(t, p, "127.0.0.2", demo, nil)
	other := mustAcquire(t, p, Request{Kind: Play, Stream: demo})
	if other.Server.Name != "media03" {
		t.Fatalf("first player on %s", other.Server)
	}
	ch := acquireAsync(t, context.Background(), p, Request{Kind: Play, Stream: demo}, 0)
	other.Release()
	r := receive(t, ch)
	if r.err != nil || r.lease.Server.Name != "media03" || r.lease.Reason != "live on media03" {
		t.Fatalf("queued player = %v (%v), want media03", r.lease, r.err)
	}
	r.lease.Release()
}

func TestPublisherPlacementAndLifetime(t *testing.T) {
	p := newTestPool(t, nil)
	first := mustAcquire(t, p, Request{Client: addr("127.0.0.2"), Kind: Publish, Stream: demo})
	if first.Server.Name != "media03" || first.Reason != "upload: roundrobin" || first.Takeover != nil {
		t.Fatalf("first publisher on %s (%q), takeover %v", first.Server, first.Reason, first.Takeover)
	}
	if info, ok := p.Stream(demo); !ok || info.Origin.Name != "media03" || len(info.Servers) != 1 {
		t.Fatalf("Stream(%q) = %+v, %v: live on media03 from the Acquire on", demo, info, ok)
	}
	// A dial failure: the entry goes with the lease, the retry is placed anew.
	first.Release()
	if _, ok := p.Stream(demo); ok {
		t.Fatal("an unconfirmed, released publish left the stream live")
	}
	// media03 down: the publish falls back, and that server becomes the stream's home.
	p.Server("media03").SetHealthy(false)
	pub := publishStream(t, p, "127.0.0.2", demo, "A")
	if pub.Server.Name != "media01" || pub.Reason != "upload-fallback: roundrobin" {
		t.Fatalf("fallback publisher on %s (%q)", pub.Server, pub.Reason)
	}
	p.Server("media03").SetHealthy(true)
	// A second publisher of the live stream (another client) meets the first one there.
	dup := mustAcquire(t, p, Request{Client: addr("127.0.0.3"), Kind: Publish, Stream: demo, Owner: "B"})
	if dup.Server.Name != "media01" || dup.Reason != "live on media01" || dup.Takeover != nil {
		t.Fatalf("second publisher on %s (%q), takeover %v", dup.Server, dup.Reason, dup.Takeover)
	}
	if info, _ := p.Stream(demo); len(info.Publishers) != 2 || info.Publishers[0].Owner != "A" {
		t.Errorf("publishers %+v", info.Publishers)
	}
	// The media server refuses the duplicate; its end must not end the stream.
	dup.Confirm()
	dup.Release()
	if l := mustAcquire(t, p, Request{Kind: Play, Stream: demo}); l.Server.Name != "media01" || l.Reason != "live on media01" {
		t.Errorf("player after the refused duplicate on %s (%q)", l.Server, l.Reason)
	} else {
		l.Release()
	}
	// The origin can no longer take publishers: a new one is placed like a new stream
	// and players follow the newest publish.
	p.Server("media01").SetState(StateMaint)
	moved := publishStream(t, p, "127.0.0.4", demo, "C")
	if moved.Server.Name != "media03" || moved.Reason != "upload: roundrobin" {
		t.Fatalf("publisher with the origin in maint on %s (%q)", moved.Server, moved.Reason)
	}
	if l := mustAcquire(t, p, Request{Kind: Play, Stream: demo}); l.Server.Name != "media03" {
		t.Errorf("player follows %s, want the newest publish on media03", l.Server)
	} else {
		l.Release()
	}
	moved.Release()
	pub.Release()
	if _, ok := p.Stream(demo); ok || len(p.Streams()) != 0 {
		t.Errorf("stream still live after every publisher ended: %+v", p.Streams())
	}
	if l := mustAcquire(t, p, Request{Kind: Play, Stream: demo}); !strings.HasPrefix(l.Reason, "not live: ") {
		t.Errorf("player of an ended stream: %q", l.Reason)
	} else {
		l.Release()
	}
}

// TestPublisherOfLiveStreamHonoursExclude: the retry after a failed dial to the
// stream's server may not go back there.
func TestPublisherOfLiveStreamHonoursExclude(t *testing.T) {
	p := newTestPool(t, nil)
	publishStream(t, p, "127.0.0.2", demo, nil)
	l := mustAcquire(t, p, Request{Kind: Publish, Stream: demo, Exclude: []*Server{p.Server("media03")}})
	defer l.Release()
	if l.Server.Name == "media03" || !strings.HasPrefix(l.Reason, "upload-fallback") {
		t.Errorf("publisher on %s (%q) although media03 is excluded", l.Server, l.Reason)
	}
}

func TestPublisherTakeover(t *testing.T) {
	tests := []struct {
		name     string
		takeover bool
		client   string
		want     any // Takeover.Owner, nil = no takeover
	}{
		{"same client", true, "127.0.0.2", "old"},
		{"same client as IPv4-mapped IPv6", true, "::ffff:127.0.0.2", "old"},
		{"another client", true, "127.0.0.3", nil},
		{"takeover off", false, "127.0.0.2", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newTestPool(t, func(c *PoolConfig) { c.PublisherTakeover = tt.takeover })
			old := publishStream(t, p, "127.0.0.2", demo, "old")
			l := mustAcquire(t, p, Request{Client: addr(tt.client), Kind: Publish, Stream: demo, Owner: "new"})
			defer l.Release()
			var got any
			if l.Takeover != nil {
				got = l.Takeover.Owner
				if l.Takeover.Server != old.Server || l.Takeover.Client != addr("127.0.0.2") {
					t.Errorf("takeover names %+v", l.Takeover)
				}
			}
			if got != tt.want || l.Server != old.Server {
				t.Errorf("new publisher on %s, takeover owner %v; want %s, %v", l.Server, got, old.Server, tt.want)
			}
			l.Confirm()
			old.Release() // the caller ends the old session
			if info, ok := p.Stream(demo); !ok || len(info.Publishers) != 1 || info.Publishers[0].Owner != "new" {
				t.Errorf("after the old publisher ended: %+v, %v", info, ok)
			}
		})
	}
}

// TestStreamsSurviveUpdate: reloads keep live streams; changed replicates_to apply to
// the next player at once.
func TestStreamsSurviveUpdate(t *testing.T) {
	p := newTestPool(t, nil)
	publishStream(t, p, "127.0.0.2", demo, nil)
	if before, _ := players(t, p, demo, 2); before["media03"] != 2 {
		t.Fatalf("players before the reload: %v", before)
	}
	ch := mustUpdate(t, p, replicate("media03", "media01"))
	if !slices.Contains(ch.Changes, "replicates_to media03 []→[media01]") {
		t.Errorf("changes %q", ch.Changes)
	}
	gotServer, _ := players(t, p, demo, 18)
	if !mapsEqual(gotServer, map[string]int{"media01": 10, "media03": 8}) {
		t.Errorf("players after replicates_to was added: %v", gotServer)
	}
	if info, ok := p.Stream(demo); !ok || len(info.Servers) != 2 {
		t.Errorf("Stream after Update: %+v, %v", info, ok)
	}
}

// TestConcurrentRegistry: publishers and players of a few streams, reloads that
// change replicas and state; at the end nothing is live and every slot is free.
func TestConcurrentRegistry(t *testing.T) {
	base := func(c *PoolConfig) {
		withStick(c)
		c.QueueTimeout = time.Minute
		c.PublisherTakeover = true
		for i := range c.Servers {
			c.Servers[i].MaxConn = 4
		}
	}
	p := newTestPool(t, base)
	configs := []func(*PoolConfig){
		base,
		with(base, replicate("media03", "media01", "media02")),
		with(base, replicate("media03", "media02"), replicate("media01", "media03")),
	}
	stop := make(chan struct{})
	var bg sync.WaitGroup
	bg.Go(func() {
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
			p.Server("media01").SetState(State(i % 3))
			_ = p.Server("media02").SetWeight(i % 3)
			_ = p.Streams()
			time.Sleep(50 * time.Microsecond)
		}
	})
	errs := make(chan error, 32)
	runWorkers(32, func(w int) {
		for i := range 150 {
			req := Request{
				Client: addr(fmt.Sprintf("127.0.50.%d", (w+i)%6+1)),
				Kind:   Kind((w + i) % 2),
				Stream: fmt.Sprintf("live/s%d", i%3),
				Owner:  w,
			}
			l, err := p.Acquire(context.Background(), req)
			if err != nil {
				errs <- err
				return
			}
			if i%4 != 0 {
				l.Confirm()
			}
			if i%2 == 0 {
				time.Sleep(time.Duration(i%5) * 20 * time.Microsecond)
			}
			l.Release()
		}
	})
	close(stop)
	bg.Wait()
	close(errs)
	for err := range errs { // media03 is never touched: every session has somewhere to go
		t.Error(err)
	}
	if s := p.Streams(); len(s) != 0 {
		t.Errorf("streams still live: %+v", s)
	}
	for _, s := range p.Servers() {
		if s.Active() != 0 {
			t.Errorf("%s Active %d", s, s.Active())
		}
	}
}

func mapsEqual(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// TestLivePlayersKeepTheGlobalRotation: players of a stream live on one server do not
// shift the rotation of the players balanced over every server.
func TestLivePlayersKeepTheGlobalRotation(t *testing.T) {
	plain := newTestPool(t, nil)
	mixed := newTestPool(t, nil)
	publishStream(t, mixed, "127.0.0.2", demo, nil)
	want := pickNames(t, plain, Play, 56)
	var got []string
	for range 56 {
		l := mustAcquire(t, mixed, Request{Kind: Play, Stream: demo})
		if l.Server.Name != "media03" {
			t.Fatalf("live player on %s", l.Server)
		}
		l.Release()
		got = append(got, pickNames(t, mixed, Play, 1)...)
	}
	if sequence(got) != sequence(want) {
		t.Errorf("global rotation moved by live players:\n got %s\nwant %s", sequence(got), sequence(want))
	}
}
