package integration

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rtmp-edge/rtmp-edge/integration/harness"
)

// TestPublishGoesToUploadServer: ffmpeg publishes through the edge and /stat
// shows the publisher on media03 (upload: true); the edge's session line says
// kind and command publish on media03. While media03 is stopped (after the
// edge's "server down" line), a new publish lands on media01 or media02.
func TestPublishGoesToUploadServer(t *testing.T) {
	t.Parallel()
	c := startCluster(t, clusterOptions{})
	flv := harness.MakeTestStream(t, 4)

	pub := harness.Publish(t, url("rtmp", c.rtmp, "up1"), flv)
	st := c.media["media03"].WaitStat(t, "publisher of up1", hasPublisher("up1"), 20*time.Second)
	// The edge replays the client's connect verbatim: nginx sees ffmpeg's flashVer.
	if fv := st.Stream("up1").Publishers[0].FlashVer; !strings.HasPrefix(fv, "FMLE/") {
		t.Errorf("publisher on media03 has flashver %q, want ffmpeg's FMLE/…", fv)
	}
	for _, name := range []string{"media01", "media02"} {
		// What is there is media03's push relay, never the client itself.
		for _, p := range c.media[name].Stat(t).Stream("up1").Publishers {
			if strings.HasPrefix(p.FlashVer, "FMLE/") {
				t.Errorf("the client's publish of up1 reached %s", name)
			}
		}
	}
	pub.Stop()
	s := waitSessionOf(t, c.edge, "up1")
	if s.Server != "media03" || s.Kind != "publish" || s.Command != "publish" || s.Misrouted {
		t.Errorf("publish session: server %q kind %q command %q misrouted %v; want media03 publish publish false", s.Server, s.Kind, s.Command, s.Misrouted)
	}

	c.media["media03"].Stop()
	c.edge.WaitLog(t, func(l harness.LogLine) bool {
		return l.Msg() == "server down" && l.Str("server") == "media03"
	}, 20*time.Second)
	pub2 := harness.Publish(t, url("rtmp", c.rtmp, "up2"), flv)
	deadline := time.Now().Add(20 * time.Second)
	var landed []string
	for len(landed) == 0 {
		for _, name := range []string{"media01", "media02"} {
			if hasPublisher("up2")(c.media[name].Stat(t)) {
				landed = append(landed, name)
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("publish of up2 with media03 down: no publisher on media01 or media02; publisher output:\n%s", pub2.Output())
		}
		time.Sleep(200 * time.Millisecond)
	}
	pub2.Stop()
	s2 := waitSessionOf(t, c.edge, "up2")
	if !slices.Contains(landed, s2.Server) {
		t.Errorf("session line of up2 says server %q, /stat showed the publisher on %v", s2.Server, landed)
	}
}

// waitSessionOf waits for the "session end" line of the ffmpeg publisher of
// stream (told from players by its flashVer, "FMLE/3.0 (compatible; Lavf…)",
// not by the edge's classification, which is under test) and returns it.
func waitSessionOf(t *testing.T, e *harness.Edge, stream string) harness.Session {
	t.Helper()
	isPublisher := func(stream2, flashVer string) bool {
		return stream2 == stream && strings.HasPrefix(flashVer, "FMLE/")
	}
	e.WaitLog(t, func(l harness.LogLine) bool {
		return l.Msg() == "session end" && isPublisher(l.Str("stream"), l.Str("flashver"))
	}, 15*time.Second)
	for _, s := range e.Sessions() {
		if isPublisher(s.Stream, s.FlashVer) {
			return s
		}
	}
	t.Fatalf("session end of %s vanished", stream)
	return harness.Session{}
}

// TestMisroutedPublishIsFlagged: a client whose connect looks like a player's
// (a player flashVer, no type "nonprivate") but then publishes is routed as a
// player, to media01 or media02; the edge's session line keeps both stories
// (kind play from connect, command publish seen later) and says misrouted.
func TestMisroutedPublishIsFlagged(t *testing.T) {
	t.Parallel()
	c := startCluster(t, clusterOptions{route: "connect"}) // what route: command prevents (TestCommandPlayerShapedPublisher)
	p := harness.StartPlayer(t, harness.PlayerOptions{Addr: c.rtmp, LocalIP: harness.ClientIP(70, 1), Stream: "sneaky", Publish: true})
	addr := p.LocalAddr()
	p.Close()
	s := c.edge.WaitSession(t, addr, 15*time.Second)
	checkSessionLine(t, s, harness.Session{
		Client: addr, Listener: "rtmp", Proto: "rtmp", App: "live", FlashVer: "LNX 9,0,124,2",
		Kind: "play", Command: "publish", Stream: "sneaky", Misrouted: true,
	})
	if s.Server == "media03" {
		t.Errorf("a client classified as a player went to the upload server")
	}
	n, err := c.edge.MetricSum("rtmp_edge_misrouted_total", nil)
	if err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Errorf("rtmp_edge_misrouted_total = %v, want 1", n)
	}
}
