package integration

import (
	"testing"
	"time"

	"github.com/rtmp-edge/rtmp-edge/integration/harness"
)

// TestServerKilled: a media server is killed (SIGKILL) mid-test. After the
// edge's "server down" line no new session goes to it, and a player on another
// server keeps receiving. When it comes back, the edge says "server up".
func TestServerKilled(t *testing.T) {
	t.Parallel()
	c := startCluster(t, clusterOptions{})
	flv := harness.MakeTestStream(t, 4)
	published := harness.MustFrameMD5(t, flv)
	harness.Publish(t, url("rtmp", c.rtmp, "live1"), flv)
	c.waitMirrored(t, "live1")

	keeper := harness.StartPlayer(t, harness.PlayerOptions{Addr: c.rtmp, LocalIP: harness.ClientIP(40, 1), Stream: "live1"})
	if err := keeper.WaitPackets(25, 15*time.Second); err != nil {
		t.Fatal(err)
	}
	home := c.serverOfPlayer(t, "live1")
	// Kill a server the keeper is not on, never media03 (the source of the stream).
	victim := "media01"
	if home == "media01" {
		victim = "media02"
	}
	t.Logf("keeper plays from %s; killing %s", home, victim)
	c.media[victim].Stop()
	c.edge.WaitLog(t, func(l harness.LogLine) bool {
		return l.Msg() == "server down" && l.Str("server") == victim
	}, 20*time.Second)

	if err := keeper.WaitPackets(50, 15*time.Second); err != nil {
		t.Fatalf("player on %s after %s died: %v", home, victim, err)
	}
	if err := keeper.Packets().CheckSubsetOf(published, 20); err != nil {
		t.Fatal(err)
	}

	for i := 2; i <= 21; i++ {
		p := harness.StartPlayer(t, harness.PlayerOptions{Addr: c.rtmp, LocalIP: harness.ClientIP(40, i), Stream: "live1"})
		addr := p.LocalAddr()
		p.Close()
		if s := c.edge.WaitSession(t, addr, 15*time.Second); s.Server == victim || s.Server == "" {
			t.Errorf("new session from %s went to %q after %s was down", addr, s.Server, victim)
		}
	}
	if keeper.Err() != nil {
		t.Fatalf("keeper ended: %v", keeper.Err())
	}

	c.media[victim].Start()
	up := c.edge.WaitLog(t, func(l harness.LogLine) bool {
		return l.Msg() == "server up" && l.Str("server") == victim
	}, 20*time.Second)
	// A server coming back is good news (INFO); one going away is a warning.
	if lvl := up.Str("level"); lvl != "INFO" {
		t.Errorf("server up line at level %s, want INFO", lvl)
	}
	for _, l := range c.edge.Logs() {
		if l.Msg() == "server down" && l.Str("server") == victim && l.Str("level") != "WARN" {
			t.Errorf("server down line at level %s, want WARN", l.Str("level"))
		}
	}
}
