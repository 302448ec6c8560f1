package integration

import (
	"context"
	"fmt"
	"net"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/rtmp-edge/rtmp-edge/integration/harness"
)

// TestReloadAddsServerKeepsSessions: 1 ffmpeg publisher and 20 Go players
// stream through the edge. A SIGHUP with a config that adds a fourth media
// server (media04) and lowers media01's weight from 10 to 2 is applied: every
// player keeps receiving media across it, /api/v1/backends lists media04 and
// the new weight, and new players follow the new weights, media04 included, as
// media04's own /stat confirms. Then a SIGHUP with a broken file (an unknown
// key and an out-of-range weight) is refused with both errors logged, nobody
// is cut, and the edge keeps running the previous config.
func TestReloadAddsServerKeepsSessions(t *testing.T) {
	t.Parallel()
	c := startCluster(t, clusterOptions{})
	flv := harness.MakeTestStream(t, 4)
	published := harness.MustFrameMD5(t, flv)
	harness.Publish(t, url("rtmp", c.rtmp, "reload"), flv)
	c.waitMirrored(t, "reload")

	var players []*harness.Player
	for i := 1; i <= 20; i++ {
		players = append(players, harness.StartPlayer(t, harness.PlayerOptions{Addr: c.rtmp, LocalIP: harness.ClientIP(100, i), Stream: "reload"}))
	}
	if err := harness.WaitAllGrown(harness.MarkAll(players), 25, 30*time.Second); err != nil {
		t.Fatalf("before the reload: %v", err)
	}

	// media03 cannot be told to push to a new server without restarting it
	// (which would cut the test's own publisher), so media04 gets the stream
	// from a second publisher of the same file, straight to it: the replication
	// an operator would set up before adding the server.
	m4 := c.addMedia(t, "media04", 10)
	c.pushTo = append(c.pushTo, "media04") // and says so: media03's streams are live there (replicates_to)
	harness.Publish(t, "rtmp://"+m4.Opts.RTMPAddr+"/live/reload", flv)
	m4.WaitStat(t, "publisher of reload", hasPublisher("reload"), 20*time.Second)
	c.weights["media01"] = 2

	marks := harness.MarkAll(players)
	line := c.edge.Reload(t, c.config())
	if line.Msg() != "config reloaded" {
		t.Fatalf("reload adding media04: edge answered %q: %v", line.Msg(), line)
	}
	changes := line.Str("changes")
	t.Logf("config reloaded: changes %q", changes)
	for _, want := range []string{"media04", "media01"} {
		if !strings.Contains(changes, want) {
			t.Errorf("config reloaded line: changes %q does not mention %s", changes, want)
		}
	}
	// 50 packets of each codec is two seconds of the stream: a player cut or
	// stalled by the reload cannot get them.
	if err := harness.WaitAllGrown(marks, 50, 30*time.Second); err != nil {
		t.Fatalf("a session did not survive the reload: %v", err)
	}
	for _, p := range players {
		if err := p.Packets().CheckSubsetOf(published, 20); err != nil {
			t.Errorf("player %s after the reload: %v", p.LocalAddr(), err)
		}
	}

	api := c.edge.Admin()
	waitAPIServer(t, api, "media04", func(s harness.APIServer) bool { return s.Up }, "up")
	b, err := api.Backend("media")
	if err != nil {
		t.Fatal(err)
	}
	if s, ok := b.Server("media04"); !ok || s.Weight != 10 || s.Address != m4.Opts.RTMPAddr || s.State != "ready" {
		t.Errorf("/api/v1/backends after the reload: media04 = %+v (listed %v), want weight 10 at %s, ready", s, ok, m4.Opts.RTMPAddr)
	}
	if s, _ := b.Server("media01"); s.Weight != 2 {
		t.Errorf("/api/v1/backends after the reload: media01 weight %d, want 2", s.Weight)
	}

	// 30 new players from fresh addresses (nothing stuck): with weights
	// 2/10/8/10, smooth weighted round robin hands out 30 consecutive picks
	// within a pick or two of 2/10/8/10 whatever state it was in, so media04
	// gets at least 6 and media01 at most 5. With the reload's servers ignored
	// media04 gets none; with the old weight media01 gets about 8.
	var fresh []*harness.Player
	got := map[string]int{}
	for i := 1; i <= 30; i++ {
		p := harness.StartPlayer(t, harness.PlayerOptions{Addr: c.rtmp, LocalIP: harness.ClientIP(101, i), Stream: "reload"})
		fresh = append(fresh, p)
		got[c.edge.WaitSessionStart(t, p.LocalAddr(), 15*time.Second).Str("server")]++
	}
	t.Logf("new players per server after the reload: %v", got)
	if got["media04"] < 6 || got["media01"] > 5 {
		t.Errorf("new players per server %v: want media04 >= 6 (weight 10 of 30) and media01 <= 5 (weight 2 of 30)", got)
	}
	onM4 := m4.WaitStat(t, fmt.Sprintf("%d players of reload", got["media04"]), func(s *harness.Stat) bool {
		return len(s.Stream("reload").Players) == got["media04"]
	}, 15*time.Second)
	t.Logf("media04 /stat: %s", onM4)
	if err := harness.WaitAllGrown(harness.MarkAll(fresh), 10, 30*time.Second); err != nil {
		t.Fatalf("new players after the reload: %v", err)
	}

	// A broken file: an unknown key and a weight out of 0..256. The edge must
	// refuse it whole, say both, and keep media04 and media01's weight 2.
	all := append(append([]*harness.Player(nil), players...), fresh...)
	marks = harness.MarkAll(all)
	broken := brokenConfig(t, c.config())
	line = c.edge.Reload(t, broken)
	if line.Msg() != "config reload failed" {
		t.Fatalf("reload of a broken file: edge answered %q: %v", line.Msg(), line)
	}
	errs := fmt.Sprint(line["errors"])
	t.Logf("config reload failed: errors %s", errs)
	for _, want := range []string{"queue_timout", "999"} {
		if !strings.Contains(errs, want) {
			t.Errorf("config reload failed line: errors %s do not mention %q (every error must be logged)", errs, want)
		}
	}
	if err := harness.WaitAllGrown(marks, 25, 30*time.Second); err != nil {
		t.Fatalf("a session did not survive the refused reload: %v", err)
	}
	b, err = api.Backend("media")
	if err != nil {
		t.Fatal(err)
	}
	s1, _ := b.Server("media01")
	s2, _ := b.Server("media02")
	if _, ok := b.Server("media04"); !ok || s1.Weight != 2 || s2.Weight != 10 {
		t.Errorf("after the refused reload /api/v1/backends shows media04 listed %v, media01 weight %d, media02 weight %d; want the previous config: listed, 2, 10", ok, s1.Weight, s2.Weight)
	}
	late := harness.StartPlayer(t, harness.PlayerOptions{Addr: c.rtmp, LocalIP: harness.ClientIP(101, 31), Stream: "reload"})
	if err := late.WaitPackets(10, 20*time.Second); err != nil {
		t.Errorf("a new player after the refused reload: %v", err)
	}

	m, err := c.edge.Scrape()
	if err != nil {
		t.Fatal(err)
	}
	for result, want := range map[string]float64{"ok": 1, "failed": 1} {
		if v, found := m.Sum("rtmp_edge_reloads_total", map[string]string{"result": result}); v != want {
			t.Errorf("rtmp_edge_reloads_total{result=%q} = %v (found %v), want %v", result, v, found, want)
		}
	}
}

// brokenConfig is cfg with an unknown key in the backend and media02's weight
// set to 999, two errors an operator would make.
func brokenConfig(t *testing.T, cfg string) string {
	t.Helper()
	out := strings.Replace(cfg, "    queue_timeout: 5s\n", "    queue_timeout: 5s\n    queue_timout: 5s\n", 1)
	var lines []string
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, "name: media02,") {
			l = strings.Replace(l, "weight: 10,", "weight: 999,", 1)
		}
		lines = append(lines, l)
	}
	out = strings.Join(lines, "\n")
	if !strings.Contains(out, "queue_timout") || !strings.Contains(out, "weight: 999") {
		t.Fatalf("could not break the config:\n%s", cfg)
	}
	return out
}

// waitAPIServer polls /api/v1/backends until server of backend "media"
// satisfies ok (10 s bound).
func waitAPIServer(t *testing.T, api *harness.Admin, server string, ok func(harness.APIServer) bool, what string) harness.APIServer {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, err := api.Backend("media")
		if err == nil {
			if s, listed := b.Server(server); listed && ok(s) {
				return s
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("/api/v1/backends: %s not %s within 10s; last: %+v (error %v)", server, what, b, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestReloadListeners: a SIGHUP that adds a listener opens it (a player
// plays through it), one that removes it closes it, and the listener whose
// address did not change keeps its socket: the same socket (inode) listens
// after both reloads, and dialled all along it never refuses a connection.
func TestReloadListeners(t *testing.T) {
	t.Parallel()
	c := startCluster(t, clusterOptions{servers: 1})
	inode := listenerInode(t, c.rtmp)

	stop := make(chan struct{})
	refused := make(chan error, 1)
	var dials int
	go func() {
		defer close(refused)
		for {
			select {
			case <-stop:
				return
			default:
			}
			conn, err := net.DialTimeout("tcp", c.rtmp, 2*time.Second)
			if err != nil {
				refused <- err
				return
			}
			conn.Close()
			dials++
			time.Sleep(2 * time.Millisecond)
		}
	}()

	c.mixed = harness.FreeAddr(t)
	if line := c.edge.Reload(t, c.config()); line.Msg() != "config reloaded" {
		t.Fatalf("reload adding listener mixed: %v", line)
	}
	if err := harness.WaitAccept(c.mixed, 10*time.Second); err != nil {
		t.Fatalf("the listener added by the reload: %v", err)
	}
	p := harness.StartPlayer(t, harness.PlayerOptions{Addr: c.mixed, LocalIP: harness.ClientIP(101, 100), Stream: "idle"})
	if l := c.edge.WaitSessionStart(t, p.LocalAddr(), 15*time.Second); l.Str("listener") != "mixed" {
		t.Errorf("a session through the new listener says listener %q, want mixed", l.Str("listener"))
	}
	p.Close()

	removed := c.mixed
	c.mixed = ""
	if line := c.edge.Reload(t, c.config()); line.Msg() != "config reloaded" {
		t.Fatalf("reload removing listener mixed: %v", line)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		conn, err := net.DialTimeout("tcp", removed, time.Second)
		if err != nil {
			break
		}
		conn.Close()
		if time.Now().After(deadline) {
			t.Fatalf("%s still accepts 10s after the reload that removed its listener", removed)
		}
		time.Sleep(50 * time.Millisecond)
	}

	close(stop)
	if err, ok := <-refused; ok && err != nil {
		t.Errorf("the unchanged listener %s refused a connection across the reloads (after %d dials): %v", c.rtmp, dials, err)
	}
	t.Logf("%d dials to the unchanged listener across two reloads", dials)
	if now := listenerInode(t, c.rtmp); now != inode {
		t.Errorf("the unchanged listener %s is a new socket after the reloads (inode %s, was %s)", c.rtmp, now, inode)
	}
}

// listenerInode is the inode of the socket listening on addr, as ss shows it:
// the identity of the socket, which a reopened listener does not keep.
func listenerInode(t *testing.T, addr string) string {
	t.Helper()
	harness.RequireTool(t, "ss")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := harness.RunTool(ctx, "ss", "-Htlne", "src", addr)
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`\bino:(\d+)`).FindAllStringSubmatch(string(out), -1)
	if len(m) != 1 {
		t.Fatalf("ss: want one listening socket on %s, got:\n%s", addr, out)
	}
	return m[0][1]
}
