package integration

import (
	"slices"
	"testing"
	"time"

	"github.com/rtmp-edge/rtmp-edge/integration/harness"
)

// TestPlayThroughEdge: ffmpeg publishes through the edge; ffmpeg, rtmpdump and
// the Go player play through the edge and every packet they receive hash-equals
// a packet of the published file (and they receive enough of each codec).
func TestPlayThroughEdge(t *testing.T) {
	t.Parallel()
	c := startCluster(t, clusterOptions{})
	flv := harness.MakeTestStream(t, 4)
	published := harness.MustFrameMD5(t, flv)
	harness.Publish(t, url("rtmp", c.rtmp, "demo"), flv)
	c.waitMirrored(t, "demo")

	t.Run("ffmpeg", func(t *testing.T) {
		got, err := harness.PlayFFmpeg(url("rtmp", c.rtmp, "demo"), 3*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if err := got.CheckSubsetOf(published, 20); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("rtmpdump", func(t *testing.T) {
		got, err := harness.PlayRTMPDump(t, url("rtmp", c.rtmp, "demo"), 3*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if err := got.CheckSubsetOf(published, 20); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("go-player", func(t *testing.T) {
		p := harness.StartPlayer(t, harness.PlayerOptions{Addr: c.rtmp, LocalIP: harness.ClientIP(20, 1), Stream: "demo"})
		if err := p.WaitPackets(30, 15*time.Second); err != nil {
			t.Fatal(err)
		}
		if err := p.Packets().CheckSubsetOf(published, 20); err != nil {
			t.Fatal(err)
		}
		addr := p.LocalAddr()
		p.Close()
		s := c.edge.WaitSession(t, addr, 15*time.Second)
		checkSessionLine(t, s, harness.Session{
			Client: addr, Listener: "rtmp", Proto: "rtmp", App: "live", TcURL: "rtmp://" + c.rtmp + "/live",
			FlashVer: "LNX 9,0,124,2", Kind: "play", Command: "play", Stream: "demo",
		})
	})
	t.Run("go-player-amf3-connect", func(t *testing.T) {
		// Flash Player with objectEncoding 3 sends connect as type 17.
		p := harness.StartPlayer(t, harness.PlayerOptions{Addr: c.rtmp, LocalIP: harness.ClientIP(20, 2), Stream: "demo", ConnectAMF3: true})
		if err := p.WaitPackets(25, 15*time.Second); err != nil {
			t.Fatal(err)
		}
		if err := p.Packets().CheckSubsetOf(published, 20); err != nil {
			t.Fatal(err)
		}
		addr := p.LocalAddr()
		p.Close()
		checkSessionLine(t, c.edge.WaitSession(t, addr, 15*time.Second), harness.Session{
			Client: addr, App: "live", TcURL: "rtmp://" + c.rtmp + "/live", Kind: "play", Command: "play", Stream: "demo",
		})
	})
}

// checkSessionLine compares a "session end" line with want on every string field
// want sets, and checks the fields every relayed session has: a server, bytes
// both ways, a duration, a reason for the kind and how it ended.
func checkSessionLine(t *testing.T, got, want harness.Session) {
	t.Helper()
	pairs := [][3]string{
		{"client", got.Client, want.Client}, {"listener", got.Listener, want.Listener}, {"proto", got.Proto, want.Proto},
		{"app", got.App, want.App}, {"tcurl", got.TcURL, want.TcURL}, {"flashver", got.FlashVer, want.FlashVer},
		{"kind", got.Kind, want.Kind}, {"command", got.Command, want.Command}, {"stream", got.Stream, want.Stream},
	}
	for _, p := range pairs {
		if p[2] != "" && p[1] != p[2] {
			t.Errorf("session line %s = %q, want %q", p[0], p[1], p[2])
		}
	}
	if !slices.Contains(serverNames, got.Server) {
		t.Errorf("session line server = %q, want one of %v", got.Server, serverNames)
	}
	if got.BytesIn <= 0 || got.BytesOut <= 0 {
		t.Errorf("session line bytes_in %d, bytes_out %d: want both > 0", got.BytesIn, got.BytesOut)
	}
	if _, err := time.ParseDuration(got.Duration); err != nil {
		t.Errorf("session line duration %q: %v", got.Duration, err)
	}
	if got.Reason == "" || got.End == "" {
		t.Errorf("session line reason %q, end %q: want both set", got.Reason, got.End)
	}
	if got.Misrouted != want.Misrouted {
		t.Errorf("session line misrouted = %v, want %v", got.Misrouted, want.Misrouted)
	}
}
