package edge

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	rtmpmsg "github.com/yutopp/go-rtmp/message"

	"github.com/rtmp-edge/rtmp-edge/edge/amf0"
	"github.com/rtmp-edge/rtmp-edge/edge/chunk"
	edgecmd "github.com/rtmp-edge/rtmp-edge/edge/command"
	"github.com/rtmp-edge/rtmp-edge/integration/harness"
	"github.com/rtmp-edge/rtmp-edge/routing"
	"github.com/rtmp-edge/rtmp-edge/upstream"
)

// commandCluster is a backend with route: command in front of two real
// nginx-rtmp servers without push (a stream lives on one server): media01
// plays, media03 takes the uploads. Its rtmp check teaches the edge
// nginx's connect reply.
func commandCluster(t *testing.T) (*testEdge, *harness.Nginx, *harness.Nginx) {
	t.Helper()
	n1 := harness.StartNginx(t, harness.NginxOptions{Name: "media01", RTMPAddr: harness.FreeAddr(t), HTTPAddr: harness.FreeAddr(t)})
	n3 := harness.StartNginx(t, harness.NginxOptions{Name: "media03", RTMPAddr: harness.FreeAddr(t), HTTPAddr: harness.FreeAddr(t)})
	cfg := testConfig(
		routing.ServerConfig{Name: "media01", Address: n1.Opts.RTMPAddr, Weight: new(10), MaxConn: 200},
		routing.ServerConfig{Name: "media03", Address: n3.Opts.RTMPAddr, Weight: new(8), MaxConn: 200, Upload: true},
	)
	cfg.Backends[0].Route = RouteCommand
	cfg.Backends[0].Check = upstream.CheckConfig{Type: upstream.CheckRTMP, Interval: time.Hour, Timeout: 5 * time.Second, App: "live"}
	e := startEdge(t, cfg)
	e.log.wait(t, "connect template learned", nil)
	return e, n1, n3
}

// A publisher with a player's connect (no type, a player's flashVer: what
// connect-time routing sends to a playback server) lands on the upload
// server, and is not misrouted.
func TestCommandRoutePlayerShapedPublisher(t *testing.T) {
	e, _, n3 := commandCluster(t)
	c := goClient(t, e.addr, playerConnect)
	publish(t, c, "cam1")
	n3.WaitStat(t, "cam1 published on media03", func(s *harness.Stat) bool { return s.Stream("cam1") != nil }, 10*time.Second)
	start := e.log.wait(t, "session start", nil)
	if start["server"] != "media03" || start["kind"] != "publish" || start["stream"] != "cam1" {
		t.Errorf("session start %v", start)
	}
	_ = c.Close()
	end := e.log.wait(t, "session end", nil)
	if end["misrouted"] != false || end["kind"] != "publish" || end["server"] != "media03" {
		t.Errorf("session end %v", end)
	}
}

// ffmpeg publishes through the edge; ffmpeg and rtmpdump players of that
// stream, whatever their IP, land where it is live and receive its packets;
// each session went back to the relay after the filter.
func TestCommandRoutePlayersFollowTheStream(t *testing.T) {
	e, _, n3 := commandCluster(t)
	src := harness.MakeTestStream(t, 4)
	harness.Publish(t, "rtmp://"+e.addr+"/live/show", src)
	n3.WaitStat(t, "show published on media03", func(s *harness.Stat) bool { return s.Stream("show") != nil }, 15*time.Second)
	published := harness.MustFrameMD5(t, src)
	for i := range 3 {
		t.Run(fmt.Sprintf("ffmpeg player %d", i), func(t *testing.T) {
			got, err := harness.PlayFFmpeg("rtmp://"+e.addr+"/live/show", 2*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			if err := got.CheckSubsetOf(published, 10); err != nil {
				t.Fatal(err)
			}
		})
	}
	t.Run("rtmpdump player", func(t *testing.T) {
		got, err := harness.PlayRTMPDump(t, "rtmp://"+e.addr+"/live/show", 3*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if err := got.CheckSubsetOf(published, 10); err != nil {
			t.Fatal(err)
		}
	})
	plays := 0
	for _, rec := range e.log.records() {
		if rec["msg"] == "session start" && rec["kind"] == "play" {
			plays++
			// The players share the publisher's 127.0.0.1, so affinity
			// among the servers that have the stream picks: "stick (live on media03)".
			if pick, _ := rec["pick"].(string); rec["server"] != "media03" || !strings.Contains(pick, "live on media03") {
				t.Errorf("player not sent where the stream is live: %v", rec)
			}
		}
	}
	if plays != 4 {
		t.Errorf("%d player session starts, want 4", plays)
	}
}

// A connect with a challenge-response login goes to a media server at
// connect time: nginx (no auth) answers it itself.
func TestCommandRouteAuthmodAtConnect(t *testing.T) {
	e, _, _ := commandCluster(t)
	c := goClient(t, e.addr, rtmpmsg.NetConnectionConnectCommand{App: "live?authmod=adobe&user=u", FlashVer: "FMLE/3.0", Type: "nonprivate", TCURL: "rtmp://edge/live?authmod=adobe&user=u"})
	publish(t, c, "auth1")
	start := e.log.wait(t, "session start", nil)
	if start["stream"] != "auth1" || start["server"] != "media03" {
		t.Errorf("session start %v", start)
	}
	_ = c.Close()
}

func TestRouteKeyValidated(t *testing.T) {
	for _, tt := range []struct {
		route string
		ok    bool
	}{{"", true}, {RouteConnect, true}, {RouteCommand, true}, {"publish", false}} {
		cfg := testConfig(routing.ServerConfig{Name: "m", Address: "127.0.0.1:1935", Weight: new(1)})
		cfg.Backends[0].Route = tt.route
		err := cfg.Validate()
		if (err == nil) != tt.ok || (!tt.ok && !strings.Contains(err.Error(), "route: must be connect or command")) {
			t.Errorf("route %q: %v", tt.route, err)
		}
	}
}

// publisher_takeover and replicates_to act on the stream registry, which
// only route: command fills: with route: connect they are refused by name,
// not left doing nothing; with the default (command) they are accepted.
func TestRegistryKeysNeedRouteCommand(t *testing.T) {
	for _, route := range []string{"", RouteCommand, RouteConnect} {
		cfg := testConfig(routing.ServerConfig{Name: "a", Address: "127.0.0.1:1935", ReplicatesTo: []string{"b"}},
			routing.ServerConfig{Name: "b", Address: "127.0.0.1:1936"})
		cfg.Backends[0].Route = route
		cfg.Backends[0].PublisherTakeover = true
		err := cfg.Validate()
		if route != RouteConnect {
			if err != nil {
				t.Errorf("route %q: %v", route, err)
			}
			continue
		}
		for _, want := range []string{"backends[0].publisher_takeover: needs route: command", "backends[0].servers[0].replicates_to: needs route: command"} {
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("route connect: %v, want %q", err, want)
			}
		}
	}
}

// With publisher_takeover, an encoder that publishes a live stream again from
// the same address (it reconnected before its old session timed out) ends
// the old publishing session, and its new publish is accepted by the media
// server, which would refuse a second publisher.
func TestCommandRoutePublisherTakeover(t *testing.T) {
	n3 := harness.StartNginx(t, harness.NginxOptions{Name: "media03", RTMPAddr: harness.FreeAddr(t), HTTPAddr: harness.FreeAddr(t)})
	cfg := testConfig(routing.ServerConfig{Name: "media03", Address: n3.Opts.RTMPAddr, Upload: true})
	cfg.Backends[0].Route = RouteCommand
	cfg.Backends[0].PublisherTakeover = true
	e := startEdge(t, cfg)
	first := goClient(t, e.addr, encoderConnect)
	publish(t, first, "enc")
	e.log.wait(t, "session start", nil)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if all := (adminSource{e.Edge}).Sessions(); len(all) == 1 && all[0].Phase == phaseRelay {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the first publisher did not reach the relay")
		}
	}
	second := goClient(t, e.addr, encoderConnect)
	publish(t, second, "enc")
	end := e.log.wait(t, "session end", nil)
	if end["end"] != endTakenOver {
		t.Fatalf("the first publisher ended with %v, want %q", end["end"], endTakenOver)
	}
	start := e.log.wait(t, "session start", nil)
	if start["stream"] != "enc" || start["server"] != "media03" {
		t.Errorf("second session start %v", start)
	}
	n3.WaitStat(t, "enc published again", func(s *harness.Stat) bool {
		return len(s.Stream("enc").Publishers) == 1
	}, 10*time.Second)
}

// RTMPT sessions take the same path: the tunnel is a net.Conn, so the
// edge answers, replays and filters through it like through TCP.
func TestCommandRouteRTMPT(t *testing.T) {
	n3 := harness.StartNginx(t, harness.NginxOptions{Name: "media03", RTMPAddr: harness.FreeAddr(t), HTTPAddr: harness.FreeAddr(t)})
	cfg := testConfig(routing.ServerConfig{Name: "media03", Address: n3.Opts.RTMPAddr, Weight: new(8), MaxConn: 200, Upload: true})
	cfg.Listeners[0].Protocols = []string{ProtoRTMP, ProtoRTMPT}
	cfg.Backends[0].Route = RouteCommand
	e := startEdge(t, cfg)
	src := harness.MakeTestStream(t, 3)
	harness.Publish(t, "rtmpt://"+e.addr+"/live/tunnel", src)
	n3.WaitStat(t, "tunnel published", func(s *harness.Stat) bool { return s.Stream("tunnel") != nil }, 15*time.Second)
	got, err := harness.PlayFFmpeg("rtmpt://"+e.addr+"/live/tunnel", 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if err := got.CheckSubsetOf(harness.MustFrameMD5(t, src), 10); err != nil {
		t.Fatal(err)
	}
	kinds := map[any]int{}
	for _, rec := range e.log.records() {
		if rec["msg"] == "session start" {
			kinds[rec["kind"]]++
			if rec["proto"] != "rtmpt" || rec["server"] != "media03" {
				t.Errorf("session start %v", rec)
			}
		}
	}
	if kinds["publish"] != 1 || kinds["play"] != 1 {
		t.Errorf("session starts by kind: %v, want one publish and one play", kinds)
	}
}

// filteredConn hands the relay exactly what the filter passes, read in any
// piece size, then the server's error (EOF).
func TestFilteredConn(t *testing.T) {
	client, err := os.ReadFile("command/testdata/nginx-ffmpeg-play.client.bin")
	if err != nil {
		t.Fatal(err)
	}
	server, err := os.ReadFile("command/testdata/nginx-ffmpeg-play.server.bin")
	if err != nil {
		t.Fatal(err)
	}
	for _, piece := range []int{1, 7, 4096} {
		resp := edgecmd.NewResponder(edgecmd.Config{})
		answers, routed, err := resp.Feed(client, time.Now())
		if err != nil || routed == nil {
			t.Fatalf("responder: %v %v", routed, err)
		}
		a, b := net.Pipe()
		go func() {
			for i := 0; i < len(server); i += 100 {
				_, _ = a.Write(server[i:min(i+100, len(server))])
			}
			_ = a.Close()
		}()
		fc := &filteredConn{Conn: b, f: resp.ReplyFilter(), buf: make([]byte, 512)}
		var got []byte
		p := make([]byte, piece)
		for {
			n, err := fc.Read(p)
			got = append(got, p[:n]...)
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
		}
		// nginx's whole stream, minus the answers the edge gave itself.
		if !bytes.Equal(append(answers, got...), server) {
			t.Errorf("piece %d: the client would get %d bytes, nginx sent %d", piece, len(answers)+len(got), len(server))
		}
		if !fc.f.Done() {
			t.Errorf("piece %d: filter not done at the end", piece)
		}
	}
}

// The relay mode a command-routed session is counted under follows what the
// relay is handed: two TCP sockets are spliced, anything else (a tunnel, TLS)
// is copied, and the server seen through the reply filter is "filter"
// whatever the client is.
func TestCommandRelayMode(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	server, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer server.Close()
	tunnel, other := net.Pipe()
	defer tunnel.Close()
	defer other.Close()
	filtered := &filteredConn{Conn: server}
	for _, tt := range []struct {
		client, server net.Conn
		teed           bool
		want           string
	}{
		{client, server, false, "splice"},
		{client, server, true, "tee"},
		{tunnel, server, false, "copy"},
		{tunnel, server, true, "copy"},
		{client, filtered, false, "filter"},
		{tunnel, filtered, true, "filter"},
	} {
		if got := commandRelayMode(tt.client, tt.server, tt.teed); got != tt.want {
			t.Errorf("commandRelayMode(%T, %T, teed %v) = %q, want %q", tt.client, tt.server, tt.teed, got, tt.want)
		}
	}
}

// route: command is the default; only an explicit route: connect routes at
// connect.
func TestRouteDefaultIsCommand(t *testing.T) {
	for route, want := range map[string]bool{"": true, RouteCommand: true, RouteConnect: false} {
		b := BackendConfig{Route: route}
		if got := b.routeOnCommand(); got != want {
			t.Errorf("route %q: routeOnCommand = %v, want %v", route, got, want)
		}
		if got := b.routesOnCommand(); got != want {
			t.Errorf("route %q: routesOnCommand (replicate's check) = %v, want %v", route, got, want)
		}
	}
}

// A backend whose template is another family than the server it routes to
// (here: crtmpserver's lowest-free numbering before nginx-rtmp, which always
// answers 1), and a client that creates two streams: the edge gave 2 to the
// second, nginx 1. The client would publish on a stream the server never
// created (that direction is not rewritten), so the session ends: the
// edge logs and counts server_stream_id. One createStream is 1 in every family and relays.
func TestCommandRouteStreamIDMismatchEndsTheSession(t *testing.T) {
	n3 := harness.StartNginx(t, harness.NginxOptions{Name: "media03", RTMPAddr: harness.FreeAddr(t), HTTPAddr: harness.FreeAddr(t)})
	cfg := testConfig(routing.ServerConfig{Name: "media03", Address: n3.Opts.RTMPAddr, Weight: new(8), MaxConn: 200, Upload: true})
	cfg.Backends[0].Route = RouteCommand
	cfg.Backends[0].Check = upstream.CheckConfig{Type: upstream.CheckRTMP, Interval: time.Hour, Timeout: 5 * time.Second, App: "live"}
	e := serveEdge(t, cfg, 0)
	e.log.wait(t, "connect template learned", nil)
	w := chunk.NewWriter()
	var reply []byte
	result, err := amf0.EncodeCommand("_result", 1, amf0.Object{{Key: "fmsVer", Value: "FMS/3,0,1,123"}, {Key: "capabilities", Value: 31.0}},
		amf0.Object{{Key: "level", Value: "status"}, {Key: "code", Value: "NetConnection.Connect.Success"}, {Key: "objectEncoding", Value: 0.0}})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []chunk.Message{
		{CSID: 2, Type: chunk.TypeWindowAckSize, Payload: []byte{0, 0x26, 0x25, 0xa0}},
		{CSID: 2, Type: chunk.TypeSetPeerBandwidth, Payload: []byte{0, 0x26, 0x25, 0xa0, 2}},
		{CSID: 2, Type: chunk.TypeUserControl, Payload: make([]byte, 6)}, // StreamBegin(0): crtmpserver's mark
		{CSID: 3, Type: chunk.TypeCommandAMF0, Payload: result},
	} {
		reply = w.Append(reply, m)
	}
	tmpl, err := edgecmd.LearnTemplate(reply)
	if err != nil || tmpl.Family != edgecmd.FamilyCrtmpserver {
		t.Fatalf("template %v %v", tmpl.Family, err)
	}
	e.pools["media"].template.Store(&tmpl) // the check runs hourly: nothing overwrites it

	// go-rtmp's Publish does not wait for the answer: what the client got
	// (Publish.Denied with the reason) is the filter's unit test; here the
	// session's end.
	c := goClient(t, e.addr, encoderConnect)
	err = bounded(c, func() error {
		if _, err := c.CreateStream(nil, 128); err != nil {
			return err
		}
		st, err := c.CreateStream(nil, 128)
		if err != nil {
			return err
		}
		return st.Publish(&rtmpmsg.NetStreamPublish{PublishingName: "two", PublishingType: "live"})
	})
	if err != nil {
		t.Fatalf("the edge's answers before routing: %v", err)
	}
	rej := e.log.wait(t, "session rejected", nil)
	if reason, _ := rej["reason"].(string); rej["label"] != "server_stream_id" || !strings.Contains(reason, "gave stream 1 to createStream") {
		t.Errorf("session rejected %v", rej)
	}
	if n := gatherValue(t, e.reg, "rtmp_edge_rejected_total", map[string]string{"reason": "server_stream_id"}); n != 1 {
		t.Errorf("rtmp_edge_rejected_total{reason=server_stream_id} = %v, want 1", n)
	}

	one := goClient(t, e.addr, encoderConnect)
	publish(t, one, "one")
	e.waitSession(t, phaseRelay)
	// Relaying: its session ends as a session (not rejected) when it closes.
	_ = one.Close()
	e.log.wait(t, "session end", func(r map[string]any) bool { return r["stream"] == "one" && r["relay"] == "splice" })
}
