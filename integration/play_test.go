package integration

import (
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
		if s.Kind != "play" || s.Command != "play" || s.Stream != "demo" || s.Server == "" || s.BytesOut == 0 {
			t.Errorf("player session line: %+v", s)
		}
	})
}
