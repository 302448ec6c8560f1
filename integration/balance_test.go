package integration

import (
	"fmt"
	"testing"
	"time"

	"github.com/rtmp-edge/rtmp-edge/integration/harness"
)

// TestBalanceWeightsAndStickiness: 56 Go players from distinct 127.0.30.x
// addresses land 20/20/16 on media01/02/03 (weights 10/10/8), as both the
// servers' /stat and the edge's session lines say, and each player, reconnecting
// from the same address, lands on the same server again.
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
		t.Fatalf("session lines: players per server %v, want %v", got, want)
	}

	for i := 1; i <= players; i++ {
		ip := harness.ClientIP(30, i)
		p := harness.StartPlayer(t, harness.PlayerOptions{Addr: c.rtmp, LocalIP: ip, Stream: "idle"})
		addr := p.LocalAddr()
		p.Close()
		s := c.edge.WaitSession(t, addr, 15*time.Second)
		if s.Server != first[ip] {
			t.Errorf("%s reconnected to %s, first landed on %s", ip, s.Server, first[ip])
		}
	}
}
