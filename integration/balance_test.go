package integration

import (
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/rtmp-edge/rtmp-edge/integration/harness"
)

// TestBalanceWeightsAndStickiness: 56 Go players from distinct 127.0.30.x
// addresses land 20/20/16 on media01/02/03 (weights 10/10/8), as both the
// servers' /stat and the edge's session lines say, and each player, reconnecting
// from the same address, lands on the same server again.
//
// The players reconnect in a shuffled order. In their first order the check
// could not fail: 56 picks are two full rounds of smooth weighted round robin
// (weights sum to 28), so the balancer is back at its start and would hand
// every player its old server again with no stick table at all. Shuffled, a
// balancer without affinity gives each player whatever the next pick is, and
// all 56 matching by chance has a probability of 20!·20!·16!/56! (about 1e-25).
// The seed is logged; RTMP_EDGE_SEED repeats an order.
func TestBalanceWeightsAndStickiness(t *testing.T) {
	t.Parallel()
	c := startCluster(t, clusterOptions{})
	const players = 56
	want := map[string]int{"media01": 20, "media02": 20, "media03": 16}

	first := make(map[string]string, players) // client IP → server
	var open []*harness.Player
	for i := 1; i <= players; i++ {
		open = append(open, harness.StartPlayer(t, harness.PlayerOptions{Addr: c.rtmp, LocalIP: harness.ClientIP(30, i), Stream: "idle"}))
	}
	// While they are all connected, the servers themselves count them.
	atServers := map[string]int{}
	deadline := time.Now().Add(15 * time.Second)
	for {
		total := 0
		for name, n := range c.media {
			atServers[name] = len(n.Stat(t).Stream("idle").Players)
			total += atServers[name]
		}
		if total == players || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if fmt.Sprint(atServers) != fmt.Sprint(want) {
		t.Errorf("/stat: players per server %v, want %v", atServers, want)
	}
	got := map[string]int{}
	for _, p := range open {
		addr := p.LocalAddr()
		p.Close()
		s := c.edge.WaitSession(t, addr, 15*time.Second)
		first[s.ClientIP()] = s.Server
		got[s.Server]++
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		logTrouble(t, c.edge)
		t.Fatalf("session lines: players per server %v, want %v", got, want)
	}

	order := rand.New(rand.NewPCG(seed(t), 0)).Perm(players)
	for _, i := range order {
		ip := harness.ClientIP(30, i+1)
		p := harness.StartPlayer(t, harness.PlayerOptions{Addr: c.rtmp, LocalIP: ip, Stream: "idle"})
		addr := p.LocalAddr()
		p.Close()
		s := c.edge.WaitSession(t, addr, 15*time.Second)
		if s.Server != first[ip] {
			t.Errorf("%s reconnected to %s, first landed on %s", ip, s.Server, first[ip])
		}
	}
}

// seed is the seed of a test's random choices: RTMP_EDGE_SEED when set (to
// repeat a failing run), else the clock. It is logged either way.
func seed(t *testing.T) uint64 {
	t.Helper()
	s := uint64(time.Now().UnixNano())
	if env := os.Getenv("RTMP_EDGE_SEED"); env != "" {
		v, err := strconv.ParseUint(env, 10, 64)
		if err != nil {
			t.Fatalf("RTMP_EDGE_SEED=%q: %v", env, err)
		}
		s = v
	}
	t.Logf("seed %d (RTMP_EDGE_SEED=%d repeats this run)", s, s)
	return s
}

// logTrouble logs the edge's WARN and ERROR lines and the sessions that took
// more than one attempt: what can make a balance test's counts differ (a
// health check that timed out on a loaded machine, a retried dial).
func logTrouble(t *testing.T, e *harness.Edge) {
	t.Helper()
	for _, l := range e.Logs() {
		if lvl := l.Str("level"); lvl == "WARN" || lvl == "ERROR" || (l.Msg() == "session end" && l.Str("attempts") != "1") {
			t.Logf("edge: %v", l)
		}
	}
}
