package integration

import (
	"context"
	"fmt"
	"net"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rtmp-edge/rtmp-edge/integration/harness"
	"github.com/rtmp-edge/rtmp-edge/rtmpt"
)

// Client IP blocks of the upgrade tests (disjoint from the other tests').
const (
	blockUpgradeMove   = 160
	blockUpgradeBroken = 161
	blockUpgradeStay   = 162
	blockUpgradeTwice  = 163
)

// upgradeWait bounds the steps of an upgrade: the new process has 10 s to
// get ready, the old one exits once it holds nothing.
const upgradeWait = 20 * time.Second

// minShare is the share of the control player's packets an edge player must
// receive over the same window: a session cut at the upgrade receives
// nothing after it (the Go player's connection ends; ffmpeg stops reading),
// so over a window of several seconds after the upgrade it falls far short.
const minShare = 0.9

// upgradeCluster is an edge started from a binary file of the test's own (so
// that the test can replace it) in front of one nginx-rtmp that logs each
// connection's byte counts.
type upgradeCluster struct {
	bin   string
	media *harness.Nginx
	edge  *harness.Edge
	cfg   string // the edge's config, with %d for media01's weight
	rtmp  string
	rtmpt string
	tls   string
}

func startUpgradeCluster(t *testing.T) *upgradeCluster {
	t.Helper()
	c := &upgradeCluster{bin: harness.EdgeBinaryCopy(t), rtmp: harness.FreeAddr(t), rtmpt: harness.FreeAddr(t), tls: harness.FreeAddr(t)}
	c.media = harness.StartNginxExtra(t, harness.NginxOptions{Name: "media01", RTMPAddr: harness.FreeAddr(t), HTTPAddr: harness.FreeAddr(t)},
		harness.NginxExtra{AccessLog: true})
	dir := t.TempDir()
	cert, key := validCert(t, dir, "edge", "upgrade edge")
	c.cfg = fmt.Sprintf(`admin:
  address: %q
listeners:
  - { name: rtmp, address: %q, protocols: [rtmp], backend: media, handshake_timeout: 5s }
  - { name: rtmpt, address: %q, protocols: [rtmpt], backend: media, handshake_timeout: 5s, rtmpt: { idle_timeout: 3s } }
  - name: tls
    address: %q
    protocols: [rtmps]
    backend: media
    handshake_timeout: 5s
    tls: { cert: %q, key: %q }
backends:
  - name: media
    balance: roundrobin
    check: { type: rtmp, app: live, interval: 500ms, rise: 2, fall: 3, timeout: 1s }
    connect_timeout: 2s
    handshake_timeout: 3s
    idle_timeout: 60s
    servers:
      - { name: media01, address: %q, weight: %%d, maxconn: 200 }
`, harness.FreeAddr(t), c.rtmp, c.rtmpt, c.tls, cert, key, c.media.Opts.RTMPAddr)
	c.edge = harness.StartEdgeAt(t, c.bin, fmt.Sprintf(c.cfg, 10))
	c.edge.WaitServersUp(t, "media", []string{"media01"}, 20*time.Second)
	return c
}

// publish starts ffmpeg publishing flv (looped, real time) to stream through
// the edge from ip (through a counting proxy: ffmpeg cannot bind a source
// address), with flashVer fv so that nginx's access log names the
// connection. It returns once nginx lists the publisher.
func (c *upgradeCluster) publish(t *testing.T, ip, stream, fv, flv string) *harness.Proc {
	t.Helper()
	proxy := harness.StartCountingProxy(t, c.rtmp, ip)
	p := harness.StartProc(t, "ffmpeg publish "+stream, "ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "warning",
		"-re", "-stream_loop", "-1", "-i", flv, "-c", "copy", "-f", "flv", "-rtmp_flashver", fv, url("rtmp", proxy.Addr, stream))
	c.media.WaitStat(t, "publisher of "+stream, hasPublisher(stream), 30*time.Second)
	return p
}

// player starts a Go player of stream through the edge's plain RTMP
// listener from ip.
func (c *upgradeCluster) player(t *testing.T, ip, stream, fv string) *harness.Player {
	t.Helper()
	return harness.StartPlayer(t, harness.PlayerOptions{Addr: c.rtmp, LocalIP: ip, Stream: stream, FlashVer: fv})
}

// control is a Go player reading the media server directly: what a player
// gets over a window when nothing happens in between.
func (c *upgradeCluster) control(t *testing.T, ip, stream string) *harness.Player {
	t.Helper()
	return harness.StartPlayer(t, harness.PlayerOptions{Addr: c.media.Opts.RTMPAddr, LocalIP: ip, Stream: stream})
}

// upgradeResult is what one SIGUSR2 led to.
type upgradeResult struct {
	oldPid, newPid int
	moved, staying int
	handed         harness.LogLine
}

// upgrade replaces the binary file with a fresh copy of the build (renamed
// over it) and sends SIGUSR2 to pid; it returns once the old process logged
// the hand-over and the new one its take-over.
func (c *upgradeCluster) upgrade(t *testing.T, pid int) upgradeResult {
	t.Helper()
	harness.ReplaceWithBuild(t, c.bin)
	mark := c.edge.LogMark()
	harness.SignalPid(t, pid, syscall.SIGUSR2)
	handed := c.edge.WaitLogSince(t, mark, func(l harness.LogLine) bool {
		return l.Msg() == "upgrade: handed over to the new process" || strings.HasPrefix(l.Msg(), "upgrade failed")
	}, upgradeWait)
	if handed.Msg() != "upgrade: handed over to the new process" {
		t.Fatalf("upgrade of %d failed: %v", pid, handed)
	}
	r := upgradeResult{oldPid: pid, handed: handed}
	fmt.Sscan(handed.Str("pid"), &r.newPid)
	fmt.Sscan(handed.Str("sessions_moved"), &r.moved)
	fmt.Sscan(handed.Str("sessions_staying"), &r.staying)
	if r.newPid <= 0 || r.newPid == pid {
		t.Fatalf("hand-over line names new pid %q (old %d): %v", handed.Str("pid"), pid, handed)
	}
	took := c.edge.WaitLogSince(t, mark, func(l harness.LogLine) bool {
		return l.Msg() == "upgrade: took over from the old process" || l.Msg() == "upgrade: taking over sessions ended early"
	}, upgradeWait)
	if took.Msg() != "upgrade: took over from the old process" || took.Str("pid") != fmt.Sprint(r.newPid) || took.Str("sessions") != fmt.Sprint(r.moved) {
		t.Errorf("new process's line %v; want took over, pid %d, sessions %d", took, r.newPid, r.moved)
	}
	t.Logf("upgrade %d → %d: %s sockets, %d sessions moved, %d staying, took %s",
		pid, r.newPid, handed.Str("sockets"), r.moved, r.staying, handed.Str("took"))
	return r
}

// growth is how many media packets p received between two marks.
func growth(a, b harness.PacketMark) int { return (b.Video + b.Audio) - (a.Video + a.Audio) }

// checkShare fails the test for every player whose packets between before
// and after fall below minShare of the control's (the last mark).
func checkShare(t *testing.T, what string, before, after []harness.PacketMark) {
	t.Helper()
	ctrl := growth(before[len(before)-1], after[len(after)-1])
	if ctrl < 100 {
		t.Fatalf("%s: the control player received %d packets over the window; too few to judge (did the publisher's session end?)", what, ctrl)
	}
	for i := range before[:len(before)-1] {
		got := growth(before[i], after[i])
		if float64(got) < minShare*float64(ctrl) {
			t.Errorf("%s: player %s received %d packets, the control %d (%.0f%%, want ≥ %.0f%%); its error: %v",
				what, before[i].Player.LocalAddr(), got, ctrl, 100*float64(got)/float64(ctrl), 100*minShare, before[i].Player.Err())
		}
	}
}

// logGaps reports the longest pause between two packets each player saw.
func logGaps(t *testing.T, what string, gaps map[*harness.Player]time.Duration, players []*harness.Player) {
	t.Helper()
	var worst time.Duration
	var parts []string
	for _, p := range players {
		worst = max(worst, gaps[p])
		parts = append(parts, gaps[p].Round(time.Millisecond).String())
	}
	t.Logf("%s: longest gap between two packets: %s (per player, the control last: %s)", what, worst.Round(time.Millisecond), strings.Join(parts, " "))
}

// waitGone waits for pid to end within bound after since (the signal, or
// the moment the last sessions it kept were closed: from).
func waitGone(t *testing.T, pid int, bound time.Duration, since time.Time, from string) {
	t.Helper()
	at, err := harness.WaitPidGone(pid, bound-time.Since(since))
	if err != nil {
		t.Fatalf("the old edge: %v (bound %s from %s)", err, bound, from)
	}
	t.Logf("old process %d gone %s after %s", pid, at.Sub(since).Round(time.Millisecond), from)
}

// checkOwner fails unless the edge-side socket of the client at addr is held
// by pid alone.
func checkOwner(t *testing.T, addr string, pid int) {
	t.Helper()
	owners, err := harness.SocketOwners(addr)
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(owners)
	owners = slices.Compact(owners)
	if len(owners) != 1 || owners[0] != pid {
		t.Errorf("the edge socket of client %s is held by %v, want only %d", addr, owners, pid)
	}
}

// statIDs is nginx's client ids of stream: the publisher's and the players'.
func statIDs(st *harness.StreamStat) (pub []string, players []string) {
	for _, c := range st.Publishers {
		pub = append(pub, c.ID)
	}
	for _, c := range st.Players {
		players = append(players, c.ID)
	}
	sort.Strings(players)
	return pub, players
}

// TestUpgradeMovesLiveSessions: an ffmpeg publisher and ten players (six Go
// players, four ffmpeg) stream through the edge; the binary file is replaced
// by a fresh build (renamed over it) and SIGUSR2 sent. The old process exits
// within 10 s; each Go player receives at least 90 % of the packets a control
// player reading nginx directly receives over a window around the upgrade,
// and only packets of the published stream (a byte lost or doubled at the
// move breaks the chunk stream); each ffmpeg player gets at least 90 % of a
// control ffmpeg's packets over its whole run; nginx still lists the same
// client ids (no reconnect); no session ended; the players' sockets are held
// by the new process; a new client is served by it. Byte counts: after the
// publisher is killed and the counters stand still, each Go player's API
// counters equal its session end line's, which (as the publisher's) equal
// nginx's per-connection counts: nothing counted before the move is lost.
func TestUpgradeMovesLiveSessions(t *testing.T) {
	t.Parallel()
	c := startUpgradeCluster(t)
	flv := harness.MakeTestStream(t, 10)
	published := harness.MustFrameMD5(t, flv)
	ip := func(n int) string { return harness.ClientIP(blockUpgradeMove, n) }
	pubFV := "FMLE/3.0 (upg pub)"
	pub := c.publish(t, ip(1), "move", pubFV, flv)

	// Four ffmpeg players through counting proxies (distinct sources) and a
	// control ffmpeg straight to nginx, all for the same 24 s of media.
	const ffSecs = 24
	type ffResult struct {
		ps  harness.Packets
		err error
	}
	ffOut := make([]ffResult, 5)
	var ffWG sync.WaitGroup
	for i := range 5 {
		u, fv := url("rtmp", c.media.Opts.RTMPAddr, "move"), "LNX 9,0,124,2 upg ffctl"
		if i < 4 {
			proxy := harness.StartCountingProxy(t, c.rtmp, ip(10+i))
			u, fv = url("rtmp", proxy.Addr, "move"), fmt.Sprintf("LNX 9,0,124,2 upg ff%d", i)
		}
		ffWG.Add(1)
		go func() {
			defer ffWG.Done()
			ctx, cancel := context.WithTimeout(context.Background(), (ffSecs+40)*time.Second)
			defer cancel()
			ffOut[i].ps, ffOut[i].err = harness.FrameMD5(ctx, u, "-rw_timeout", "15000000", "-rtmp_flashver", fv, "-t", fmt.Sprint(ffSecs))
		}()
	}
	t.Cleanup(ffWG.Wait)

	var players []*harness.Player
	fvOf := map[*harness.Player]string{}
	for i := range 6 {
		fv := fmt.Sprintf("LNX 9,0,124,2 upg go%d", i)
		p := c.player(t, ip(20+i), "move", fv)
		players = append(players, p)
		fvOf[p] = fv
	}
	ctrl := c.control(t, ip(200), "move")
	all := append(append([]*harness.Player(nil), players...), ctrl)
	if err := harness.WaitAllGrown(harness.MarkAll(all), 20, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	before := waitAPISessions(t, c.edge, 11, 20*time.Second)
	beforeByClient := map[string]harness.APISession{}
	for _, s := range before {
		beforeByClient[harness.HostOf(s.Client)] = s
	}
	stBefore := c.media.Stat(t).Stream("move")
	pubIDs, playerIDs := statIDs(stBefore)
	if len(pubIDs) != 1 || len(playerIDs) != 12 {
		t.Fatalf("before the upgrade nginx lists publishers %v and %d players, want 1 and 12 (10 through the edge, the control Go player and ffmpeg): %v", pubIDs, len(playerIDs), stBefore)
	}

	gm := harness.MeasureGaps(all)
	mark := c.edge.LogMark()
	marks := harness.MarkAll(all)
	oldPid := c.edge.Proc.Pid()
	sent := time.Now()
	r := c.upgrade(t, oldPid)
	if r.moved != 11 || r.staying != 0 {
		t.Errorf("sessions moved %d, staying %d; want 11 and 0 (every session relays between two TCP sockets)", r.moved, r.staying)
	}
	waitGone(t, oldPid, 10*time.Second, sent, "the signal")
	// The window goes on for a while after the move, so that a session cut
	// by it misses seconds of packets.
	time.Sleep(time.Until(sent.Add(8 * time.Second)))
	after := harness.MarkAll(all)
	gaps := gm.Stop()
	logGaps(t, "upgrade with 11 sessions", gaps, all)
	checkShare(t, "across the upgrade", marks, after)
	for _, p := range players {
		if err := p.Packets().CheckSubsetOf(published, 1); err != nil {
			t.Errorf("player %s: %v", p.LocalAddr(), err)
		}
		checkOwner(t, p.LocalAddr(), r.newPid)
	}

	// nginx saw no reconnect: the same publisher id, the same player ids.
	stAfter := c.media.Stat(t).Stream("move")
	pubAfter, playersAfter := statIDs(stAfter)
	if !slices.Equal(pubIDs, pubAfter) {
		t.Errorf("nginx's publisher ids %v before the upgrade, %v after (a reconnect)", pubIDs, pubAfter)
	}
	if !slices.Equal(playerIDs, playersAfter) {
		t.Errorf("nginx's player ids %v before the upgrade, %v after", playerIDs, playersAfter)
	}
	for _, l := range c.edge.Logs()[mark:] {
		if l.Msg() == "session end" {
			t.Errorf("a session ended at the upgrade: %v", l)
		}
	}

	// A new client is served by the new process (the old one is gone) and
	// listed by the API it now serves.
	fresh := c.player(t, ip(50), "move", "LNX 9,0,124,2 upg fresh")
	if err := fresh.WaitPackets(20, 20*time.Second); err != nil {
		t.Fatalf("new player after the upgrade: %v", err)
	}
	checkOwner(t, fresh.LocalAddr(), r.newPid)
	if _, err := c.edge.Admin().SessionOf(fresh.LocalAddr()); err != nil {
		t.Error(err)
	}
	if code, body, err := c.edge.Healthz(); err != nil || code != 200 {
		t.Errorf("/healthz after the upgrade: %d %q %v", code, body, err)
	}
	fresh.Close()

	// The ffmpeg players ran across the upgrade.
	ffWG.Wait()
	ctl := ffOut[4]
	if ctl.err != nil {
		t.Fatalf("control ffmpeg: %v", ctl.err)
	}
	for i, o := range ffOut[:4] {
		if o.err != nil {
			t.Errorf("ffmpeg player %d: %v", i, o.err)
			continue
		}
		if float64(len(o.ps)) < minShare*float64(len(ctl.ps)) {
			t.Errorf("ffmpeg player %d received %d packets, the control ffmpeg %d", i, len(o.ps), len(ctl.ps))
		}
		if err := o.ps.CheckSubsetOf(published, 1); err != nil {
			t.Errorf("ffmpeg player %d: %v", i, err)
		}
	}

	// Bytes: the publisher is killed (no goodbye nginx could answer), the
	// players close once their counters stand still.
	pub.Kill()
	pubEnd := c.edge.WaitLog(t, func(l harness.LogLine) bool {
		return l.Msg() == "session end" && l.ClientIP() == ip(1)
	}, 30*time.Second)
	var live map[string]harness.APISession
	for attempt := 0; ; attempt++ {
		a := apiByID(t, c.edge)
		time.Sleep(1500 * time.Millisecond) // the live counters are at most 1 s behind
		b := apiByID(t, c.edge)
		if len(a) == len(players) && len(b) == len(players) && equalCounters(a, b) {
			live = b
			break
		}
		if attempt > 20 {
			t.Fatalf("players' counters still move or sessions missing: %d then %d sessions", len(a), len(b))
		}
	}
	ends := map[string]harness.Session{}
	for _, p := range players {
		addr := p.LocalAddr()
		p.Close()
		ends[fvOf[p]] = c.edge.WaitSession(t, addr, 20*time.Second)
	}
	for i := range 4 {
		s := c.edge.WaitLog(t, func(l harness.LogLine) bool { return l.Msg() == "session end" && l.ClientIP() == ip(10+i) }, 20*time.Second)
		if b := beforeByClient[ip(10+i)]; toInt(s.Str("bytes_out")) < b.BytesOut || toInt(s.Str("bytes_in")) < b.BytesIn {
			t.Errorf("ffmpeg player %d ended with bytes_in %s bytes_out %s, below its counts before the upgrade (%d, %d)",
				i, s.Str("bytes_in"), s.Str("bytes_out"), b.BytesIn, b.BytesOut)
		}
	}
	access := waitAccess(t, c.media, len(players)+5, 20*time.Second)
	if a, ok := access[pubFV]; !ok || toInt(pubEnd.Str("bytes_in")) != a.BytesReceived || toInt(pubEnd.Str("bytes_out")) != a.BytesSent {
		t.Errorf("publisher: edge bytes_in %s bytes_out %s, nginx received %d sent %d (logged %v)",
			pubEnd.Str("bytes_in"), pubEnd.Str("bytes_out"), a.BytesReceived, a.BytesSent, ok)
	}
	var sumOut int64
	for _, p := range players {
		fv := fvOf[p]
		s, a := ends[fv], access[fv]
		l := live[s.ID]
		sumOut += s.BytesOut
		if s.BytesIn != a.BytesReceived || s.BytesOut != a.BytesSent || l.BytesIn != s.BytesIn || l.BytesOut != s.BytesOut {
			t.Errorf("player %s (%s): API in %d out %d, session end in %d out %d, nginx received %d sent %d",
				p.LocalAddr(), fv, l.BytesIn, l.BytesOut, s.BytesIn, s.BytesOut, a.BytesReceived, a.BytesSent)
		}
	}
	t.Logf("byte counts of the publisher and the 6 Go players match nginx's; the players received %d bytes in all", sumOut)
}

func toInt(s string) int64 {
	var n int64
	fmt.Sscan(s, &n)
	return n
}

// waitAccess waits until nginx's access log has at least n entries of the
// test's clients (flashVer with "upg") and returns them by flashVer.
func waitAccess(t *testing.T, n *harness.Nginx, want int, timeout time.Duration) map[string]harness.AccessEntry {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		entries, err := n.AccessLog()
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]harness.AccessEntry{}
		for _, e := range entries {
			if strings.Contains(e.FlashVer, "upg") {
				out[e.FlashVer] = e
			}
		}
		if len(out) >= want || time.Now().After(deadline) {
			return out
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestUpgradeWithBrokenBinary: the binary file is replaced by a script that
// exits 1, SIGUSR2: the edge logs "upgrade failed", keeps its pid, its
// players keep receiving (at least 90 % of a control's packets over the
// window), no session ends, a new client is served by the same process, and
// /healthz stays 200. Putting a good binary back, the next SIGUSR2 upgrades:
// the failed attempt left nothing half done.
func TestUpgradeWithBrokenBinary(t *testing.T) {
	t.Parallel()
	c := startUpgradeCluster(t)
	flv := harness.MakeTestStream(t, 10)
	ip := func(n int) string { return harness.ClientIP(blockUpgradeBroken, n) }
	c.publish(t, ip(1), "broken", "FMLE/3.0 (upg bpub)", flv)
	var players []*harness.Player
	for i := range 3 {
		players = append(players, c.player(t, ip(10+i), "broken", fmt.Sprintf("LNX 9,0,124,2 upg b%d", i)))
	}
	all := append(append([]*harness.Player(nil), players...), c.control(t, ip(200), "broken"))
	if err := harness.WaitAllGrown(harness.MarkAll(all), 20, 30*time.Second); err != nil {
		t.Fatal(err)
	}

	harness.ReplaceFile(t, c.bin, []byte("#!/bin/sh\nexit 1\n"))
	pid := c.edge.Proc.Pid()
	mark := c.edge.LogMark()
	marks := harness.MarkAll(all)
	sent := harness.SignalPid(t, pid, syscall.SIGUSR2)
	failed := c.edge.WaitLogSince(t, mark, func(l harness.LogLine) bool {
		return strings.HasPrefix(l.Msg(), "upgrade failed") || l.Msg() == "upgrade: handed over to the new process"
	}, upgradeWait)
	if failed.Msg() != "upgrade failed: this process keeps serving everything" {
		t.Fatalf("after SIGUSR2 with a broken binary: %v", failed)
	}
	t.Logf("upgrade failed as it should: %s", failed.Str("err"))
	time.Sleep(time.Until(sent.Add(6 * time.Second)))
	if !harness.PidAlive(pid) {
		t.Fatalf("the edge (pid %d) is gone after a failed upgrade", pid)
	}
	checkShare(t, "across the failed upgrade", marks, harness.MarkAll(all))
	for _, l := range c.edge.Logs()[mark:] {
		if l.Msg() == "session end" || l.Msg() == "upgrade: this process holds nothing more; exiting" {
			t.Errorf("after the failed upgrade: %v", l)
		}
	}
	fresh := c.player(t, ip(50), "broken", "LNX 9,0,124,2 upg bfresh")
	if err := fresh.WaitPackets(20, 20*time.Second); err != nil {
		t.Fatalf("new player after the failed upgrade: %v", err)
	}
	checkOwner(t, fresh.LocalAddr(), pid)
	if _, err := c.edge.Admin().SessionOf(fresh.LocalAddr()); err != nil {
		t.Error(err)
	}
	if code, body, err := c.edge.Healthz(); err != nil || code != 200 {
		t.Errorf("/healthz after the failed upgrade: %d %q %v", code, body, err)
	}

	// A good binary again: the same process upgrades now.
	r := c.upgrade(t, pid)
	waitGone(t, pid, upgradeWait, time.Now(), "the hand-over")
	if err := harness.WaitAllGrown(harness.MarkAll(append(players, fresh)), 20, 20*time.Second); err != nil {
		t.Errorf("after the retried upgrade (moved %d): %v", r.moved, err)
	}
}

// TestUpgradeLeavesTLSAndRTMPTInOldProcess: an rtmps player and an RTMPT
// player cannot move (their state is in the old process's memory: TLS keys,
// the tunnel's queues); a plain RTMP player and the publisher can. After
// SIGUSR2 the old process reports at least 2 sessions staying, keeps both
// playing (their sockets still its own), and exits once they are closed;
// the plain player goes on in the new process.
func TestUpgradeLeavesTLSAndRTMPTInOldProcess(t *testing.T) {
	t.Parallel()
	c := startUpgradeCluster(t)
	flv := harness.MakeTestStream(t, 10)
	ip := func(n int) string { return harness.ClientIP(blockUpgradeStay, n) }
	c.publish(t, ip(1), "stay", "FMLE/3.0 (upg spub)", flv)
	tlsP := tlsPlayer(t, c.tls, ip(10), "stay")
	local := &net.TCPAddr{IP: net.ParseIP(ip(11))}
	tunnel := harness.StartPlayer(t, harness.PlayerOptions{
		Addr: c.rtmpt, Stream: "stay", TcURL: "rtmpt://" + c.rtmpt + "/live",
		Dial: func(ctx context.Context) (net.Conn, error) {
			return rtmpt.Dial(ctx, c.rtmpt, rtmpt.ClientOptions{LocalAddr: local, PollInterval: 20 * time.Millisecond})
		},
	})
	plain := c.player(t, ip(12), "stay", "LNX 9,0,124,2 upg splain")
	all := []*harness.Player{tlsP, tunnel, plain, c.control(t, ip(200), "stay")}
	if err := harness.WaitAllGrown(harness.MarkAll(all), 20, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	waitAPISessions(t, c.edge, 4, 20*time.Second)

	gm := harness.MeasureGaps(all)
	marks := harness.MarkAll(all)
	oldPid := c.edge.Proc.Pid()
	sent := time.Now()
	r := c.upgrade(t, oldPid)
	if r.staying < 2 {
		t.Errorf("sessions staying %d, want at least 2 (the rtmps and the RTMPT player)", r.staying)
	}
	time.Sleep(time.Until(sent.Add(8 * time.Second)))
	if !harness.PidAlive(oldPid) {
		t.Fatalf("the old process %d exited while an rtmps and an RTMPT player still play there", oldPid)
	}
	checkShare(t, "across the upgrade (rtmps, rtmpt, rtmp)", marks, harness.MarkAll(all))
	logGaps(t, "rtmps, rtmpt, rtmp players", gm.Stop(), all)
	checkOwner(t, tlsP.LocalAddr(), oldPid)
	checkOwner(t, plain.LocalAddr(), r.newPid)

	mark := c.edge.LogMark()
	tlsP.Close()
	tunnel.Close()
	closed := time.Now()
	// The tunnel's session ends by its /close, or at its 3 s idle timeout.
	waitGone(t, oldPid, 15*time.Second, closed, "closing its rtmps and RTMPT players")
	c.edge.WaitLogSince(t, mark, func(l harness.LogLine) bool {
		return l.Msg() == "upgrade: this process holds nothing more; exiting"
	}, 5*time.Second)
	for _, proto := range []string{"rtmps", "rtmpt"} {
		c.edge.WaitLogSince(t, mark, func(l harness.LogLine) bool {
			return l.Msg() == "session end" && l.Str("proto") == proto && l.Str("stream") == "stay"
		}, 5*time.Second)
	}
	if err := plain.WaitPackets(20, 20*time.Second); err != nil {
		t.Errorf("the plain player after the old process exited: %v", err)
	}
}

// TestUpgradeTwiceAndAfterReload: players keep playing across two upgrades
// in a row (the second SIGUSR2 goes to the new process) and across an
// upgrade sent right after a SIGHUP. An operator's weight set through the
// API survives both upgrades; the weight the reloaded file sets is the one
// the next process runs with.
func TestUpgradeTwiceAndAfterReload(t *testing.T) {
	t.Parallel()
	c := startUpgradeCluster(t)
	flv := harness.MakeTestStream(t, 10)
	ip := func(n int) string { return harness.ClientIP(blockUpgradeTwice, n) }
	c.publish(t, ip(1), "twice", "FMLE/3.0 (upg tpub)", flv)
	var players []*harness.Player
	for i := range 4 {
		players = append(players, c.player(t, ip(10+i), "twice", fmt.Sprintf("LNX 9,0,124,2 upg t%d", i)))
	}
	all := append(append([]*harness.Player(nil), players...), c.control(t, ip(200), "twice"))
	if err := harness.WaitAllGrown(harness.MarkAll(all), 20, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := c.edge.Admin().SetServer("media", "media01", harness.Weight(7)); err != nil {
		t.Fatal(err)
	}
	weight := func() int {
		t.Helper()
		b, err := c.edge.Admin().Backend("media")
		if err != nil {
			t.Fatal(err)
		}
		s, _ := b.Server("media01")
		return s.Weight
	}

	gm := harness.MeasureGaps(all)
	marks := harness.MarkAll(all)
	pid := c.edge.Proc.Pid()
	start := time.Now()
	for round := 1; round <= 2; round++ {
		sent := time.Now()
		r := c.upgrade(t, pid)
		waitGone(t, pid, 10*time.Second, sent, "the signal")
		if err := harness.WaitAllGrown(harness.MarkAll(all), 20, 20*time.Second); err != nil {
			t.Fatalf("after upgrade %d: %v", round, err)
		}
		if w := weight(); w != 7 {
			t.Errorf("after upgrade %d media01 has weight %d, want the operator's 7", round, w)
		}
		pid = r.newPid
	}

	// The file now says weight 5: SIGHUP, and SIGUSR2 right behind it.
	c.edge.WriteConfig(t, fmt.Sprintf(c.cfg, 5))
	mark := c.edge.LogMark()
	harness.SignalPid(t, pid, syscall.SIGHUP)
	sent := time.Now()
	r := c.upgrade(t, pid)
	waitGone(t, pid, 10*time.Second, sent, "the signal")
	reloaded := c.edge.WaitLogSince(t, mark, func(l harness.LogLine) bool {
		return l.Msg() == "config reloaded" || l.Msg() == "config reload failed"
	}, 10*time.Second)
	if reloaded.Msg() != "config reloaded" {
		t.Errorf("the reload before the upgrade: %v", reloaded)
	}
	time.Sleep(time.Until(sent.Add(6 * time.Second)))
	after := harness.MarkAll(all)
	checkShare(t, fmt.Sprintf("across three upgrades (%s)", time.Since(start).Round(time.Second)), marks, after)
	logGaps(t, "three upgrades, one right after a reload", gm.Stop(), all)
	if w := weight(); w != 5 {
		t.Errorf("after the reload and upgrade (to %d) media01 has weight %d, want the file's 5", r.newPid, w)
	}
}
