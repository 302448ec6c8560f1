package integration

import (
	"net/http"
	"testing"
	"time"

	"github.com/rtmp-edge/rtmp-edge/integration/harness"
)

// TestDrainMaintThroughAPI: with the stick table on, a player from one
// address (the stuck client) streams from server home. Through the admin API:
// drain home → new clients go elsewhere, a new session of the stuck client
// still goes to home; maint → the stuck client goes elsewhere too; a reload
// with an unchanged file keeps maint (a runtime change survives a reload unless
// the file changed that server); ready → new clients reach home again. The
// stuck client's first session streams through all of it. Then weight 0 on
// another server: like drain, no new client but the one stuck to it.
func TestDrainMaintThroughAPI(t *testing.T) {
	t.Parallel()
	c := startCluster(t, clusterOptions{})
	flv := harness.MakeTestStream(t, 4)
	harness.Publish(t, url("rtmp", c.rtmp, "drain"), flv)
	c.waitMirrored(t, "drain")
	api := c.edge.Admin()

	stuckIP := harness.ClientIP(102, 1)
	keeper := harness.StartPlayer(t, harness.PlayerOptions{Addr: c.rtmp, LocalIP: stuckIP, Stream: "drain"})
	home := c.edge.WaitSessionStart(t, keeper.LocalAddr(), 15*time.Second).Str("server")
	if err := keeper.WaitPackets(10, 20*time.Second); err != nil {
		t.Fatal(err)
	}
	mark := keeper.Mark()
	t.Logf("the stuck client %s streams from %s", stuckIP, home)

	setServer(t, api, home, harness.State("drain"))
	waitAPIServer(t, api, home, func(s harness.APIServer) bool { return s.State == "drain" }, "drain")
	// 8 fresh clients: with home available, round robin over three servers
	// would send two or three of them there.
	next := 10
	for range 8 {
		if s := c.pick(t, harness.ClientIP(102, next)); s == home {
			t.Errorf("a new client (%s) went to %s while it drains", harness.ClientIP(102, next), home)
		}
		next++
	}
	if s := c.pick(t, stuckIP); s != home {
		t.Errorf("the stuck client's new session went to %s while its server %s drains; drain lets stuck clients in", s, home)
	}

	setServer(t, api, home, harness.State("maint"))
	waitAPIServer(t, api, home, func(s harness.APIServer) bool { return s.State == "maint" }, "maint")
	if s := c.pick(t, stuckIP); s == home {
		t.Errorf("the stuck client's new session went to %s in maint; maint takes nothing new", home)
	}
	if line := c.edge.Reload(t, c.config()); line.Msg() != "config reloaded" {
		t.Fatalf("reload of the unchanged file: %v", line)
	}
	if s := waitAPIServer(t, api, home, func(harness.APIServer) bool { return true }, "listed"); s.State != "maint" {
		t.Errorf("after a reload that did not change %s its state is %q, want maint (runtime changes survive)", home, s.State)
	}
	if s := c.pick(t, harness.ClientIP(102, next)); s == home {
		t.Errorf("a new client went to %s in maint after the reload", home)
	}
	next++

	setServer(t, api, home, harness.State("ready"))
	waitAPIServer(t, api, home, func(s harness.APIServer) bool { return s.State == "ready" }, "ready")
	back := false
	for range 8 {
		if c.pick(t, harness.ClientIP(102, next)) == home {
			back = true
			break
		}
		next++
	}
	if !back {
		t.Errorf("none of 8 new clients reached %s after ready", home)
	}
	// Running sessions are never cut by drain or maint.
	if err := mark.Wait(50, 30*time.Second); err != nil {
		t.Fatalf("the stuck client's running session on %s: %v", home, err)
	}

	// Weight 0 on another server behaves like drain for new clients.
	otherIP := harness.ClientIP(102, 100)
	other := c.pick(t, otherIP)
	setServer(t, api, other, harness.Weight(0))
	waitAPIServer(t, api, other, func(s harness.APIServer) bool { return s.Weight == 0 }, "weight 0")
	for i := 101; i <= 108; i++ {
		if s := c.pick(t, harness.ClientIP(102, i)); s == other {
			t.Errorf("a new client (%s) went to %s at weight 0", harness.ClientIP(102, i), other)
		}
	}
	if s := c.pick(t, otherIP); s != other {
		t.Errorf("the client stuck to %s went to %s at weight 0; weight 0 lets stuck clients in", other, s)
	}
	setServer(t, api, other, harness.Weight(c.weights[other]))
	if keeper.Err() != nil {
		t.Fatalf("the stuck client's session ended: %v", keeper.Err())
	}
}

// TestAPIEndSessionAndForgetStick: GET /api/v1/sessions lists a running
// session with its stream, kind and server; DELETE /api/v1/sessions/{id} ends
// it, and its session line says "ended by operator". DELETE
// /api/v1/backends/media/stick/{ip} makes that client pick again: its server
// drains, so a client still remembered would be let back in (drain admits
// stuck clients) and a forgotten one cannot be.
func TestAPIEndSessionAndForgetStick(t *testing.T) {
	t.Parallel()
	c := startCluster(t, clusterOptions{})
	flv := harness.MakeTestStream(t, 4)
	harness.Publish(t, url("rtmp", c.rtmp, "ops"), flv)
	c.waitMirrored(t, "ops")
	api := c.edge.Admin()

	p := harness.StartPlayer(t, harness.PlayerOptions{Addr: c.rtmp, LocalIP: harness.ClientIP(106, 1), Stream: "ops"})
	if err := p.WaitPackets(10, 20*time.Second); err != nil {
		t.Fatal(err)
	}
	start := c.edge.WaitSessionStart(t, p.LocalAddr(), 15*time.Second)
	for k, want := range map[string]string{"listener": "rtmp", "proto": "rtmp", "app": "live", "stream": "ops", "kind": "play", "tcurl": "rtmp://" + c.rtmp + "/live"} {
		if got := start.Str(k); got != want {
			t.Errorf("session start line %s = %q, want %q", k, got, want)
		}
	}
	if start.Str("id") == "" || start.Str("server") == "" || start.Str("pick") == "" {
		t.Errorf("session start line without id, server or pick: %v", start)
	}
	s, err := api.SessionOf(p.LocalAddr())
	if err != nil {
		t.Fatal(err)
	}
	if s.ID == "" || s.ID != start.Str("id") || s.Stream != "ops" || s.Kind != "play" || s.Server != start.Str("server") || s.App != "live" {
		t.Errorf("/api/v1/sessions: %+v; want id %q, stream ops, kind play, app live, server %q (as the session start line says)", s, start.Str("id"), start.Str("server"))
	}
	if s.BytesOut <= 0 {
		t.Errorf("/api/v1/sessions: bytes_out %d of a player receiving media, want > 0 (live counters)", s.BytesOut)
	}
	if err := api.EndSession(s.ID); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the player is still connected 10s after DELETE of its session")
	}
	if end := c.edge.WaitSession(t, p.LocalAddr(), 10*time.Second); end.End != "ended by operator" {
		t.Errorf("session end of a session ended through the API: end %q, want %q", end.End, "ended by operator")
	}
	if _, err := api.SessionOf(p.LocalAddr()); err == nil {
		t.Error("/api/v1/sessions still lists the ended session")
	}

	ip := harness.ClientIP(106, 2)
	first := c.pick(t, ip)
	setServer(t, api, first, harness.State("drain"))
	if err := api.ForgetStick("media", ip); err != nil {
		t.Fatal(err)
	}
	if again := c.pick(t, ip); again == first {
		t.Errorf("%s went back to draining %s after its stick entry was deleted", ip, first)
	}
	setServer(t, api, first, harness.State("ready"))
}

// TestAdminToken: with admin.token set, the API and /metrics need
// "Authorization: Bearer <token>" and /healthz (for L4 balancers) does not.
func TestAdminToken(t *testing.T) {
	t.Parallel()
	c := startCluster(t, clusterOptions{servers: 1, adminToken: "s3cret-token"})
	for _, tc := range []struct {
		path, token string
		want        int
	}{
		{"/api/v1/backends", "", http.StatusUnauthorized},
		{"/api/v1/backends", "wrong", http.StatusUnauthorized},
		{"/api/v1/backends", "s3cret-token", http.StatusOK},
		{"/api/v1/sessions", "", http.StatusUnauthorized},
		{"/api/v1/sessions", "s3cret-token", http.StatusOK},
		{"/metrics", "", http.StatusUnauthorized},
		{"/metrics", "s3cret-token", http.StatusOK},
		{"/healthz", "", http.StatusOK},
	} {
		code, body, err := (&harness.Admin{Addr: c.admin, Token: tc.token}).Get(tc.path)
		if err != nil {
			t.Fatal(err)
		}
		if code != tc.want {
			t.Errorf("GET %s with token %q: %d, want %d (%.200s)", tc.path, tc.token, code, tc.want, body)
		}
	}
	wrong := &harness.Admin{Addr: c.admin, Token: "wrong"}
	if err := wrong.SetServer("media", "media03", harness.State("maint")); err == nil {
		t.Error("PUT with a wrong token was accepted")
	}
	if s := waitAPIServer(t, c.edge.Admin(), "media03", func(harness.APIServer) bool { return true }, "listed"); s.State != "ready" {
		t.Errorf("media03 is %q after a refused PUT, want ready", s.State)
	}
}

// pick connects a Go player from ip (stream "idle"), returns the server the
// edge's session start line names and closes the player, waiting for its
// session end line so that the next pick starts from a settled state.
func (c *cluster) pick(t *testing.T, ip string) string {
	t.Helper()
	p := harness.StartPlayer(t, harness.PlayerOptions{Addr: c.rtmp, LocalIP: ip, Stream: "idle"})
	server := c.edge.WaitSessionStart(t, p.LocalAddr(), 15*time.Second).Str("server")
	addr := p.LocalAddr()
	p.Close()
	if s := c.edge.WaitSession(t, addr, 15*time.Second); s.Server != server {
		t.Errorf("session of %s: start line says %s, end line %s", addr, server, s.Server)
	}
	return server
}

// setServer changes a server of backend "media" through the API.
func setServer(t *testing.T, api *harness.Admin, server string, ch harness.ServerChange) {
	t.Helper()
	if err := api.SetServer("media", server, ch); err != nil {
		t.Fatal(err)
	}
}
