package routing

import (
	"strings"
	"testing"
)

// TestRoundRobinOracle holds HAProxy's observed shape for weights 10/10/8
// (fwrr): exactly 20/20/16 over 56 picks, smoothly interleaved (never more than two
// picks of one server in a row).
func TestRoundRobinOracle(t *testing.T) {
	p := newTestPool(t, nil)
	for period := range 3 {
		names := pickNames(t, p, Play, 56)
		counts := map[string]int{}
		for _, n := range names {
			counts[n]++
		}
		if counts["media01"] != 20 || counts["media02"] != 20 || counts["media03"] != 16 {
			t.Errorf("period %d: counts %v, want media01=20 media02=20 media03=16", period, counts)
		}
		if run, at := maxRun(names); run > 2 {
			t.Errorf("period %d: %d picks of %s in a row at %d: %s", period, run, names[at], at, sequence(names))
		}
	}
}

func TestRoundRobinSkipsUnusableServers(t *testing.T) {
	tests := []struct {
		name      string
		setup     func(t *testing.T, p *Pool)
		picks     int
		want      map[string]int
		tolerance int
	}{
		{"down server gets nothing, others keep their ratio", func(t *testing.T, p *Pool) { p.Server("media02").SetHealthy(false) },
			36, map[string]int{"media01": 20, "media03": 16}, 0},
		{"draining server gets nothing", func(t *testing.T, p *Pool) { p.Server("media01").SetDraining(true) },
			36, map[string]int{"media02": 20, "media03": 16}, 0},
		{"full server is skipped", func(t *testing.T, p *Pool) { hold(t, p, "media03", 200) },
			40, map[string]int{"media01": 20, "media02": 20}, 0},
		{"a recovered server gets its share back at once", func(t *testing.T, p *Pool) {
			s := p.Server("media02")
			s.SetHealthy(false)
			pickNames(t, p, Play, 13)
			s.SetHealthy(true)
		}, 56, map[string]int{"media01": 20, "media02": 20, "media03": 16}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newTestPool(t, nil)
			tt.setup(t, p)
			counts := map[string]int{}
			for _, n := range pickNames(t, p, Play, tt.picks) {
				counts[n]++
			}
			for name := range counts {
				if _, ok := tt.want[name]; !ok {
					t.Errorf("unusable server %s was picked: %v", name, counts)
				}
			}
			for name, want := range tt.want {
				if d := counts[name] - want; d < -tt.tolerance || d > tt.tolerance {
					t.Errorf("%s picked %d times, want %d±%d (all: %v)", name, counts[name], want, tt.tolerance, counts)
				}
			}
		})
	}
}

// TestRoundRobinStatePerCandidateSet: publishes rotate over the upload servers with
// their own state, so interleaving them does not change the play sequence.
func TestRoundRobinStatePerCandidateSet(t *testing.T) {
	twoUploads := func(c *PoolConfig) {
		c.Servers = append(c.Servers, ServerConfig{Name: "media04", Address: "10.0.0.4:1935", Weight: new(4), Upload: true})
	}
	plain := newTestPool(t, twoUploads)
	mixed := newTestPool(t, twoUploads)
	want := pickNames(t, plain, Play, 60)
	var got, published []string
	for range 60 {
		published = append(published, pickNames(t, mixed, Publish, 1)...)
		got = append(got, pickNames(t, mixed, Play, 1)...)
	}
	if sequence(got) != sequence(want) {
		t.Errorf("play sequence changed by interleaved publishes:\n got %s\nwant %s", sequence(got), sequence(want))
	}
	counts := map[string]int{}
	for _, n := range published {
		counts[n]++
	}
	if counts["media03"] != 40 || counts["media04"] != 20 {
		t.Errorf("publishes over upload servers 8:4 = %v, want media03=40 media04=20", counts)
	}
}

func TestSmoothRRNoneUsable(t *testing.T) {
	s := newServer(ServerConfig{Name: "a", Address: "h:1"}, nil)
	s.SetHealthy(false)
	if got := newSmoothRR([]*Server{s}).pick(filter{}); got != nil {
		t.Errorf("pick = %v, want nil", got)
	}
	if got := newSmoothRR(nil).pick(filter{}); got != nil {
		t.Errorf("empty pick = %v, want nil", got)
	}
}

func maxRun(names []string) (run, at int) {
	cur := 0
	for i := range names {
		if i > 0 && names[i] == names[i-1] {
			cur++
		} else {
			cur = 1
		}
		if cur > run {
			run, at = cur, i
		}
	}
	return run, at
}

func sequence(names []string) string {
	var b strings.Builder
	for _, n := range names {
		b.WriteByte(n[len(n)-1])
	}
	return b.String()
}
