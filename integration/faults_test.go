package integration

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rtmp-edge/rtmp-edge/integration/harness"
)

// Address blocks of the fault tests (ClientIP(block, n)); other tests own
// other blocks, so that stick entries never cross tests.
const (
	blockFaultKill    = 150
	blockFaultStop    = 151
	blockFaultRefuse  = 152
	blockExactBytes   = 154
	blockExactBytesT  = 155
	blockFaultKillNew = 156
)

// faultOptions shapes the edge and media servers of one fault test.
type faultOptions struct {
	servers  int    // nginx media servers, media01..; default 2
	interval string // check interval; default 500ms
	fall     int    // failed checks before "server down"; default 2
	backend  string // extra backend lines, e.g. "stall_timeout: 2s"
	listener string // extra keys of the rtmp listener's flow map, e.g. ", inspect_time: 3s"
	rtmpt    string // rtmpt listener's rtmpt: block, e.g. "{ idle_timeout: 3s }"; "" = no rtmpt listener
	nginx    harness.NginxExtra
	check    string // check type; default rtmp
	// upload makes media01 the upload server (publishers go there) that
	// pushes every stream to the others, as in the seed set-up: players get
	// the stream wherever round robin sends them.
	upload bool
}

// faultCluster is nginx-rtmp media servers on loopback and rtmp-edge in
// front: a plain round-robin backend (no upload server, so that each test
// decides where its streams live), stick on source IP.
type faultCluster struct {
	media map[string]*harness.Nginx
	names []string
	edge  *harness.Edge
	rtmp  string
	rtmpt string
	opts  faultOptions
}

func startFaultCluster(t *testing.T, o faultOptions) *faultCluster {
	t.Helper()
	if o.servers == 0 {
		o.servers = 2
	}
	if o.interval == "" {
		o.interval = "500ms"
	}
	if o.fall == 0 {
		o.fall = 2
	}
	if o.check == "" {
		o.check = "{ type: rtmp, app: live"
	} else {
		o.check = "{ type: " + o.check
	}
	c := &faultCluster{media: map[string]*harness.Nginx{}, rtmp: harness.FreeAddr(t), opts: o}
	var push []string
	for i := o.servers; i >= 1; i-- { // media01 last: it pushes to the others
		name := fmt.Sprintf("media%02d", i)
		c.names = append([]string{name}, c.names...)
		no := harness.NginxOptions{Name: name, RTMPAddr: harness.FreeAddr(t), HTTPAddr: harness.FreeAddr(t)}
		if o.upload && i == 1 {
			no.Push = push
		}
		c.media[name] = harness.StartNginxExtra(t, no, o.nginx)
		push = append(push, "rtmp://"+no.RTMPAddr+"/live")
	}
	var cfg strings.Builder
	fmt.Fprintf(&cfg, "admin:\n  address: %q\nlisteners:\n", harness.FreeAddr(t))
	fmt.Fprintf(&cfg, "  - { name: rtmp, address: %q, protocols: [rtmp], maxconn: 600, backend: media, handshake_timeout: 5s%s }\n", c.rtmp, o.listener)
	if o.rtmpt != "" {
		c.rtmpt = harness.FreeAddr(t)
		fmt.Fprintf(&cfg, "  - { name: rtmpt, address: %q, protocols: [rtmpt], maxconn: 600, backend: media, handshake_timeout: 5s, rtmpt: %s }\n", c.rtmpt, o.rtmpt)
	}
	fmt.Fprintf(&cfg, `backends:
  - name: media
    balance: roundrobin
    stick: { size: 1000, expire: 20m }
    check: %s, interval: %s, rise: 2, fall: %d, timeout: 1s }
    retries: 3
    queue_timeout: 5s
    connect_timeout: 2s
    handshake_timeout: 3s
    idle_timeout: 60s
`, o.check, o.interval, o.fall)
	for _, l := range strings.Split(strings.TrimSpace(o.backend), "\n") {
		if l != "" {
			fmt.Fprintf(&cfg, "    %s\n", strings.TrimSpace(l))
		}
	}
	cfg.WriteString("    servers:\n")
	for _, name := range c.names {
		upload := ""
		if o.upload && name == "media01" {
			upload = ", upload: true"
		}
		fmt.Fprintf(&cfg, "      - { name: %s, address: %q, weight: 10, maxconn: 200%s }\n", name, c.media[name].Opts.RTMPAddr, upload)
	}
	c.edge = harness.StartEdge(t, cfg.String())
	c.edge.WaitServersUp(t, "media", c.names, 20*time.Second)
	return c
}

// publishFrom starts ffmpeg publishing flv to stream on the edge's RTMP
// listener from source address ip: ffmpeg cannot bind a source address, so
// it goes through a counting proxy that dials the edge from ip (the edge's
// stick table and logs then see ip).
func (c *faultCluster) publishFrom(t *testing.T, ip, stream, flv string) (*harness.Proc, *harness.CountingProxy) {
	t.Helper()
	proxy := harness.StartCountingProxy(t, c.rtmp, ip)
	return harness.Publish(t, url("rtmp", proxy.Addr, stream), flv), proxy
}

// serverOfSession waits for the "session start" line of a session of stream
// from ip and returns its server.
func (c *faultCluster) serverOfSession(t *testing.T, ip, stream string) string {
	t.Helper()
	l := c.edge.WaitLog(t, func(l harness.LogLine) bool {
		return l.Msg() == "session start" && l.ClientIP() == ip && l.Str("stream") == stream
	}, 20*time.Second)
	return l.Str("server")
}

// other is a server of the cluster that is not name.
func (c *faultCluster) other(name string) string {
	for _, n := range c.names {
		if n != name {
			return n
		}
	}
	return ""
}

// TestFaultKill: the upload server (media01, which pushes every stream to
// media02) is killed (SIGKILL) while a publisher and players stream through
// it. Its sessions end (each client sees its connection close, the edge logs
// the dead server and why), a player on media02 stays connected, the checks
// mark media01 down within about fall × interval, and new sessions started
// right after the kill, some of which round robin still sends to the dead
// server, are retried on media02: every client gets its Play.Start, none sees
// an error.
func TestFaultKill(t *testing.T) {
	t.Parallel()
	// fall 4 × 1 s: the window in which the dead server still looks up is a few
	// seconds wide, so that the new sessions below do meet it.
	c := startFaultCluster(t, faultOptions{interval: "1s", fall: 4, upload: true})
	const victim, survivor = "media01", "media02"
	flv := harness.MakeTestStream(t, 4)
	pubIP := harness.ClientIP(blockFaultKill, 1)
	pub, _ := c.publishFrom(t, pubIP, "kill1", flv)
	if got := c.serverOfSession(t, pubIP, "kill1"); got != victim {
		t.Fatalf("publisher on %s, want the upload server %s", got, victim)
	}
	for _, n := range c.media {
		n.WaitStat(t, "publisher of kill1", hasPublisher("kill1"), 20*time.Second)
	}
	onVictim, onSurvivor := c.startPlayers(t, blockFaultKill, 2, 4, "kill1")
	if len(onVictim) == 0 {
		t.Fatalf("no player on %s: nothing to kill under", victim)
	}
	dialFailsBefore, err := c.edge.MetricSum("rtmp_edge_dial_failures_total", map[string]string{"server": victim})
	if err != nil {
		t.Fatal(err)
	}
	mark := c.edge.LogMark()

	killed := time.Now()
	c.media[victim].Stop()

	// New sessions at once, from fresh addresses, of a stream that is live
	// nowhere any more: round robin alone picks their server, and the edge
	// must hide the dead one from them.
	const fresh = 10
	var wg sync.WaitGroup
	newErrs := make([]error, fresh)
	newAddrs := make([]string, fresh)
	for i := range fresh {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			p, err := harness.Play(ctx, harness.PlayerOptions{Addr: c.rtmp, LocalIP: harness.ClientIP(blockFaultKillNew, i+1), Stream: fmt.Sprintf("nolive%d", i)})
			if err != nil {
				newErrs[i] = err
				return
			}
			newAddrs[i] = p.LocalAddr()
			t.Cleanup(p.Close)
		}()
	}
	wg.Wait()
	for i, err := range newErrs {
		if err != nil {
			t.Errorf("new session %d after the kill: the client saw %v", i, err)
		}
	}

	c.edge.WaitLogSince(t, mark, func(l harness.LogLine) bool {
		return l.Msg() == "server down" && l.Str("server") == victim
	}, 30*time.Second)
	t.Logf("%s marked down %s after SIGKILL (check interval 1s, fall 4, timeout 1s)", victim, time.Since(killed).Round(100*time.Millisecond))

	// The dead server's sessions ended: the clients' connections closed, and
	// the edge logged each with the dead server. The Go player keeps its
	// socket open after the EOF (as a player waiting for more media does), so
	// its session ends by the relay's server-close linger, "server closed",
	// and not later by the stall cut ("server down": stall_timeout of silence
	// once the checks mark the server down) nor by the idle timeout.
	for _, p := range onVictim {
		select {
		case <-p.Done():
		case <-time.After(20 * time.Second):
			t.Fatalf("player %s still connected 20 s after its media server was killed", p.LocalAddr())
		}
		s := c.edge.WaitSession(t, p.LocalAddr(), 20*time.Second)
		if s.Server != victim || s.End != "server closed" {
			t.Errorf("session of player %s: server %q end %q; want %s and \"server closed\"", p.LocalAddr(), s.Server, s.End, victim)
		}
		t.Logf("player %s on %s: end %q, logged %s after the kill", p.LocalAddr(), victim, s.End, sinceLine(c.edge, "session end", p.LocalAddr(), killed))
	}
	if err := pub.Wait(20 * time.Second); errors.Is(err, harness.ErrProcTimeout) {
		t.Errorf("ffmpeg publisher still running 20 s after its media server was killed")
	}
	pubLine := c.edge.WaitLog(t, func(l harness.LogLine) bool {
		return l.Msg() == "session end" && l.ClientIP() == pubIP && l.Str("stream") == "kill1"
	}, 20*time.Second)
	if pubLine.Str("server") != victim || pubLine.Str("end") == "client closed" {
		t.Errorf("publisher's session line: server %q end %q", pubLine.Str("server"), pubLine.Str("end"))
	}
	t.Logf("publisher on %s: end %q, logged %s after the kill", victim, pubLine.Str("end"), sinceLine(c.edge, "session end", pubLine.Str("client"), killed))
	for _, p := range onSurvivor {
		if p.Err() != nil {
			t.Errorf("player %s on %s ended with %s: %v", p.LocalAddr(), survivor, victim, p.Err())
		}
	}

	// The new sessions all landed on the survivor, and some of them met the
	// dead server first and were retried: the edge logged each failed try
	// and counted it.
	for i, addr := range newAddrs {
		if addr == "" {
			continue
		}
		l := c.edge.WaitSessionStart(t, addr, 20*time.Second)
		if l.Str("server") != survivor {
			t.Errorf("new session %d (%s) went to %q, want %s", i, addr, l.Str("server"), survivor)
		}
	}
	retried := 0
	for _, l := range c.edge.Logs()[mark:] {
		if l.Msg() == "media server failed, trying another" && l.Str("server") == victim {
			retried++
		}
	}
	dialFailsAfter, err := c.edge.MetricSum("rtmp_edge_dial_failures_total", map[string]string{"server": victim})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d of %d new sessions were retried away from %s (dial failures counted: %v)", retried, fresh, victim, dialFailsAfter-dialFailsBefore)
	if retried == 0 || dialFailsAfter-dialFailsBefore < float64(retried) {
		t.Errorf("no new session met the dead server (%d retries logged, %v counted): the retry path was not exercised", retried, dialFailsAfter-dialFailsBefore)
	}
}

// startPlayers starts Go players ClientIP(block, from..to) of stream, waits
// until each receives media, and sorts them by the server their session
// start line names: media01 or another.
func (c *faultCluster) startPlayers(t *testing.T, block, from, to int, stream string) (onMedia01, onOthers []*harness.Player) {
	t.Helper()
	for i := from; i <= to; i++ {
		p := harness.StartPlayer(t, harness.PlayerOptions{Addr: c.rtmp, LocalIP: harness.ClientIP(block, i), Stream: stream})
		if err := p.WaitPackets(10, 20*time.Second); err != nil {
			t.Fatalf("player %s: %v", p.LocalAddr(), err)
		}
		if c.edge.WaitSessionStart(t, p.LocalAddr(), 10*time.Second).Str("server") == "media01" {
			onMedia01 = append(onMedia01, p)
		} else {
			onOthers = append(onOthers, p)
		}
	}
	return onMedia01, onOthers
}

// TestFaultStop: the upload server (media01) is frozen (SIGSTOP): its
// sockets stay open, nothing answers. Once its checks mark it down, each of
// its sessions that received nothing for stall_timeout is ended by the edge
// (end "server down"), long before the 60 s idle timeout would end it; a
// player on media02, which is up (its stream stopped with the push), is left
// alone.
func TestFaultStop(t *testing.T) {
	t.Parallel()
	c := startFaultCluster(t, faultOptions{interval: "500ms", fall: 2, backend: "stall_timeout: 2s", upload: true})
	const victim = "media01"
	flv := harness.MakeTestStream(t, 4)
	pubIP := harness.ClientIP(blockFaultStop, 1)
	c.publishFrom(t, pubIP, "stop1", flv)
	for _, n := range c.media {
		n.WaitStat(t, "publisher of stop1", hasPublisher("stop1"), 20*time.Second)
	}
	onVictim, onOthers := c.startPlayers(t, blockFaultStop, 2, 5, "stop1")
	if len(onVictim) == 0 {
		t.Fatalf("no player on %s: nothing to freeze under", victim)
	}
	mark := c.edge.LogMark()
	frozen := time.Now()
	c.media[victim].Freeze(t)

	c.edge.WaitLogSince(t, mark, func(l harness.LogLine) bool {
		return l.Msg() == "server down" && l.Str("server") == victim
	}, 20*time.Second)
	t.Logf("%s marked down %s after SIGSTOP", victim, time.Since(frozen).Round(100*time.Millisecond))

	// Bound: checks (fall 2 × (500 ms + 1 s timeout)) + stall_timeout 2 s + the
	// 1 s sweep, with room for a loaded machine; well below idle_timeout 60 s,
	// which is what a player would wait without stall_timeout.
	const bound = 30 * time.Second
	for _, p := range onVictim {
		s := c.edge.WaitSession(t, p.LocalAddr(), bound)
		if s.End != "server down" || s.Server != victim {
			t.Errorf("player %s: session end %q on %q, want \"server down\" on %s", p.LocalAddr(), s.End, s.Server, victim)
		}
		select {
		case <-p.Done():
		case <-time.After(10 * time.Second):
			t.Errorf("player %s: the edge logged its end but its connection is still open", p.LocalAddr())
		}
	}
	t.Logf("%d players on %s ended %s after SIGSTOP (stall_timeout 2s)", len(onVictim), victim, time.Since(frozen).Round(100*time.Millisecond))
	time.Sleep(3 * time.Second) // a wrong cut of the healthy server's players would come with the others
	for _, p := range onOthers {
		if p.Err() != nil {
			t.Errorf("player %s on a healthy server was ended: %v", p.LocalAddr(), p.Err())
		}
	}
}

// TestFaultConnectRefused: a media server refuses the connect (nginx-rtmp's
// on_connect hook answers 403, or the application does not exist). nginx
// then closes the connection without an answer; the edge has already
// relayed the replayed connect, so it ends the session with a logged reason
// and does not try another server for it: one connection per client, one
// hook call per client, no dial failure counted, attempts 1.
func TestFaultConnectRefused(t *testing.T) {
	t.Parallel()
	var hookCalls atomic.Int64
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// nginx-rtmp posts the connect's fields as a form; only application
		// "live" is refused here, so that the other case meets nginx's own
		// refusal of an application it does not have.
		if r.FormValue("app") != "live" {
			return
		}
		hookCalls.Add(1)
		http.Error(w, "forbidden", http.StatusForbidden)
	}))
	t.Cleanup(hook.Close)
	c := startFaultCluster(t, faultOptions{nginx: harness.NginxExtra{Server: "on_connect " + hook.URL + "/connect;"},
		// A TCP check: an rtmp check's connect would be refused by the hook too.
		check: "tcp",
		// The connect-routed path: with route: command the edge answers the
		// connect itself and meets the refusal only at the replay after the
		// play (a rejected session, server_sync_error).
		backend: "route: connect"})

	cases := []struct {
		name, app string
		hook      bool // the refusal is the hook's
	}{
		{"on_connect 403", "live", true},
		{"no such application", "nosuchapp", false},
	}
	ip := 0
	for _, tc := range cases {
		t.Run(strings.ReplaceAll(tc.name, " ", "_"), func(t *testing.T) {
			const clients = 5
			hookBefore := hookCalls.Load()
			failsBefore, err := c.edge.MetricSum("rtmp_edge_dial_failures_total", nil)
			if err != nil {
				t.Fatal(err)
			}
			for range clients {
				ip++
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
				p, err := harness.Play(ctx, harness.PlayerOptions{Addr: c.rtmp, LocalIP: harness.ClientIP(blockFaultRefuse, ip), App: tc.app, Stream: "refused"})
				cancel()
				if err == nil {
					p.Close()
					t.Fatalf("client %d: play succeeded although the media server refuses the connect", ip)
				}
				t.Logf("client %d sees: %v", ip, err)
			}
			// Each client's session ends once, with the server's end.
			var ends []harness.LogLine
			deadline := time.Now().Add(20 * time.Second)
			for {
				ends = ends[:0]
				for _, l := range c.edge.Logs() {
					if (l.Msg() == "session end" || l.Msg() == "session rejected") && l.Str("app") == tc.app &&
						strings.HasPrefix(l.ClientIP(), fmt.Sprintf("127.0.%d.", blockFaultRefuse)) {
						ends = append(ends, l)
					}
				}
				if len(ends) >= clients || time.Now().After(deadline) {
					break
				}
				time.Sleep(200 * time.Millisecond)
			}
			for _, l := range ends {
				t.Logf("edge: %s: end %q reason %q attempts %s", l.Msg(), l.Str("end"), l.Str("reason"), l.Str("attempts"))
				if l.Msg() != "session end" || l.Str("attempts") != "1" || l.Str("end") == "" {
					t.Errorf("session of %s: %s with attempts %s, end %q; want a session end after one attempt, with a reason",
						l.Str("client"), l.Msg(), l.Str("attempts"), l.Str("end"))
				}
			}
			if len(ends) != clients {
				t.Errorf("%d session lines for %d refused clients: %v", len(ends), clients, ends)
			}
			t.Logf("edge lines: %v", ends)
			// No retry storm: nothing more reaches the media servers than the
			// one connect per client.
			time.Sleep(2 * time.Second) // a retry, if any, would come at once
			if tc.hook {
				if got := hookCalls.Load() - hookBefore; got != clients {
					t.Errorf("on_connect was called %d times for %d clients", got, clients)
				}
			} else {
				refusals := 0
				for _, name := range c.names {
					refusals += strings.Count(c.media[name].ErrorLog(), "application not found: '"+tc.app+"'")
				}
				if refusals != clients {
					t.Errorf("nginx refused %d connects to %q for %d clients", refusals, tc.app, clients)
				}
			}
			failsAfter, err := c.edge.MetricSum("rtmp_edge_dial_failures_total", nil)
			if err != nil {
				t.Fatal(err)
			}
			if failsAfter != failsBefore {
				t.Errorf("dial failures %v → %v: the edge retried a refused connect", failsBefore, failsAfter)
			}
		})
	}
	// nginx logged why it closed each connection.
	for _, name := range c.names {
		for _, l := range strings.Split(c.media[name].ErrorLog(), "\n") {
			if strings.Contains(l, "notify") || strings.Contains(l, "application not found") {
				t.Logf("%s: %s", name, l)
			}
		}
	}
}

// TestFaultTunnelVanishes: an RTMPT publisher and an RTMPT player (ffmpeg)
// are killed (SIGKILL): no /close is sent, their HTTP connections just stop.
// The tunnel sessions and their media-server sessions end within the RTMPT
// idle timeout: the edge logs both session ends, the admin API lists no
// session, the tunnel gauge is 0 and nginx's /stat shows neither client.
func TestFaultTunnelVanishes(t *testing.T) {
	t.Parallel()
	const idle = 3 * time.Second
	c := startFaultCluster(t, faultOptions{servers: 1, rtmpt: "{ idle_timeout: 3s }"})
	flv := harness.MakeTestStream(t, 4)
	pub := harness.Publish(t, url("rtmpt", c.rtmpt, "gone1"), flv)
	n := c.media["media01"]
	n.WaitStat(t, "publisher of gone1", hasPublisher("gone1"), 20*time.Second)
	play := harness.StartProc(t, "ffmpeg play over rtmpt", "ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "warning",
		"-i", url("rtmpt", c.rtmpt, "gone1"), "-c", "copy", "-f", "null", "-")
	n.WaitStat(t, "a player of gone1", func(s *harness.Stat) bool { return len(s.Stream("gone1").Players) == 1 }, 20*time.Second)
	waitAPISessions(t, c.edge, 2, 10*time.Second)

	mark := c.edge.LogMark()
	killed := time.Now()
	pub.Kill()
	play.Kill()

	// Bound: the idle timeout plus generous room; a session kept until the
	// 60 s relay idle timeout (or forever) fails it.
	const bound = idle + 15*time.Second
	for _, cmd := range []string{"publish", "play"} {
		l := c.edge.WaitLogSince(t, mark, func(l harness.LogLine) bool {
			return l.Msg() == "session end" && l.Str("proto") == "rtmpt" && l.Str("command") == cmd && l.Str("stream") == "gone1"
		}, bound)
		t.Logf("rtmpt %s session ended %s after SIGKILL: end %q", cmd, time.Since(killed).Round(100*time.Millisecond), l.Str("end"))
		// The tunnel's idle timeout ended it (the player's session may end
		// earlier, from the server's side, when the publisher's went away).
		if end := l.Str("end"); cmd == "publish" && end != "client idle" {
			t.Errorf("rtmpt publish session ended %q, want \"client idle\"", end)
		}
	}
	waitAPISessions(t, c.edge, 0, 5*time.Second)
	if v, err := c.edge.MetricSum("rtmp_edge_rtmpt_sessions", nil); err != nil || v != 0 {
		t.Errorf("rtmp_edge_rtmpt_sessions = %v (%v), want 0", v, err)
	}
	n.WaitStat(t, "no client of gone1", func(s *harness.Stat) bool {
		st := s.Stream("gone1")
		return len(st.Publishers) == 0 && len(st.Players) == 0
	}, 10*time.Second)
	// The slots are free: a new RTMPT publisher is served at once.
	harness.Publish(t, url("rtmpt", c.rtmpt, "gone2"), flv)
	n.WaitStat(t, "publisher of gone2", hasPublisher("gone2"), 20*time.Second)
}

// waitAPISessions waits until GET /api/v1/sessions lists exactly n sessions.
func waitAPISessions(t *testing.T, e *harness.Edge, n int, timeout time.Duration) []harness.APISession {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ss, err := e.Admin().Sessions()
		if err == nil && len(ss) == n {
			return ss
		}
		if time.Now().After(deadline) {
			t.Fatalf("admin API lists %d sessions (err %v), want %d: %+v", len(ss), err, n, ss)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// serverOfPlayer is the one media server whose /stat lists a player of stream.
func (c *faultCluster) serverOfPlayer(t *testing.T, stream string) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var found []string
		for name, n := range c.media {
			if len(n.Stat(t).Stream(stream).Players) > 0 {
				found = append(found, name)
			}
		}
		if len(found) == 1 {
			return found[0]
		}
		if time.Now().After(deadline) {
			t.Fatalf("players of %s found on %v, want exactly one server", stream, found)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// sinceLine is how long after t0 the edge logged msg for client, from the
// line's own timestamp (not from when the test looked), for the logs.
func sinceLine(e *harness.Edge, msg, client string, t0 time.Time) time.Duration {
	for _, l := range e.Logs() {
		if l.Msg() == msg && l.Str("client") == client {
			if ts, err := time.Parse(time.RFC3339Nano, l.Str("time")); err == nil {
				return ts.Sub(t0).Round(10 * time.Millisecond)
			}
		}
	}
	return -1
}
