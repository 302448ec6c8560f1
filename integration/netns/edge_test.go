//go:build linux

package netns

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/rtmp-edge/rtmp-edge/integration/harness"
)

// Edge listeners in the lab, all on the edge's client-side address.
var (
	edgeRTMP    = hostPort(EdgeClientIP, 1935) // rtmp, transparent backend
	edgeHTTP    = hostPort(EdgeClientIP, 80)   // rtmpt + rtmp, transparent backend
	edgeProxied = hostPort(EdgeClientIP, 1936) // rtmpt + rtmp, PROXY v1 backend
	edgeBehind  = hostPort(EdgeClientIP, 1937) // rtmpt + rtmp, accept_proxy, transparent backend
	edgeClient  = hostPort(EdgeClientIP, 1938) // rtmp, backend with source: client
	edgePlain   = hostPort(EdgeClientIP, 1939) // rtmp, backend with the default source
)

// minFrames is how many video frames each player must receive through the
// edge (one second of the test pattern).
const minFrames = 15

// labEdgeConfig is the edge of the lab: one backend per way of showing the
// client's address to the media servers. media03 takes the uploads and
// pushes them to media01 and media02 (StartMedia), so it says replicates_to:
// with route: command (the default) the edge then sends players of a live
// stream to all three by weight, as the affinity checks below need.
func labEdgeConfig() string {
	servers := func(port int, check string) string {
		return fmt.Sprintf(`    check: { type: %[5]s, interval: 1s, rise: 1, fall: 3, timeout: 2s, app: live }
    servers:
      - { name: media01, address: "%[1]s:%[4]d", weight: 10, maxconn: 200 }
      - { name: media02, address: "%[2]s:%[4]d", weight: 10, maxconn: 200 }
      - { name: media03, address: "%[3]s:%[4]d", weight: 8, maxconn: 200, upload: true, replicates_to: [media01, media02] }
`, MediaIPs[0], MediaIPs[1], MediaIPs[2], port, check)
	}
	return fmt.Sprintf(`admin:
  address: "%s"
listeners:
  - { name: rtmp, address: "%s", protocols: [rtmp], backend: transparent }
  - { name: http, address: "%s", protocols: [rtmpt, rtmp], backend: transparent }
  - { name: proxied, address: "%s", protocols: [rtmpt, rtmp], backend: proxied }
  - { name: behind, address: "%s", protocols: [rtmpt, rtmp], backend: behind, accept_proxy: true }
  - { name: client, address: "%s", protocols: [rtmp], backend: client }
  - { name: plain, address: "%s", protocols: [rtmp], backend: plain }
backends:
  - name: transparent
    balance: roundrobin
    stick: { size: 1000, expire: 20m }
    source: clientip
%s  - name: proxied
    balance: roundrobin
    stick: { size: 1000, expire: 20m }
    proxy_protocol: v1
%s  - name: behind
    balance: leastconn
    stick: { size: 1000, expire: 20m }
    source: clientip
%s  - name: client
    balance: roundrobin
    source: client
%s  - name: plain
    balance: roundrobin
%s`, EdgeMetricsAddr, edgeRTMP, edgeHTTP, edgeProxied, edgeBehind, edgeClient, edgePlain,
		servers(MediaRTMPPort, "rtmp"),
		// A TCP check: nginx's proxy_protocol listener needs the header first.
		servers(MediaProxyPort, "tcp"),
		servers(MediaRTMPPort, "rtmp"),
		servers(MediaRTMPPort, "rtmp"),
		servers(MediaRTMPPort, "rtmp"))
}

// TestEdgeInLab runs issue 4's checks: rtmp-edge in the edge namespace, ffmpeg
// in the client namespace, three nginx-rtmp servers in the media namespace.
func TestEdgeInLab(t *testing.T) {
	lab := NewLab(t)
	media := StartMedia(t, lab)
	var servers []string
	for _, b := range []string{"transparent", "proxied", "behind", "client", "plain"} {
		for _, m := range media {
			servers = append(servers, b+"/"+m.Name)
		}
	}
	edge := StartEdge(t, lab, labEdgeConfig(), []string{edgeRTMP, edgeHTTP, edgeProxied, edgeBehind, edgeClient, edgePlain}, servers)

	t.Run("source clientip: rtmp publish, rtmp and rtmpt play show the client address", func(t *testing.T) {
		stream := "transparent"
		StartPublisher(t, lab.Client, stream, "rtmp://"+edgeRTMP+"/live/"+stream)
		waitClients(t, media, stream, 1)
		players := []string{
			"rtmp://" + edgeRTMP + "/live/" + stream,
			"rtmpt://" + edgeHTTP + "/live/" + stream,
			"rtmp://" + edgeHTTP + "/live/" + stream, // RTMP on the port-80 listener
		}
		var procs []*harness.Proc
		for _, url := range players {
			procs = append(procs, StartPlayer(t, lab.Client, url, url))
		}
		clients := waitClients(t, media, stream, 1+len(players))
		assertAddresses(t, clients, ClientIP)
		t.Logf("clients of %s: %s", stream, describe(clients))
		waitPlayed(t, procs)
	})

	t.Run("proxy_protocol v1: rtmp and rtmpt clients show the client address", func(t *testing.T) {
		stream := "proxied"
		StartPublisher(t, lab.Client, stream, "rtmp://"+edgeProxied+"/live/"+stream)
		waitClients(t, media, stream, 1)
		players := []string{
			"rtmp://" + edgeProxied + "/live/" + stream,
			"rtmpt://" + edgeProxied + "/live/" + stream,
		}
		var procs []*harness.Proc
		for _, url := range players {
			procs = append(procs, StartPlayer(t, lab.Client, url, url))
		}
		clients := waitClients(t, media, stream, 1+len(players))
		assertAddresses(t, clients, ClientIP)
		t.Logf("clients of %s: %s", stream, describe(clients))
		waitPlayed(t, procs)
	})

	t.Run("accept_proxy: header address drives affinity, transparent dialing and logs", func(t *testing.T) {
		checkBehindProxy(t, lab, media, edge)
	})

	t.Run("accept_proxy: an RTMPT session belongs to the header's address", func(t *testing.T) {
		checkTunnelOwner(t, lab)
	})

	t.Run("default source: media sees the edge's address (the lab can tell them apart)", func(t *testing.T) {
		stream := "plain"
		StartPublisher(t, lab.Client, stream, "rtmp://"+edgePlain+"/live/"+stream)
		clients := waitClients(t, media, stream, 1)
		for _, c := range clients {
			if c.Address != EdgeMediaIP.String() {
				t.Errorf("%s sees %s for a client of the default-source backend, want the edge's %s", c.Server, c.Address, EdgeMediaIP)
			}
		}
	})

	t.Run("source client: media sees the client's address and port", func(t *testing.T) {
		stream := "client"
		StartPublisher(t, lab.Client, stream, "rtmp://"+edgeClient+"/live/"+stream)
		clients := waitClients(t, media, stream, 1)
		assertAddresses(t, clients, ClientIP)
		edgeSide, err := EstablishedTCP(lab.Client)
		if err != nil {
			t.Fatal(err)
		}
		var clientPort uint16
		for _, c := range edgeSide {
			if c.Peer.String() == edgeClient {
				clientPort = c.Local.Port()
			}
		}
		if clientPort == 0 {
			t.Fatalf("no connection from the client namespace to %s: %v", edgeClient, edgeSide)
		}
		mediaSide, err := EstablishedTCP(lab.Media)
		if err != nil {
			t.Fatal(err)
		}
		want := netip.AddrPortFrom(ClientIP, clientPort)
		for _, c := range mediaSide {
			if c.Peer == want && c.Local.Port() == MediaRTMPPort {
				return
			}
		}
		t.Errorf("no media-server connection from %s (the publisher's own address and port); media sockets: %v", want, mediaSide)
	})
}

// waitPlayed waits until every player has received minFrames video frames.
func waitPlayed(t *testing.T, players []*harness.Proc) {
	t.Helper()
	for _, p := range players {
		if err := WaitFrames(p, minFrames, statWait); err != nil {
			t.Errorf("player %s: %v", p.Name, err)
		}
	}
}

// checkBehindProxy puts PROXY-sending fronts (one per claimed client address)
// in the client namespace before the edge's accept_proxy listener. Each claimed
// address plays twice, one after the other; the edge balances by leastconn, so
// if it keyed affinity on the front's real address (198.18.1.2) every player
// would sit on one server, and if it ignored affinity a second player would
// avoid its first one's server.
func checkBehindProxy(t *testing.T, lab *Lab, media []*Media, edge *Edge) {
	stream := "behind"
	type front struct {
		ip      netip.Addr
		version byte
		addr    net.Addr
	}
	var fronts []front
	for i, ip := range ClaimedIPs {
		version := byte(1 + i%2)
		f := startForwarder(t, lab.Client, hostPort(ClientIP, uint16(20000+i)), ProxyTo(&lab.Client, edgeBehind, version, ip))
		fronts = append(fronts, front{ip: ip, version: version, addr: f.Addr()})
	}
	publisher := fronts[0]
	StartPublisher(t, lab.Client, stream, "rtmp://"+publisher.addr.String()+"/live/"+stream)
	waitClients(t, media, stream, 1)

	var players []*harness.Proc
	want := 1
	for i, f := range fronts[1:] {
		scheme := "rtmp"
		if i == len(fronts)-2 {
			scheme = "rtmpt" // every tunnel request carries its own header
		}
		for n := range 2 {
			url := scheme + "://" + f.addr.String() + "/live/" + stream
			players = append(players, StartPlayer(t, lab.Client, fmt.Sprintf("%s-%d", f.ip, n), url))
			want++
			waitClients(t, media, stream, want) // the first is in the stick table before the second comes
		}
	}
	clients := waitClients(t, media, stream, want)
	t.Logf("clients of %s: %s", stream, describe(clients))
	assertAddresses(t, clients, ClaimedIPs...)

	serverOf := map[string][]string{} // claimed IP → servers of its players
	for _, c := range clients {
		if !c.Publishing {
			serverOf[c.Address] = append(serverOf[c.Address], c.Server)
		}
	}
	var used []string
	for _, f := range fronts[1:] {
		got := serverOf[f.ip.String()]
		if len(got) != 2 {
			t.Errorf("%s (PROXY v%d): %d players on the media servers %v, want 2", f.ip, f.version, len(got), got)
			continue
		}
		if got[0] != got[1] {
			t.Errorf("%s (PROXY v%d): players on %s and %s; affinity must keep one client address on one server", f.ip, f.version, got[0], got[1])
		}
		if !slices.Contains(used, got[0]) {
			used = append(used, got[0])
		}
	}
	if len(used) == 1 {
		t.Errorf("every claimed address's players sit on %v: the edge keyed affinity on the front's address, not the header's", used)
	}
	waitPlayed(t, players)

	// The session log names the header's address as the client.
	for _, p := range players {
		p.Stop()
	}
	var seen []string
	err := waitFor(statWait, func() error {
		sessions, err := edge.Sessions()
		if err != nil {
			return err
		}
		seen = seen[:0]
		for _, s := range sessions {
			if s.Listener == "behind" && s.Stream == stream {
				seen = append(seen, s.ClientIP())
			}
		}
		if len(seen) < len(players) {
			return fmt.Errorf("%d of %d player sessions ended in the log: %v", len(seen), len(players), seen)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("edge session log: %v", err)
	}
	for _, ip := range seen {
		addr, err := netip.ParseAddr(ip)
		if err != nil || !slices.Contains(ClaimedIPs, addr) {
			t.Errorf("edge logged a session of listener behind from %q, want a PROXY header address %v", ip, ClaimedIPs)
		}
	}
}

// checkTunnelOwner opens an RTMPT session through a front that claims one
// address and uses it through a front that claims another: both fronts reach
// the edge from 198.18.1.2, so only the PROXY header tells them apart.
func checkTunnelOwner(t *testing.T, lab *Lab) {
	owner := startForwarder(t, lab.Client, hostPort(ClientIP, 20100), ProxyTo(&lab.Client, edgeBehind, 1, ClaimedIPs[1]))
	other := startForwarder(t, lab.Client, hostPort(ClientIP, 20101), ProxyTo(&lab.Client, edgeBehind, 2, ClaimedIPs[2]))
	web := NSHTTPClient(lab.Client)

	status, body := tunnelPost(t, web, owner.Addr(), "/open/1")
	if status != http.StatusOK {
		t.Fatalf("/open/1 through the %s front: status %d, want 200", ClaimedIPs[1], status)
	}
	sid := strings.TrimSpace(string(body))
	if sid == "" {
		t.Fatal("/open/1 answered no session id")
	}
	for _, path := range []string{"/idle/" + sid + "/1", "/close/" + sid + "/1"} {
		if status, _ := tunnelPost(t, web, other.Addr(), path); status != http.StatusNotFound {
			t.Errorf("%s through the %s front (another client): status %d, want 404", path, ClaimedIPs[2], status)
		}
	}
	if status, _ := tunnelPost(t, web, owner.Addr(), "/close/"+sid+"/1"); status != http.StatusOK {
		t.Errorf("/close through the owner's %s front: status %d, want 200 (the session must still be the owner's)", ClaimedIPs[1], status)
	}
}

// tunnelPost sends one RTMPT request (one poll byte of body, as clients do)
// and returns the status and the first KiB of the reply.
func tunnelPost(t *testing.T, web *http.Client, front net.Addr, path string) (int, []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), statTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+front.String()+path, bytes.NewReader([]byte{0}))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-fcs")
	resp, err := web.Do(req)
	if err != nil {
		t.Fatalf("POST %s through %s: %v", path, front, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<10))
	if err != nil {
		t.Fatalf("read reply to %s: %v", path, err)
	}
	return resp.StatusCode, body
}
