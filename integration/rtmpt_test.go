package integration

import (
	"sync"
	"testing"
	"time"

	"github.com/rtmp-edge/rtmp-edge/integration/harness"
)

// TestRTMPT runs RTMPT clients through the edge in front of nginx-rtmp, which has
// no RTMPT of its own: ffmpeg publishes over rtmpt:// and the publish shows on
// the upload server; ffmpeg and rtmpdump (librtmp, which pipelines requests) play
// over rtmpt:// and receive packets of the published stream; and one port set to
// [rtmpt, rtmp] serves an rtmp:// and an rtmpt:// ffmpeg player at once.
func TestRTMPT(t *testing.T) {
	t.Parallel()
	c := startCluster(t, clusterOptions{rtmpt: true, mixed: true})
	flv := harness.MakeTestStream(t, 4)
	published := harness.MustFrameMD5(t, flv)

	pub := harness.Publish(t, url("rtmpt", c.rtmpt, "tun"), flv)
	c.media["media03"].WaitStat(t, "publisher of tun (over rtmpt)", hasPublisher("tun"), 20*time.Second)
	c.waitMirrored(t, "tun")
	// The tunnel of the live publisher is counted while it lasts.
	m, err := c.edge.Scrape()
	if err != nil {
		t.Fatal(err)
	}
	if v, found := m.Sum("rtmp_edge_rtmpt_sessions", map[string]string{"listener": "rtmpt"}); v != 1 {
		t.Errorf(`rtmp_edge_rtmpt_sessions{listener="rtmpt"} = %v (found %v) with one publisher tunnelled, want 1`, v, found)
	}

	t.Run("ffmpeg-play", func(t *testing.T) {
		got, err := harness.PlayFFmpeg(url("rtmpt", c.rtmpt, "tun"), 3*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if err := got.CheckSubsetOf(published, 20); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("rtmpdump-play", func(t *testing.T) {
		got, err := harness.PlayRTMPDump(t, url("rtmpt", c.rtmpt, "tun"), 3*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if err := got.CheckSubsetOf(published, 20); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("mixed-port", func(t *testing.T) {
		var wg sync.WaitGroup
		results := map[string]error{}
		var mu sync.Mutex
		for _, scheme := range []string{"rtmp", "rtmpt"} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				got, err := harness.PlayFFmpeg(url(scheme, c.mixed, "tun"), 4*time.Second)
				if err == nil {
					err = got.CheckSubsetOf(published, 20)
				}
				mu.Lock()
				results[scheme] = err
				mu.Unlock()
			}()
		}
		wg.Wait()
		for scheme, err := range results {
			if err != nil {
				t.Errorf("%s:// player on the [rtmpt, rtmp] port: %v", scheme, err)
			}
		}
		// Both players were relayed by the mixed listener, each with its protocol.
		for _, proto := range []string{"rtmp", "rtmpt"} {
			c.edge.WaitLog(t, func(l harness.LogLine) bool {
				return l.Msg() == "session end" && l.Str("listener") == "mixed" && l.Str("proto") == proto && l.Str("command") == "play"
			}, 15*time.Second)
		}
	})

	pub.Stop()
	s := waitSessionOf(t, c.edge, "tun")
	if s.Proto != "rtmpt" || s.Server != "media03" || s.Command != "publish" {
		t.Errorf("rtmpt publish session line: proto %q server %q command %q; want rtmpt media03 publish", s.Proto, s.Server, s.Command)
	}
}
