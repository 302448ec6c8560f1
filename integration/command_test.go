package integration

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rtmp-edge/rtmp-edge/edge/amf0"
	"github.com/rtmp-edge/rtmp-edge/edge/chunk"
	"github.com/rtmp-edge/rtmp-edge/integration/harness"
)

// Routing on the real publish/play (route: command) against real nginx-rtmp:
// the edge answers connect and the calls before publish/play itself, routes
// on the kind and the stream, replays the client's bytes to the chosen
// server and splices again.

// Address blocks of the command-routing tests (ClientIP(block, n)).
const (
	blockCmdShaped    = 170
	blockCmdFollow    = 171
	blockCmdFailover  = 172
	blockCmdNotLive   = 173
	blockCmdReplicas  = 174
	blockCmdEnhanced  = 175
	blockCmdTakeover  = 176
	blockCmdAuthmod   = 177
	blockCmdPublisher = 178 // the publishers of the tests above
	blockCmdStreamIDs = 179
	blockCmdRefused   = 180
)

// cmdOptions shapes one test's media servers and edge.
type cmdOptions struct {
	push     bool // media03 pushes every stream to media01 and media02 (nginx push), and says so (replicates_to)
	takeover bool // publisher_takeover: true
	rtmpt    bool // an RTMPT listener too
}

// cmdCluster is the seed's three media servers (weights 10/10/8, media03
// takes the uploads) behind an edge with route: command.
type cmdCluster struct {
	media map[string]*harness.Nginx
	edge  *harness.Edge
	rtmp  string
	rtmpt string
	admin string
}

func startCmdCluster(t *testing.T, o cmdOptions) *cmdCluster {
	t.Helper()
	c := &cmdCluster{media: map[string]*harness.Nginx{}, rtmp: harness.FreeAddr(t), admin: harness.FreeAddr(t)}
	var push []string
	for _, name := range []string{"media01", "media02"} {
		c.media[name] = harness.StartNginx(t, harness.NginxOptions{Name: name, RTMPAddr: harness.FreeAddr(t), HTTPAddr: harness.FreeAddr(t)})
		if o.push {
			push = append(push, "rtmp://"+c.media[name].Opts.RTMPAddr+"/live")
		}
	}
	c.media["media03"] = harness.StartNginx(t, harness.NginxOptions{Name: "media03", RTMPAddr: harness.FreeAddr(t), HTTPAddr: harness.FreeAddr(t), Push: push})
	var cfg strings.Builder
	fmt.Fprintf(&cfg, "admin:\n  address: %q\nlisteners:\n", c.admin)
	fmt.Fprintf(&cfg, "  - { name: rtmp, address: %q, protocols: [rtmp], maxconn: 600, backend: media }\n", c.rtmp)
	if o.rtmpt {
		c.rtmpt = harness.FreeAddr(t)
		fmt.Fprintf(&cfg, "  - { name: rtmpt, address: %q, protocols: [rtmpt], maxconn: 600, backend: media }\n", c.rtmpt)
	}
	fmt.Fprintf(&cfg, `backends:
  - name: media
    route: command
    publisher_takeover: %v
    balance: roundrobin
    stick: { size: 200000, expire: 20m }
    check: { type: rtmp, interval: 300ms, rise: 2, fall: 3, timeout: 3s, app: live }
    retries: 3
    connect_timeout: 2s
    servers:
`, o.takeover)
	replicas := ""
	if o.push {
		replicas = ", replicates_to: [media01, media02]"
	}
	for _, s := range []struct {
		name  string
		extra string
	}{{"media01", ""}, {"media02", ""}, {"media03", ", upload: true" + replicas}} {
		w := map[string]int{"media01": 10, "media02": 10, "media03": 8}[s.name]
		fmt.Fprintf(&cfg, "      - { name: %s, address: %q, weight: %d, maxconn: 200%s }\n", s.name, c.media[s.name].Opts.RTMPAddr, w, s.extra)
	}
	c.edge = harness.StartEdge(t, cfg.String())
	c.edge.WaitServersUp(t, "media", serverNames, 15*time.Second)
	// The answers are shaped like the servers' own once a check has taught
	// the edge their connect reply.
	c.edge.WaitLog(t, func(l harness.LogLine) bool { return l.Msg() == "connect template learned" }, 15*time.Second)
	return c
}

// publishThrough publishes src with ffmpeg from a client address of its own
// (through a forwarder bound to ip) and waits until server has it.
func (c *cmdCluster) publishThrough(t *testing.T, ip, stream, src, server string) *harness.Proc {
	t.Helper()
	proxy := harness.StartCountingProxy(t, c.rtmp, ip)
	p := harness.Publish(t, url("rtmp", proxy.Addr, stream), src)
	c.media[server].WaitStat(t, stream+" published on "+server, hasPublisher(stream), 20*time.Second)
	return p
}

// startLine is the "session start" line of the one session from ip.
func (c *cmdCluster) startLine(t *testing.T, ip string) harness.LogLine {
	t.Helper()
	return c.edge.WaitLog(t, func(l harness.LogLine) bool { return l.Msg() == "session start" && l.ClientIP() == ip }, 20*time.Second)
}

// relayed is rtmp_edge_command_relayed_total of one mode.
func (c *cmdCluster) relayed(t *testing.T, mode string) float64 {
	t.Helper()
	v, err := c.edge.MetricSum("rtmp_edge_command_relayed_total", map[string]string{"mode": mode})
	if err != nil {
		t.Fatalf("metrics: %v", err)
	}
	return v
}

// A publisher whose connect looks like a player's (a Flash webcam: flashVer
// "WIN 11,0,1,152", no type), which connect-time routing sends to a
// playback server, lands on the upload server: the edge routes on the
// publish itself. It is not counted as misrouted.
func TestCommandPlayerShapedPublisher(t *testing.T) {
	t.Parallel()
	c := startCmdCluster(t, cmdOptions{})
	ip := harness.ClientIP(blockCmdShaped, 1)
	p := harness.StartPlayer(t, harness.PlayerOptions{Addr: c.rtmp, LocalIP: ip, Stream: "webcam", Publish: true, FlashVer: "WIN 11,0,1,152"})
	c.media["media03"].WaitStat(t, "webcam published on media03", hasPublisher("webcam"), 15*time.Second)
	start := c.startLine(t, ip)
	if start.Str("server") != "media03" || start.Str("kind") != "publish" || start.Str("stream") != "webcam" || !strings.HasPrefix(start.Str("pick"), "upload") {
		t.Errorf("session start: %v", start)
	}
	addr := p.LocalAddr()
	p.Close()
	s := c.edge.WaitSession(t, addr, 15*time.Second)
	if s.Server != "media03" || s.Kind != "publish" || s.Misrouted {
		t.Errorf("session end: %+v", s)
	}
	if n, _ := c.edge.MetricSum("rtmp_edge_misrouted_total", nil); n != 0 {
		t.Errorf("rtmp_edge_misrouted_total = %v", n)
	}
}

// A stream lives only on media03 (nginx without push). Eight players of it
// from eight client addresses of their own (no stick entry, and the plain
// rotation would send most of them to media01 and media02, where they would
// wait for ever) all land on media03 and receive the source's packets:
// ffmpeg and rtmpdump, over RTMP and RTMPT, two of each. Every one of these
// sessions went back to the plain relay after the reply filter: the kernel
// splice between TCP sockets, a user-space copy for the tunnels.
func TestCommandPlayersFollowTheStream(t *testing.T) {
	t.Parallel()
	c := startCmdCluster(t, cmdOptions{rtmpt: true})
	src := harness.MakeTestStream(t, 4)
	published := harness.MustFrameMD5(t, src)
	pubIP := harness.ClientIP(blockCmdPublisher, 1)
	c.publishThrough(t, pubIP, "only3", src, "media03")
	for _, name := range []string{"media01", "media02"} {
		if st := c.media[name].Stat(t).Stream("only3"); st != nil && len(st.Publishers) > 0 {
			t.Fatalf("%s has the stream too: the test would prove nothing", name)
		}
	}

	type player struct {
		client, scheme string
		ip             string
	}
	var players []player
	for i, combo := range [][2]string{{"ffmpeg", "rtmp"}, {"ffmpeg", "rtmpt"}, {"rtmpdump", "rtmp"}, {"rtmpdump", "rtmpt"}} {
		for j := range 2 {
			players = append(players, player{combo[0], combo[1], harness.ClientIP(blockCmdFollow, 2*i+j+1)})
		}
	}
	errs := make([]error, len(players))
	var wg sync.WaitGroup
	// Four at a time: eight ffmpeg/rtmpdump processes at once are more than a
	// shared test machine plays in real time.
	for batch := range 2 {
		for i := batch * 4; i < batch*4+4; i++ {
			p := players[i]
			target := c.rtmp
			if p.scheme == "rtmpt" {
				target = c.rtmpt
			}
			proxy := harness.StartCountingProxy(t, target, p.ip)
			u := url(p.scheme, proxy.Addr, "only3")
			wg.Add(1)
			go func() {
				defer wg.Done()
				var got harness.Packets
				var err error
				if p.client == "ffmpeg" {
					got, err = harness.PlayFFmpeg(u, 2*time.Second)
				} else {
					got, err = harness.PlayRTMPDump(t, u, 3*time.Second)
				}
				if err == nil {
					err = got.CheckSubsetOf(published, 10)
				}
				errs[i] = err
			}()
		}
		wg.Wait()
	}
	for i, p := range players {
		if errs[i] != nil {
			t.Errorf("%s over %s from %s: %v", p.client, p.scheme, p.ip, errs[i])
		}
		start := c.startLine(t, p.ip)
		if start.Str("server") != "media03" || start.Str("kind") != "play" || start.Str("pick") != "live on media03" || start.Str("proto") != p.scheme {
			t.Errorf("%s over %s from %s: session start %v", p.client, p.scheme, p.ip, start)
		}
	}
	// Every player's session has ended (the clients exited); the relay mode
	// each one ran in is on its end line and in the counter.
	modes := map[string]int{}
	for _, p := range players {
		l := c.edge.WaitLog(t, func(l harness.LogLine) bool { return l.Msg() == "session end" && l.ClientIP() == p.ip }, 20*time.Second)
		modes[p.scheme+" "+l.Str("relay")]++
	}
	if want := map[string]int{"rtmp splice": 4, "rtmpt copy": 4}; !reflect.DeepEqual(modes, want) {
		t.Errorf("relay modes of the players' sessions: %v, want %v", modes, want)
	}
	// The publisher's session is still relaying: it counts as spliced.
	if s, cp, f := c.relayed(t, "splice"), c.relayed(t, "copy"), c.relayed(t, "filter"); s != 5 || cp != 4 || f != 0 {
		t.Errorf("rtmp_edge_command_relayed_total: splice %v, copy %v, filter %v; want 5, 4, 0", s, cp, f)
	}
}

// With media03 (the only upload server) down, a publish fails over to the
// other servers (by weight: media01 first) and the players of its stream
// follow it there, wherever the rotation would have sent them.
func TestCommandPublishFailsOverAndPlayersFollow(t *testing.T) {
	t.Parallel()
	c := startCmdCluster(t, cmdOptions{})
	c.media["media03"].Stop()
	waitServerDown(t, c.edge, "media03")
	src := harness.MakeTestStream(t, 4)
	pubIP := harness.ClientIP(blockCmdPublisher, 2)
	proxy := harness.StartCountingProxy(t, c.rtmp, pubIP)
	harness.Publish(t, url("rtmp", proxy.Addr, "fo"), src)
	start := c.startLine(t, pubIP)
	origin := start.Str("server")
	if origin != "media01" && origin != "media02" || start.Str("kind") != "publish" || !strings.HasPrefix(start.Str("pick"), "upload-fallback") {
		t.Fatalf("publisher's session start: %v", start)
	}
	c.media[origin].WaitStat(t, "fo published on "+origin, hasPublisher("fo"), 20*time.Second)
	var players []*harness.Player
	for i := 1; i <= 4; i++ {
		players = append(players, harness.StartPlayer(t, harness.PlayerOptions{Addr: c.rtmp, LocalIP: harness.ClientIP(blockCmdFailover, i), Stream: "fo"}))
	}
	for i, p := range players {
		if err := p.WaitPackets(20, 20*time.Second); err != nil {
			t.Errorf("player %d: %v", i+1, err)
		}
		s := c.edge.WaitSessionStart(t, p.LocalAddr(), 15*time.Second)
		if s.Str("server") != origin || s.Str("pick") != "live on "+origin {
			t.Errorf("player %d: session start %v, want on %s", i+1, s, origin)
		}
	}
	if err := players[0].Packets().CheckSubsetOf(harness.MustFrameMD5(t, src), 10); err != nil {
		t.Error(err)
	}
}

// waitServerDown waits until the edge's health check has marked server down.
func waitServerDown(t *testing.T, e *harness.Edge, server string) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if up, err := e.ServerUp("media", server); err == nil && !up {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not marked down within 20 s", server)
		}
	}
}

// Forty players of a stream live nowhere (video on demand, or a stream not
// started yet) spread over every server by weight, as connect routing
// spreads them (smooth weighted round robin over 10/10/8: 14/14/12 in 40
// picks), and each reconnects to the same server (affinity), in any order.
func TestCommandNotLiveSpreadsAndSticks(t *testing.T) {
	t.Parallel()
	c := startCmdCluster(t, cmdOptions{})
	const players = 40
	want := map[string]int{"media01": 14, "media02": 14, "media03": 12}
	first := map[string]string{}
	got := map[string]int{}
	var open []*harness.Player
	for i := 1; i <= players; i++ {
		open = append(open, harness.StartPlayer(t, harness.PlayerOptions{Addr: c.rtmp, LocalIP: harness.ClientIP(blockCmdNotLive, i), Stream: "nowhere"}))
	}
	for _, p := range open {
		s := c.edge.WaitSessionStart(t, p.LocalAddr(), 15*time.Second)
		if s.Str("pick") != "not live: roundrobin" {
			t.Errorf("%s: pick %q", p.LocalAddr(), s.Str("pick"))
		}
		first[s.ClientIP()] = s.Str("server")
		got[s.Str("server")]++
	}
	atServers := map[string]int{}
	for name, n := range c.media {
		atServers[name] = len(n.Stat(t).Stream("nowhere").Players)
	}
	for _, p := range open {
		p.Close()
	}
	if !reflect.DeepEqual(got, want) || !reflect.DeepEqual(atServers, want) {
		t.Fatalf("players per server: edge %v, /stat %v, want %v", got, atServers, want)
	}
	for _, i := range rand.New(rand.NewPCG(seed(t), 0)).Perm(players) {
		ip := harness.ClientIP(blockCmdNotLive, i+1)
		p := harness.StartPlayer(t, harness.PlayerOptions{Addr: c.rtmp, LocalIP: ip, Stream: "nowhere"})
		s := c.edge.WaitSessionStart(t, p.LocalAddr(), 15*time.Second)
		p.Close()
		if s.Str("server") != first[ip] || s.Str("pick") != "stick" {
			t.Errorf("%s reconnected to %s (%s), first landed on %s", ip, s.Str("server"), s.Str("pick"), first[ip])
		}
	}
}

// With nginx push from media03 to the others and replicates_to saying so,
// the players of a live stream spread over all three by weight: 28 players
// from 28 addresses, 10/10/8.
func TestCommandReplicasSpreadByWeight(t *testing.T) {
	t.Parallel()
	c := startCmdCluster(t, cmdOptions{push: true})
	src := harness.MakeTestStream(t, 4)
	c.publishThrough(t, harness.ClientIP(blockCmdPublisher, 3), "wide", src, "media03")
	for _, name := range []string{"media01", "media02"} {
		c.media[name].WaitStat(t, "wide pushed to "+name, hasPublisher("wide"), 20*time.Second)
	}
	got := map[string]int{}
	picks := map[string]int{}
	for i := 1; i <= 28; i++ {
		p := harness.StartPlayer(t, harness.PlayerOptions{Addr: c.rtmp, LocalIP: harness.ClientIP(blockCmdReplicas, i), Stream: "wide"})
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
}

// A connect with the Enhanced RTMP fields (fourCcList as an AMF0 strict
// array, capsEx, a FourCC info map) succeeds through the edge, and its
// answer is the media server's own: the same command object and
// information as a direct connect to that server gets. The session goes on
// to publish: the media server accepts the replayed connect (strict array
// and all) and the publish, and the client gets the server's Publish.Start.
// nginx-rtmp answers no Enhanced RTMP fields of its own, so what this shows
// is the client's fields going through and the answer staying nginx's; the
// edge answering a server's fourCcList/capsEx (learned from its check) is
// edge/command's TestResponderEnhancedRTMP.
func TestCommandEnhancedRTMPConnect(t *testing.T) {
	t.Parallel()
	c := startCmdCluster(t, cmdOptions{})
	props := amf0.Object{{Key: "app", Value: "live"}, {Key: "type", Value: "nonprivate"}, {Key: "flashVer", Value: "FMLE/3.0 (compatible; FMSc/1.0)"},
		{Key: "tcUrl", Value: "rtmp://127.0.0.1/live"},
		{Key: "fourCcList", Value: amf0.StrictArray{"av01", "vp09", "hvc1"}}, {Key: "capsEx", Value: 15.0},
		{Key: "videoFourCcInfoMap", Value: amf0.Object{{Key: "hvc1", Value: 3.0}}}}
	edge := dialRTMP(t, c.rtmp, harness.ClientIP(blockCmdEnhanced, 1))
	viaEdge := edge.call(t, 0, "connect", 1, props)
	direct := dialRTMP(t, c.media["media03"].Opts.RTMPAddr, harness.ClientIP(blockCmdEnhanced, 2)).call(t, 0, "connect", 1, props)
	info, _ := viaEdge.Args[0].(amf0.Object)
	if code, _ := info.String("code"); viaEdge.Name != "_result" || code != "NetConnection.Connect.Success" {
		t.Fatalf("through the edge: %s %v", viaEdge.Name, viaEdge.Args)
	}
	if !reflect.DeepEqual(viaEdge.Object, direct.Object) || !reflect.DeepEqual(viaEdge.Args, direct.Args) {
		t.Errorf("through the edge the answer is\n %v %v\ndirect from the media server\n %v %v", viaEdge.Object, viaEdge.Args, direct.Object, direct.Args)
	}
	created := edge.call(t, 0, "createStream", 2, nil)
	id, ok := created.Args[0].(float64)
	if created.Name != "_result" || !ok {
		t.Fatalf("createStream: %s %v", created.Name, created.Args)
	}
	status := edge.call(t, uint32(id), "publish", 3, nil, "enhanced", "live")
	info, _ = status.Args[0].(amf0.Object)
	if code, _ := info.String("code"); status.Name != "onStatus" || code != "NetStream.Publish.Start" {
		t.Fatalf("publish: %s %v", status.Name, status.Args)
	}
	c.media["media03"].WaitStat(t, "enhanced published on media03", hasPublisher("enhanced"), 15*time.Second)
}

// The stream IDs the edge gives before routing are the ones the media
// server gives to the same calls when the edge replays them: the client
// sends its commands and media on the edge's IDs, and that direction is
// spliced unchanged, so they must be equal. A client that creates several
// streams and deletes one (some Flash applications) gets the same IDs
// through the edge as straight from nginx-rtmp (which always answers 1),
// and its publish on the last one is accepted: had the server's answers to
// the replayed createStreams differed, the reply filter would have ended the
// session (server_stream_id) instead.
func TestCommandStreamIDsMatchTheServer(t *testing.T) {
	t.Parallel()
	c := startCmdCluster(t, cmdOptions{})
	props := amf0.Object{{Key: "app", Value: "live"}, {Key: "type", Value: "nonprivate"}, {Key: "flashVer", Value: "FMLE/3.0 (compatible; FMSc/1.0)"},
		{Key: "tcUrl", Value: "rtmp://127.0.0.1/live"}}
	ids := func(conn *rtmpConn) []amf0.Value {
		if r := conn.call(t, 0, "connect", 1, props); r.Name != "_result" {
			t.Fatalf("connect: %s %v", r.Name, r.Args)
		}
		var got []amf0.Value
		for tx := 2.0; tx <= 5; tx++ {
			if tx == 4 { // deleteStream has no answer; the next createStream follows it
				p, _ := amf0.EncodeCommand("deleteStream", 0, nil, got[0])
				if _, err := conn.conn.Write(conn.w.Append(nil, chunk.Message{CSID: 3, Type: chunk.TypeCommandAMF0, Payload: p})); err != nil {
					t.Fatal(err)
				}
				continue
			}
			r := conn.call(t, 0, "createStream", tx, nil)
			if r.Name != "_result" || len(r.Args) != 1 {
				t.Fatalf("createStream %v: %s %v", tx, r.Name, r.Args)
			}
			got = append(got, r.Args[0])
		}
		return got
	}
	edge := dialRTMP(t, c.rtmp, harness.ClientIP(blockCmdStreamIDs, 1))
	viaEdge := ids(edge)
	direct := ids(dialRTMP(t, c.media["media03"].Opts.RTMPAddr, harness.ClientIP(blockCmdStreamIDs, 2)))
	if !reflect.DeepEqual(viaEdge, direct) {
		t.Fatalf("stream IDs through the edge %v, from nginx-rtmp %v", viaEdge, direct)
	}
	last, _ := viaEdge[len(viaEdge)-1].(float64)
	status := edge.call(t, uint32(last), "publish", 6, nil, "ids", "live")
	info, _ := status.Args[0].(amf0.Object)
	if code, _ := info.String("code"); status.Name != "onStatus" || code != "NetStream.Publish.Start" {
		t.Fatalf("publish: %s %v", status.Name, status.Args)
	}
	c.media["media03"].WaitStat(t, "ids published on media03", hasPublisher("ids"), 15*time.Second)
}

// A media server that refuses the replayed connect by closing the
// connection (nginx-rtmp's on_connect hook answering 403): the client,
// whose connect the edge had answered, is told its play failed and why
// (NetStream.Play.Failed, "the media server closed the connection") instead
// of seeing its connection close for no reason; the edge logs and counts
// server_sync_error, and does not try another server.
func TestCommandServerClosesBeforeAnswering(t *testing.T) {
	t.Parallel()
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "forbidden", http.StatusForbidden)
	}))
	t.Cleanup(hook.Close)
	c := startFaultCluster(t, faultOptions{nginx: harness.NginxExtra{Server: "on_connect " + hook.URL + "/connect;"}, check: "tcp", backend: "route: command"})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	ip := harness.ClientIP(blockCmdRefused, 1)
	p, err := harness.Play(ctx, harness.PlayerOptions{Addr: c.rtmp, LocalIP: ip, Stream: "refused"})
	if err == nil {
		p.Close()
		t.Fatal("play succeeded although the media server refuses the connect")
	}
	if !errors.Is(err, harness.ErrPlayRejected) || !strings.Contains(err.Error(), "NetStream.Play.Failed") || !strings.Contains(err.Error(), "the media server closed the connection") {
		t.Errorf("the client sees %v, want its play failed with the reason", err)
	}
	l := c.edge.WaitLog(t, func(l harness.LogLine) bool { return l.Msg() == "session rejected" && l.ClientIP() == ip }, 15*time.Second)
	if l.Str("label") != "server_sync_error" {
		t.Errorf("session rejected %v", l)
	}
	if n, _ := c.edge.MetricSum("rtmp_edge_dial_failures_total", nil); n != 0 {
		t.Errorf("rtmp_edge_dial_failures_total = %v: the edge retried a refused connect", n)
	}
}

// rtmpConn is a hand-driven RTMP client: commands with any AMF0 values
// (the harness players cannot send a strict array).
type rtmpConn struct {
	conn net.Conn
	addr string
	sc   *chunk.Scanner
	w    *chunk.Writer
	got  []amf0.Command // commands read and not asked for yet
}

// dialRTMP connects to addr from ip and does the client handshake.
func dialRTMP(t *testing.T, addr, ip string) *rtmpConn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
	conn, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	deadline := time.Now().Add(20 * time.Second)
	_ = conn.SetDeadline(deadline)
	if err := harness.ClientHandshake(conn, deadline); err != nil {
		t.Fatal(err)
	}
	return &rtmpConn{conn: conn, addr: addr, sc: chunk.NewScanner(chunk.Limits{}), w: chunk.NewWriter()}
}

// call sends a command on message stream msid and returns its answer: the
// _result or _error to txID, or for a publish/play (txID of no answer in
// nginx-rtmp) the first onStatus.
func (c *rtmpConn) call(t *testing.T, msid uint32, name string, txID float64, obj amf0.Value, args ...amf0.Value) amf0.Command {
	t.Helper()
	p, err := amf0.EncodeCommand(name, txID, obj, args...)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.conn.Write(c.w.Append(nil, chunk.Message{CSID: 3, Type: chunk.TypeCommandAMF0, StreamID: msid, Payload: p})); err != nil {
		t.Fatal(err)
	}
	want := func(cmd amf0.Command) bool {
		if name == "publish" || name == "play" {
			return cmd.Name == "onStatus"
		}
		return (cmd.Name == "_result" || cmd.Name == "_error") && cmd.TxID == txID
	}
	buf := make([]byte, 4096)
	for {
		for i, cmd := range c.got {
			if want(cmd) {
				c.got = append(c.got[:i], c.got[i+1:]...)
				return cmd
			}
		}
		n, rerr := c.conn.Read(buf)
		if ferr := c.sc.Feed(buf[:n], func(m chunk.Message) error {
			if m.Type != chunk.TypeCommandAMF0 {
				return nil
			}
			cmd, err := amf0.ParseCommand(m.Payload, m.Type)
			if err == nil {
				c.got = append(c.got, cmd)
			}
			return err
		}); ferr != nil {
			t.Fatalf("reading the answer to %s from %s: %v", name, c.addr, ferr)
		}
		if n == 0 && rerr != nil {
			t.Fatalf("no answer to %s from %s: %v", name, c.addr, rerr)
		}
	}
}

// With publisher_takeover, an encoder that publishes its live stream again
// from the same address (it reconnected before its old session timed out)
// ends its old publishing session, and the media server, which refuses a
// second publisher of a stream, accepts the new one.
func TestCommandPublisherTakeover(t *testing.T) {
	t.Parallel()
	c := startCmdCluster(t, cmdOptions{takeover: true})
	ip := harness.ClientIP(blockCmdTakeover, 1)
	enc := harness.PlayerOptions{Addr: c.rtmp, LocalIP: ip, Stream: "enc", Publish: true, FlashVer: "FMLE/3.0 (compatible; FMSc/1.0)"}
	first := harness.StartPlayer(t, enc)
	c.media["media03"].WaitStat(t, "enc published", hasPublisher("enc"), 15*time.Second)
	// Only once the first publisher relays (its publish answered) is it
	// live for the registry's takeover to end it.
	c.edge.WaitSessionStart(t, first.LocalAddr(), 15*time.Second)
	second := harness.StartPlayer(t, enc)
	old := c.edge.WaitSession(t, first.LocalAddr(), 15*time.Second)
	if old.End != "taken over by a new publish" {
		t.Errorf("the first publisher ended with %q", old.End)
	}
	start := c.edge.WaitSessionStart(t, second.LocalAddr(), 15*time.Second)
	if start.Str("server") != "media03" || start.Str("stream") != "enc" || start.Str("pick") != "live on media03" {
		t.Errorf("second publisher's session start %v", start)
	}
	c.media["media03"].WaitStat(t, "enc published by the second session", func(s *harness.Stat) bool {
		st := s.Stream("enc")
		return st != nil && len(st.Publishers) == 1
	}, 10*time.Second)
	select {
	case <-second.Done():
		t.Errorf("the second publisher ended: %v", second.Err())
	default:
	}
}

// A connect with a challenge-response login (authmod= in the app) is routed
// at connect, in command mode too: the media server answers the connect
// itself (its challenge must reach the client, stages 2 and 3 must meet the
// same server). The edge answered nothing, so nothing is filtered or
// counted as a command-routed relay; the publish still goes to the upload
// server (its connect says encoder) and is logged with its stream.
func TestCommandAuthmodRoutedAtConnect(t *testing.T) {
	t.Parallel()
	c := startCmdCluster(t, cmdOptions{})
	ip := harness.ClientIP(blockCmdAuthmod, 1)
	p := harness.StartPlayer(t, harness.PlayerOptions{Addr: c.rtmp, LocalIP: ip, App: "live?authmod=adobe&user=u", Stream: "auth1", Publish: true,
		FlashVer: "FMLE/3.0 (compatible; FMSc/1.0)"})
	start := c.startLine(t, ip)
	if start.Str("server") != "media03" || start.Str("stream") != "auth1" {
		t.Errorf("session start %v", start)
	}
	addr := p.LocalAddr()
	p.Close()
	s := c.edge.WaitSession(t, addr, 15*time.Second)
	l := c.edge.WaitLog(t, func(l harness.LogLine) bool { return l.Msg() == "session end" && l.Str("client") == addr }, time.Second)
	if s.Server != "media03" || l.Str("relay") != "" {
		t.Errorf("session end %v", l)
	}
	for _, mode := range []string{"splice", "copy", "filter"} {
		if n := c.relayed(t, mode); n != 0 {
			t.Errorf("rtmp_edge_command_relayed_total{mode=%q} = %v", mode, n)
		}
	}
}
