package integration

import (
	"testing"
	"time"

	"github.com/rtmp-edge/rtmp-edge/integration/harness"
)

// TestMetricsLiveBytes: while an ffmpeg publisher is still streaming, the
// edge's /metrics (parsed with Prometheus's text parser) counts the bytes it
// sent: rtmp_edge_bytes_total{direction="in"} and the session's bytes_in in
// /api/v1/sessions agree with what a counting proxy between ffmpeg and the
// edge passed on, and direction "out" with what it passed back.
//
// The bound: the edge promises counters at most 1 s behind, so a scrape
// started 2 s after the proxy read its count must include all of it, less
//   - the RTMP handshake (C0+C1+C2, 3073 bytes), which the edge ends itself and
//     may leave out of its relay counters, and
//   - 64 KiB that may still sit in the socket between proxy and edge, unread.
//
// And it cannot exceed what the proxy had passed when the scrape was over.
// An edge that counts bytes only when a session ends reports 0 here, below
// the bound once the publisher has sent 256 KiB.
func TestMetricsLiveBytes(t *testing.T) {
	t.Parallel()
	const (
		handshake = 1 + 2*1536
		inFlight  = 64 << 10
		behind    = 2 * time.Second
	)
	c := startCluster(t, clusterOptions{servers: 1})
	proxy := harness.StartCountingProxy(t, c.rtmp, harness.ClientIP(104, 1))
	flv := harness.MakeTestStream(t, 4)
	pub := harness.Publish(t, "rtmp://"+proxy.Addr+"/live/counted", flv)
	c.media["media03"].WaitStat(t, "publisher of counted", hasPublisher("counted"), 20*time.Second)
	for deadline := time.Now().Add(60 * time.Second); proxy.Up() < 256<<10; {
		if time.Now().After(deadline) {
			t.Fatalf("the publisher sent only %d bytes in 60s", proxy.Up())
		}
		if exited, err := pub.Exited(); exited {
			t.Fatalf("the publisher ended: %v\n%s", err, pub.Output())
		}
		time.Sleep(100 * time.Millisecond)
	}

	upBefore, downBefore := proxy.Up(), proxy.Down()
	time.Sleep(behind)
	m, err := c.edge.Scrape()
	if err != nil {
		t.Fatal(err)
	}
	upAfter, downAfter := proxy.Up(), proxy.Down()
	in, foundIn := m.Sum("rtmp_edge_bytes_total", map[string]string{"direction": "in"})
	out, foundOut := m.Sum("rtmp_edge_bytes_total", map[string]string{"direction": "out"})
	if !foundIn || !foundOut {
		t.Fatalf("rtmp_edge_bytes_total: direction in found %v, out found %v; want both", foundIn, foundOut)
	}
	t.Logf("proxy passed up %d..%d, down %d..%d; metrics in %v, out %v", upBefore, upAfter, downBefore, downAfter, in, out)
	checkBytes(t, `rtmp_edge_bytes_total{direction="in"}`, int64(in), upBefore-handshake-inFlight, upAfter)
	checkBytes(t, `rtmp_edge_bytes_total{direction="out"}`, int64(out), downBefore-handshake-inFlight, downAfter)

	// The API's live counters obey the same bound.
	upBefore = proxy.Up()
	time.Sleep(behind)
	ss, err := c.edge.Admin().Sessions()
	if err != nil {
		t.Fatal(err)
	}
	upAfter = proxy.Up()
	var pubSession *harness.APISession
	for i := range ss {
		if harness.HostOf(ss[i].Client) == harness.ClientIP(104, 1) {
			pubSession = &ss[i]
		}
	}
	if pubSession == nil {
		t.Fatalf("/api/v1/sessions does not list the publisher from %s: %+v", harness.ClientIP(104, 1), ss)
	}
	if pubSession.Kind != "publish" || pubSession.Stream != "counted" || pubSession.Server != "media03" {
		t.Errorf("/api/v1/sessions: publisher listed as %+v, want kind publish, stream counted, server media03", *pubSession)
	}
	checkBytes(t, "/api/v1/sessions bytes_in", pubSession.BytesIn, upBefore-handshake-inFlight, upAfter)

	// The other gauges of a live session.
	if v, found := m.Sum("rtmp_edge_server_sessions", map[string]string{"backend": "media", "server": "media03"}); v != 1 {
		t.Errorf("rtmp_edge_server_sessions{server=media03} = %v (found %v), want 1 (the publisher)", v, found)
	}
	if v, found := m.Sum("rtmp_edge_build_info", nil); v != 1 {
		t.Errorf("rtmp_edge_build_info = %v (found %v), want 1", v, found)
	}
	for _, name := range []string{"rtmp_edge_queue_length", "rtmp_edge_stick_entries", "rtmp_edge_server_bytes_total"} {
		if _, found := m.Sum(name, map[string]string{"backend": "media"}); !found {
			t.Errorf("/metrics has no %s{backend=media}", name)
		}
	}

	// A live upload shows in the log before it ends.
	start, err := c.edge.AwaitLog(func(l harness.LogLine) bool {
		return l.Msg() == "session start" && l.ClientIP() == harness.ClientIP(104, 1)
	}, time.Second)
	if err != nil {
		t.Errorf("no session start line for the live publisher: %v", err)
	} else if start.Str("kind") != "publish" || start.Str("stream") != "counted" || start.Str("server") != "media03" {
		t.Errorf("session start of the publisher: %v; want kind publish, stream counted, server media03", start)
	}

	// Mid-stream, really: the publisher is still sending.
	if exited, err := pub.Exited(); exited {
		t.Fatalf("the publisher ended before the check: %v", err)
	}
	for deadline := time.Now().Add(10 * time.Second); proxy.Up() <= upAfter; {
		if time.Now().After(deadline) {
			t.Fatal("the publisher sent nothing more after the scrape")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// checkBytes fails unless lo <= got <= hi.
func checkBytes(t *testing.T, what string, got, lo, hi int64) {
	t.Helper()
	if got < lo || got > hi {
		t.Errorf("%s = %d, want within [%d, %d] (what the client had sent, see the bound)", what, got, lo, hi)
	}
}
