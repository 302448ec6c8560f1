package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rtmp-edge/rtmp-edge/integration/harness"
)

// Replication (backend key replicate): three nginx-rtmp with no push at all;
// the edge publishes each upload to the two other servers itself, and
// players spread over all three by weight.

// Address blocks of the replication tests (ClientIP(block, n)).
const (
	blockReplPublisher = 200
	blockReplPlayers   = 201
	blockReplDirect    = 202
	blockReplFaults    = 203
	blockReplStop      = 204
	blockReplReload    = 205
	blockReplReady     = 206
	// 207–209: the frozen-replica tests (publisher, direct players).
	blockReplStopPlayers   = 207
	blockReplBuffer        = 208
	blockReplBufferPlayers = 209
)

// replCluster is the seed's three media servers (weights 10/10/8, media03
// takes the uploads, nobody pushes) behind an edge with route: command and
// a replicate key.
type replCluster struct {
	media     map[string]*harness.Nginx
	edge      *harness.Edge
	rtmp      string
	admin     string
	names     []string // the backend's servers, config order
	weights   map[string]int
	replicate string // the replicate key, e.g. "{ to: all }"
	check     string
}

// defaultReplCheck is the seed's health check with the timings of the
// other integration tests.
const defaultReplCheck = "{ type: rtmp, interval: 300ms, rise: 2, fall: 3, timeout: 3s, app: live }"

// replicate is the backend's replicate key, e.g. "{ to: all }".
func startReplCluster(t *testing.T, replicate string) *replCluster {
	return startReplClusterCheck(t, replicate, defaultReplCheck)
}

func startReplClusterCheck(t *testing.T, replicate, check string) *replCluster {
	t.Helper()
	c := &replCluster{
		media: map[string]*harness.Nginx{}, rtmp: harness.FreeAddr(t), admin: harness.FreeAddr(t),
		names: append([]string(nil), serverNames...), weights: map[string]int{"media01": 10, "media02": 10, "media03": 8},
		replicate: replicate, check: check,
	}
	for _, name := range c.names {
		c.media[name] = harness.StartNginx(t, harness.NginxOptions{Name: name, RTMPAddr: harness.FreeAddr(t), HTTPAddr: harness.FreeAddr(t)})
	}
	c.edge = harness.StartEdge(t, c.config())
	c.edge.WaitServersUp(t, "media", c.names, 15*time.Second)
	c.edge.WaitLog(t, func(l harness.LogLine) bool { return l.Msg() == "connect template learned" }, 15*time.Second)
	return c
}

// config renders the edge's config from the cluster's current servers and
// replicate key, so that a test can change them and reload.
func (c *replCluster) config() string {
	var cfg strings.Builder
	fmt.Fprintf(&cfg, "admin:\n  address: %q\nlisteners:\n", c.admin)
	fmt.Fprintf(&cfg, "  - { name: rtmp, address: %q, protocols: [rtmp], maxconn: 600, backend: media }\n", c.rtmp)
	fmt.Fprintf(&cfg, `backends:
  - name: media
    route: command
    replicate: %s
    balance: roundrobin
    stick: { size: 200000, expire: 20m }
    check: %s
    retries: 3
    connect_timeout: 2s
    handshake_timeout: 3s
    servers:
`, c.replicate, c.check)
	for _, name := range c.names {
		upload := ""
		if name == "media03" {
			upload = ", upload: true"
		}
		fmt.Fprintf(&cfg, "      - { name: %s, address: %q, weight: %d, maxconn: 200%s }\n", name, c.media[name].Opts.RTMPAddr, c.weights[name], upload)
	}
	return cfg.String()
}

// publish publishes src with ffmpeg through the edge from ip's own address
// and returns the forwarder (its byte counts are the publisher's).
func (c *replCluster) publish(t *testing.T, ip, stream, src string) (*harness.Proc, *harness.CountingProxy) {
	t.Helper()
	proxy := harness.StartCountingProxy(t, c.rtmp, ip)
	return harness.Publish(t, url("rtmp", proxy.Addr, stream), src), proxy
}

// waitLiveEverywhere waits until every server's /stat lists a publisher of
// stream: media03 the publisher's own session, the others the edge's replicas.
func (c *replCluster) waitLiveEverywhere(t *testing.T, stream string, timeout time.Duration) {
	t.Helper()
	for _, name := range serverNames {
		c.media[name].WaitStat(t, stream+" live on "+name, hasPublisher(stream), timeout)
	}
}

// testStreamGOP is the keyframe interval of harness.MakeTestStream (-g 25
// at 25 frames a second).
const testStreamGOP = time.Second

// statPoll is how often liveTimes asks each server's /stat.
const statPoll = 50 * time.Millisecond

// liveTimes waits until every server's /stat lists a publisher of stream
// (as waitLiveEverywhere) and returns, per server, when that was first seen,
// counted from since. The servers are polled side by side, so one server's
// wait does not add to another's time.
func (c *replCluster) liveTimes(t *testing.T, stream string, since time.Time, timeout time.Duration) map[string]time.Duration {
	t.Helper()
	out := map[string]time.Duration{}
	deadline := since.Add(timeout)
	for len(out) < len(serverNames) {
		if time.Now().After(deadline) {
			t.Fatalf("%s live within %s on %v only", stream, timeout, out)
		}
		for _, name := range serverNames {
			if _, done := out[name]; done {
				continue
			}
			st, err := c.media[name].FetchStat(context.Background())
			if err == nil && hasPublisher(stream)(st) {
				out[name] = time.Since(since).Round(10 * time.Millisecond)
			}
		}
		time.Sleep(statPoll)
	}
	return out
}

// logTime is the time field of an edge log line.
func logTime(t *testing.T, l harness.LogLine) time.Time {
	t.Helper()
	ts, err := time.Parse(time.RFC3339Nano, l.Str("time"))
	if err != nil {
		t.Fatalf("log line without a time: %v", l)
	}
	return ts
}

// replicaMetric is one per-server replication metric of the edge.
func (c *replCluster) replicaMetric(t *testing.T, name, server string) float64 {
	t.Helper()
	v, err := c.edge.MetricSum(name, map[string]string{"backend": "media", "server": server})
	if err != nil {
		t.Fatalf("metrics: %v", err)
	}
	return v
}

// The stream published through the edge becomes live on all three servers,
// each server's own players (ffmpeg and rtmpdump, straight to the server)
// receive packets hash-equal to the source, and 28 players through the edge
// spread 10/10/8 over the three by weight.
func TestReplicateToEveryServer(t *testing.T) {
	t.Parallel()
	c := startReplCluster(t, "{ to: all }")
	src := harness.MakeTestStream(t, 4)
	published := harness.MustFrameMD5(t, src)
	started := time.Now()
	c.publish(t, harness.ClientIP(blockReplPublisher, 1), "wide", src)
	// Bounded but generous: the first keyframe, then a replica's join
	// (connect, createStream, publish) on a machine shared by many tests.
	live := c.liveTimes(t, "wide", started, 20*time.Second)
	t.Logf("publish (ffmpeg started) → live in /stat (polled every %s): media03 (origin) %s, media01 %s, media02 %s; the source's GOP is %s",
		statPoll, live["media03"], live["media01"], live["media02"], testStreamGOP)
	c.checkAPIReplicas(t, "wide", map[string]string{"media01": "live", "media02": "live"})
	// A replica connects as the publisher did: each server shows ffmpeg's
	// own flashVer for its publisher, the origin's session and the replicas.
	origin := c.media["media03"].Stat(t).Stream("wide").Publishers[0].FlashVer
	if !strings.HasPrefix(origin, "FMLE/3.0 (compatible; Lavf") {
		t.Errorf("media03 shows the publisher's flashver %q, want ffmpeg's", origin)
	}
	for _, name := range []string{"media01", "media02"} {
		if got := c.media[name].Stat(t).Stream("wide").Publishers[0].FlashVer; got != origin {
			t.Errorf("%s shows the replica's flashver %q, the origin the publisher's %q", name, got, origin)
		}
	}

	var wg sync.WaitGroup
	errs := map[string]error{}
	var mu sync.Mutex
	for _, name := range serverNames {
		for _, client := range []string{"ffmpeg", "rtmpdump"} {
			u := url("rtmp", c.media[name].Opts.RTMPAddr, "wide")
			wg.Add(1)
			go func() {
				defer wg.Done()
				var got harness.Packets
				var err error
				if client == "ffmpeg" {
					got, err = harness.PlayFFmpeg(u, 2*time.Second)
				} else {
					got, err = harness.PlayRTMPDump(t, u, 3*time.Second)
				}
				if err == nil {
					err = got.CheckSubsetOf(published, 10)
				}
				mu.Lock()
				errs[client+" on "+name] = err
				mu.Unlock()
			}()
		}
	}
	wg.Wait()
	for what, err := range errs {
		if err != nil {
			t.Errorf("%s: %v", what, err)
		}
	}

	got, picks := map[string]int{}, map[string]int{}
	for i := 1; i <= 28; i++ {
		p := harness.StartPlayer(t, harness.PlayerOptions{Addr: c.rtmp, LocalIP: harness.ClientIP(blockReplPlayers, i), Stream: "wide"})
		s := c.edge.WaitSessionStart(t, p.LocalAddr(), 15*time.Second)
		got[s.Str("server")]++
		picks[s.Str("pick")]++
		if err := p.WaitPackets(5, 20*time.Second); err != nil {
			t.Errorf("player %d on %s: %v", i, s.Str("server"), err)
		}
		p.Close()
	}
	if want := map[string]int{"media01": 10, "media02": 10, "media03": 8}; !reflect.DeepEqual(got, want) {
		t.Errorf("players per server %v, want %v", got, want)
	}
	if want := map[string]int{"live on media03": 8, "replica of media03": 20}; !reflect.DeepEqual(picks, want) {
		t.Errorf("pick reasons %v, want %v", picks, want)
	}
	for _, name := range []string{"media01", "media02"} {
		if v := c.replicaMetric(t, "rtmp_edge_replica_live", name); v != 1 {
			t.Errorf("rtmp_edge_replica_live{server=%s} = %v, want 1", name, v)
		}
		if v := c.replicaMetric(t, "rtmp_edge_replica_bytes_total", name); v <= 0 {
			t.Errorf("rtmp_edge_replica_bytes_total{server=%s} = %v", name, v)
		}
	}
}

// directPlayers starts one player straight on each named server (not through
// the edge), to watch what those servers' viewers see.
func (c *replCluster) directPlayers(t *testing.T, stream string, block int, servers ...string) map[string]*harness.Player {
	t.Helper()
	out := map[string]*harness.Player{}
	for i, name := range servers {
		p := harness.StartPlayer(t, harness.PlayerOptions{Addr: c.media[name].Opts.RTMPAddr, LocalIP: harness.ClientIP(block, i+1), Stream: stream})
		if err := p.WaitPackets(10, 20*time.Second); err != nil {
			t.Fatalf("player on %s: %v", name, err)
		}
		out[name] = p
	}
	return out
}

// keepReceiving checks that each player receives n more packets (bounded
// wait) and has no error.
func keepReceiving(t *testing.T, players map[string]*harness.Player, n int, when string) {
	t.Helper()
	for name, p := range players {
		if err := p.Mark().Wait(n, 30*time.Second); err != nil {
			t.Errorf("%s: the player on %s: %v", when, name, err)
		}
	}
}

// publisherAlive fails the test if the publisher's session through the edge
// ended (its session-end line) or ffmpeg exited.
func (c *replCluster) publisherAlive(t *testing.T, ip string, ffmpeg *harness.Proc, when string) {
	t.Helper()
	if exited, err := ffmpeg.Exited(); exited {
		t.Fatalf("%s: the publisher's ffmpeg exited (%v):\n%s", when, err, ffmpeg.Output())
	}
	for _, l := range c.edge.Logs() {
		if l.Msg() == "session end" && l.ClientIP() == ip {
			t.Fatalf("%s: the publisher's session ended: %v", when, l)
		}
	}
}

// kill -9 of a replica costs the publisher and the other servers' players
// nothing; restarted, the replica has the stream again once its checks rose.
func TestReplicateReplicaKilledAndRestarted(t *testing.T) {
	t.Parallel()
	c := startReplCluster(t, "{ to: all }")
	src := harness.MakeTestStream(t, 4)
	ip := harness.ClientIP(blockReplFaults, 1)
	ffmpeg, proxy := c.publish(t, ip, "faulty", src)
	c.waitLiveEverywhere(t, "faulty", 20*time.Second)
	players := c.directPlayers(t, "faulty", blockReplFaults+0, "media02", "media03")
	sessionsBefore := c.replicaMetric(t, "rtmp_edge_replica_sessions_total", "media01")

	c.media["media01"].Stop() // SIGKILL
	up := proxy.Up()
	keepReceiving(t, players, 100, "media01 killed")
	if proxy.Up() <= up {
		t.Errorf("the publisher sent nothing more through the edge after media01 was killed (%d bytes before, %d after)", up, proxy.Up())
	}
	c.publisherAlive(t, ip, ffmpeg, "media01 killed")
	waitServerUp(t, c.edge, "media01", false)

	mark := c.edge.LogMark()
	c.media["media01"].Start()
	waitServerUp(t, c.edge, "media01", true)
	// Within the first keyframes after the rise (one a second here); the
	// wait is generous for a shared machine.
	c.media["media01"].WaitStat(t, "faulty live on media01 again", hasPublisher("faulty"), 20*time.Second)
	rose := c.edge.WaitLogSince(t, mark, func(l harness.LogLine) bool {
		return l.Msg() == "server up" && l.Str("server") == "media01"
	}, 5*time.Second)
	rejoined := c.edge.WaitLogSince(t, mark, func(l harness.LogLine) bool {
		return l.Msg() == "replica live" && l.Str("replica") == "media01"
	}, 5*time.Second)
	t.Logf("media01 restarted: its check's \"server up\" → \"replica live\" %s (edge log times); the source's GOP is %s",
		logTime(t, rejoined).Sub(logTime(t, rose)).Round(time.Millisecond), testStreamGOP)
	back := harness.StartPlayer(t, harness.PlayerOptions{Addr: c.media["media01"].Opts.RTMPAddr, LocalIP: harness.ClientIP(blockReplFaults, 10), Stream: "faulty"})
	if err := back.WaitPackets(25, 20*time.Second); err != nil {
		t.Errorf("a player of the restarted media01: %v", err)
	}
	if err := back.Packets().CheckSubsetOf(harness.MustFrameMD5(t, src), 10); err != nil {
		t.Errorf("the restarted media01's stream: %v", err)
	}
	c.publisherAlive(t, ip, ffmpeg, "media01 restarted")
	keepReceiving(t, players, 25, "media01 restarted")
	if after := c.replicaMetric(t, "rtmp_edge_replica_sessions_total", "media01"); after <= sessionsBefore {
		t.Errorf("rtmp_edge_replica_sessions_total{server=media01} %v, was %v before the kill: no new replica session", after, sessionsBefore)
	}

	// The publisher's end ends every replica, and its session-end line says how.
	ffmpeg.Stop()
	end := c.edge.WaitLog(t, func(l harness.LogLine) bool { return l.Msg() == "session end" && l.ClientIP() == ip }, 20*time.Second)
	for _, name := range []string{"media01", "media02"} {
		// ffmpeg unpublishes before it closes: the replicas end with it.
		if got := logField(end, "replicas", name, "end"); got != "publisher unpublished" && got != "publisher ended" {
			t.Errorf("session end: replicas.%s.end = %q, want the publisher's end (%v)", name, got, end)
		}
		if b := logField(end, "replicas", name, "bytes"); b == "" || b == "0" {
			t.Errorf("session end: replicas.%s.bytes = %q", name, b)
		}
	}
	if got := logField(end, "replicas", "media03", "end"); got != "" {
		t.Errorf("the origin listed as a replica: %q", got)
	}
}

// waitServerUp waits until the edge's check says server is up (or down).
func waitServerUp(t *testing.T, e *harness.Edge, server string, up bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		got, err := e.ServerUp("media", server)
		if err == nil && got == up {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: up=%v (err %v), want up=%v", server, got, err, up)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// A stopped replica (SIGSTOP: its socket accepts nothing more) is dropped
// once it is max_lag behind. max_lag is long (10 s) so that the freeze
// lasts: an edge that waited for the frozen replica would stall the
// publisher inside that window, and the test watches the window itself,
// not an average that runs past the drop (ffmpeg -re catches up after a
// block). The buffer is large enough that the lag bound, not the buffer,
// drops it. The check is made slow to fall (fall: 40), so that it is
// max_lag that drops the replica, not the server going down.
func TestReplicateStoppedReplicaDroppedForLag(t *testing.T) {
	t.Parallel()
	testFrozenReplica(t, frozenCase{
		replicate: "{ to: all, buffer: 4MiB, max_lag: 10s }", buffer: 4 << 20,
		reason: "lag ", stream: "stopped", block: blockReplStop, playerBlock: blockReplStopPlayers,
	})
}

// The same frozen replica with the smallest buffer and a max_lag it never
// reaches: it is dropped for its buffer, and what the edge queued for it
// never exceeded that buffer.
func TestReplicateStoppedReplicaDroppedForBuffer(t *testing.T) {
	t.Parallel()
	testFrozenReplica(t, frozenCase{
		replicate: "{ to: all, buffer: 256KiB, max_lag: 5m }", buffer: 256 << 10,
		reason: "buffer full", stream: "stuffed", block: blockReplBuffer, playerBlock: blockReplBufferPlayers,
	})
}

type frozenCase struct {
	replicate          string
	buffer             int
	reason             string // prefix of the drop's reason
	stream             string
	block, playerBlock int
}

// originPackets is how many packets of each codec the origin's player must
// receive after the freeze and before the drop (two seconds of the source).
const originPackets = 50

func testFrozenReplica(t *testing.T, fc frozenCase) {
	c := startReplClusterCheck(t, fc.replicate,
		"{ type: rtmp, interval: 300ms, rise: 2, fall: 40, timeout: 3s, app: live }")
	src := harness.MakeTestStream(t, 4)
	ip := harness.ClientIP(fc.block, 1)
	ffmpeg, proxy := c.publish(t, ip, fc.stream, src)
	c.waitLiveEverywhere(t, fc.stream, 20*time.Second)
	players := c.directPlayers(t, fc.stream, fc.playerBlock, "media02", "media03")
	keepReceiving(t, players, 25, "before the freeze")
	rss0 := c.edgeRSS(t)

	mark := c.edge.LogMark()
	origin := players["media03"].Mark()
	c.media["media01"].Freeze(t)
	frozenAt := time.Now()

	// Until the drop: every 100 ms the queued-bytes gauge and the log;
	// every second the publisher's bytes through its forwarder and the
	// packets of the origin's player.
	var (
		maxQueued  float64
		ups        = []int64{proxy.Up()}
		seen       = []int64{0} // the origin player's packets (h264 + aac) since the freeze
		dropped    harness.LogLine
		nextSample = frozenAt.Add(time.Second)
		deadline   = frozenAt.Add(90 * time.Second)
		isDrop     = func(l harness.LogLine) bool { return l.Msg() == "replica dropped" && l.Str("replica") == "media01" }
		originSeen = func() (v, a int) {
			now := players["media03"].Packets()
			return now.Count("h264") - origin.Video, now.Count("aac") - origin.Audio
		}
	)
	originOK := time.Duration(0) // when the origin's player had originPackets of each codec
	for dropped == nil && time.Now().Before(deadline) {
		if q := c.replicaMetricNoFail("rtmp_edge_replica_queued_bytes", "media01"); q > maxQueued {
			maxQueued = q
		}
		if v, a := originSeen(); originOK == 0 && v >= originPackets && a >= originPackets {
			originOK = time.Since(frozenAt)
		}
		if time.Now().After(nextSample) {
			v, a := originSeen()
			ups, seen = append(ups, proxy.Up()), append(seen, int64(v+a))
			nextSample = nextSample.Add(time.Second)
		}
		if l, err := c.edge.AwaitLogSince(mark, isDrop, 100*time.Millisecond); err == nil {
			dropped = l
		}
	}
	frozenFor := time.Since(frozenAt).Round(100 * time.Millisecond)
	t.Logf("media01 frozen %s, dropped: %v (%q); the origin's player had %d packets of each codec %s after the freeze; each second: publisher bytes %v, origin player packets %v; queued for media01 at most %.0f bytes (buffer %d)",
		frozenFor, dropped != nil, dropped.Str("reason"), originPackets, originOK.Round(100*time.Millisecond), deltas(ups), deltas(seen), maxQueued, fc.buffer)

	// ffmpeg -re writes at the source's rate and media03 forwards what it
	// gets: three seconds in a row in which nothing reached the edge, or
	// nothing reached the origin's player, is the publisher held back (a
	// held-back publisher stalls for the whole freeze, tens of seconds; one
	// quiet second can be a loaded machine's scheduling, not the edge). The
	// first second is left out (the freeze and the first sample may fall
	// within one write).
	// Of the two, the origin's player is the sharp one: the forwarder's
	// count goes on for a minute or more into the loopback socket buffers
	// of an edge that stopped reading (seen with a pump made to wait for
	// room in the frozen replica's queue: the player's count stopped at
	// second 36, the forwarder's never did).
	const quiet = 3 // seconds without progress that count as held back
	if len(ups) < quiet+2 {
		t.Errorf("only %d one-second samples before the drop: the window is too short to judge", len(ups)-1)
	}
	for i := 1 + quiet; i < len(ups); i++ {
		if ups[i] <= ups[i-quiet] {
			t.Errorf("seconds %d–%d after the freeze: the publisher sent nothing through the edge (bytes each second %v)", i-quiet+1, i, deltas(ups))
			break
		}
	}
	for i := 1 + quiet; i < len(seen); i++ {
		if seen[i] <= seen[i-quiet] {
			t.Errorf("seconds %d–%d after the freeze: the origin's player received nothing (packets each second %v)", i-quiet+1, i, deltas(seen))
			break
		}
	}
	if originOK == 0 {
		v, a := originSeen()
		t.Errorf("before media01 was dropped (%s after the freeze), the origin's player got only %d h264 and %d aac packets, want %d each: the frozen replica held the publisher back",
			frozenFor, v, a, originPackets)
	}
	if dropped == nil {
		t.Fatalf("media01 frozen %s, no drop", frozenFor)
	}
	if !strings.HasPrefix(dropped.Str("reason"), fc.reason) {
		t.Errorf("dropped for %q, want %q…", dropped.Str("reason"), fc.reason)
	}
	keepReceiving(t, players, 50, "media01 frozen and dropped")
	c.publisherAlive(t, ip, ffmpeg, "media01 frozen")
	if maxQueued == 0 {
		t.Errorf("the queued-bytes gauge never showed the frozen replica's backlog")
	}
	// Slack: the one message that did not fit is not queued, so the bound
	// is the buffer itself; 16 KiB covers the per-message cost rounding.
	if maxQueued > float64(fc.buffer+16<<10) {
		t.Errorf("queued for the frozen replica: up to %.0f bytes, the buffer is %d", maxQueued, fc.buffer)
	}
	// RSS: the edge's own, after, against before; the bound is the buffer of
	// the one stopped replica plus generous slack for the Go runtime.
	if rss := c.edgeRSS(t); rss > rss0+float64(fc.buffer)+32<<20 {
		t.Errorf("edge RSS %.1f MiB, %.1f MiB before the freeze", rss/(1<<20), rss0/(1<<20))
	}
	if v := c.replicaMetric(t, "rtmp_edge_replica_drops_total", "media01"); v < 1 {
		t.Errorf("rtmp_edge_replica_drops_total{server=media01} = %v", v)
	}
}

// deltas is the difference between consecutive samples.
func deltas(s []int64) []int64 {
	out := make([]int64, 0, len(s))
	for i := 1; i < len(s); i++ {
		out = append(out, s[i]-s[i-1])
	}
	return out
}

func (c *replCluster) replicaMetricNoFail(name, server string) float64 {
	v, _ := c.edge.MetricSum(name, map[string]string{"backend": "media", "server": server})
	return v
}

// edgeRSS is the edge process's resident memory (process_resident_memory_bytes).
func (c *replCluster) edgeRSS(t *testing.T) float64 {
	t.Helper()
	v, err := c.edge.MetricSum("process_resident_memory_bytes", nil)
	if err != nil || v == 0 {
		t.Fatalf("process_resident_memory_bytes: %v, %v", v, err)
	}
	return v
}

// logField is a value inside the line's groups (slog.Group: nested objects).
func logField(l harness.LogLine, path ...string) string {
	var v any = map[string]any(l)
	for _, k := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return ""
		}
		v = m[k]
	}
	if v == nil {
		return ""
	}
	return fmt.Sprint(v)
}

// checkAPIReplicas waits (bounded) until the admin API lists, under the
// publishing session of stream, exactly the replicas want (server → state).
func (c *replCluster) checkAPIReplicas(t *testing.T, stream string, want map[string]string) {
	t.Helper()
	var last string
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		got, err := c.apiReplicas(stream)
		if err == nil && reflect.DeepEqual(got, want) {
			return
		}
		last = fmt.Sprintf("%v (%v)", got, err)
	}
	t.Errorf("API: the publish of %s lists replicas %s, want %v", stream, last, want)
}

// apiReplicas is server → state of the replicas the admin API lists under
// the publishing session of stream.
func (c *replCluster) apiReplicas(stream string) (map[string]string, error) {
	status, body, err := c.edge.Admin().Get("/api/v1/sessions")
	if err != nil || status != 200 {
		return nil, fmt.Errorf("GET /api/v1/sessions: %d %v %s", status, err, body)
	}
	var list struct {
		Sessions []struct {
			Kind, Stream string
			Replicas     []struct{ Server, State string }
		}
	}
	if err := json.Unmarshal(body, &list); err != nil {
		return nil, err
	}
	for _, s := range list.Sessions {
		if s.Kind == "publish" && s.Stream == stream {
			got := map[string]string{}
			for _, r := range s.Replicas {
				got[r.Server] = r.State
			}
			return got, nil
		}
	}
	return nil, fmt.Errorf("no publishing session of %s", stream)
}

// noPublisher is a WaitStat predicate: stream has no publisher there.
func noPublisher(stream string) func(*harness.Stat) bool {
	return func(s *harness.Stat) bool { return len(s.Stream(stream).Publishers) == 0 }
}

// A reload changes the live replicated publishes: a to that grew adds its
// new targets, a server the reload adds joins once its checks rose, and a
// server no longer listed loses its replica.
func TestReplicateFollowsReload(t *testing.T) {
	t.Parallel()
	c := startReplCluster(t, "{ to: [media01] }")
	src := harness.MakeTestStream(t, 4)
	ip := harness.ClientIP(blockReplReload, 1)
	ffmpeg, _ := c.publish(t, ip, "reloaded", src)
	c.media["media01"].WaitStat(t, "reloaded live on media01", hasPublisher("reloaded"), 20*time.Second)
	if st := c.media["media02"].Stat(t); len(st.Stream("reloaded").Publishers) != 0 {
		t.Fatalf("media02 is not a target but has the stream: %v", st)
	}

	c.replicate = "{ to: all }"
	if l := c.edge.Reload(t, c.config()); l.Msg() != "config reloaded" {
		t.Fatalf("reload: %v", l)
	}
	c.media["media02"].WaitStat(t, "reloaded live on media02 after to: all", hasPublisher("reloaded"), 20*time.Second)

	n := harness.StartNginx(t, harness.NginxOptions{Name: "media04", RTMPAddr: harness.FreeAddr(t), HTTPAddr: harness.FreeAddr(t)})
	c.media["media04"], c.names, c.weights["media04"] = n, append(c.names, "media04"), 10
	if l := c.edge.Reload(t, c.config()); l.Msg() != "config reloaded" {
		t.Fatalf("reload: %v", l)
	}
	n.WaitStat(t, "reloaded live on media04, added by the reload", hasPublisher("reloaded"), 30*time.Second)

	c.replicate = "{ to: [media02, media04] }"
	if l := c.edge.Reload(t, c.config()); l.Msg() != "config reloaded" {
		t.Fatalf("reload: %v", l)
	}
	c.media["media01"].WaitStat(t, "reloaded gone from media01, no longer a target", noPublisher("reloaded"), 20*time.Second)
	c.checkAPIReplicas(t, "reloaded", map[string]string{"media01": "ended", "media02": "live", "media04": "live"})
	c.publisherAlive(t, ip, ffmpeg, "after three reloads")
}

// A target in maint gets no replica; made ready through the admin API, it
// joins the live replicated publish at once.
func TestReplicateJoinsAServerMadeReady(t *testing.T) {
	t.Parallel()
	c := startReplCluster(t, "{ to: all }")
	if err := c.edge.Admin().SetServer("media", "media02", harness.State("maint")); err != nil {
		t.Fatal(err)
	}
	src := harness.MakeTestStream(t, 4)
	ip := harness.ClientIP(blockReplReady, 1)
	ffmpeg, _ := c.publish(t, ip, "ready", src)
	c.media["media01"].WaitStat(t, "ready live on media01", hasPublisher("ready"), 20*time.Second)
	c.checkAPIReplicas(t, "ready", map[string]string{"media01": "live"})
	if st := c.media["media02"].Stat(t); len(st.Stream("ready").Publishers) != 0 {
		t.Fatalf("media02 is in maint but got a replica: %v", st)
	}
	if err := c.edge.Admin().SetServer("media", "media02", harness.State("ready")); err != nil {
		t.Fatal(err)
	}
	c.media["media02"].WaitStat(t, "ready live on media02 once ready", hasPublisher("ready"), 20*time.Second)
	c.checkAPIReplicas(t, "ready", map[string]string{"media01": "live", "media02": "live"})
	c.publisherAlive(t, ip, ffmpeg, "media02 made ready")
}
