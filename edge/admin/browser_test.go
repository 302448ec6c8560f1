package admin

import (
	"bytes"
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rtmp-edge/rtmp-edge/integration/peers"
)

// The stats page is a program of its own (it polls, diffs counters, draws);
// these tests run it in a real browser against a fake edge and read what it
// rendered.

// chromiumTimeout bounds one browser run; a cold start on a busy machine
// takes seconds, a hang must not take the package's whole timeout.
const chromiumTimeout = 2 * time.Minute

func chromium(t *testing.T) string {
	t.Helper()
	peers.Ensure(t, "chromium")
	bin, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatalf("chromium: %v", err)
	}
	return bin
}

// runChromium loads url headless with the page's timers running on virtual
// time (budget ms: budget/1000 polls, without waiting that long), then does
// what extra asks (--dump-dom, --screenshot=…).
func runChromium(t *testing.T, url string, budget int, extra ...string) []byte {
	t.Helper()
	bin := chromium(t)
	ctx, cancel := context.WithTimeout(context.Background(), chromiumTimeout)
	defer cancel()
	args := []string{
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--disable-dev-shm-usage", "--hide-scrollbars",
		// Only loopback resolves, so the page can reach nothing else (the rule
		// applies to IP literals too: 127.* must be excluded by name).
		"--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.*",
		"--user-data-dir=" + t.TempDir(),
		"--virtual-time-budget=" + strconv.Itoa(budget),
	}
	args = append(append(args, extra...), url)
	cmd := exec.CommandContext(ctx, bin, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	// Chromium forks helpers (zygote, renderer, GPU): run it in a process
	// group of its own and kill the whole group on timeout and at the end,
	// so no helper outlives the test.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	defer func() {
		if cmd.Process != nil {
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		}
	}()
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium %v: %v\n%s", extra, err, lastLinesOf(stderr.String(), 20))
	}
	return stdout.Bytes()
}

func lastLinesOf(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// stepClock is the edge's clock for a page on virtual time: the browser
// polls as fast as it can in real time, so each answer is stamped half a
// second after the previous one (two answers a poll), as if polled live.
func stepClock() func() time.Time {
	var mu sync.Mutex
	at := time.Now()
	return func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		at = at.Add(500 * time.Millisecond)
		return at
	}
}

// demoSource is a small but busy edge: two backends, a server down with a
// check error, one draining, publishers and players of several streams.
func demoSource() *fakeSource {
	now := time.Now().UTC()
	f := newFake()
	f.grow = true
	f.backends[0].Servers[0].Sessions = 142
	f.backends[0].Servers[1].Sessions = 37
	f.backends[0].Servers[1].Weight = 10
	// media03 takes the uploads; media04 is down.
	f.backends[0].Servers[2].Sessions = 2
	f.backends[0].Servers[2].Up = true
	f.backends[0].Servers[2].CheckError = ""
	f.backends[0].Servers = append(f.backends[0].Servers, ServerStatus{
		Name: "media04", Address: "10.0.0.4:1935", State: "ready", Weight: 10, MaxConn: 200,
		CheckError: "dial tcp 10.0.0.4:1935: connect: connection refused",
	})
	for i := range f.backends[0].Servers {
		f.backends[0].Servers[i].CheckedAt = now.Add(-time.Duration(i+1) * time.Second)
	}
	f.backends = append(f.backends, BackendStatus{
		Name: "bk_vod",
		Servers: []ServerStatus{
			{Name: "vod01", Address: "10.0.1.1:1935", State: "maint", Up: true, Weight: 5, Sessions: 0, MaxConn: 100, CheckedAt: now.Add(-time.Second)},
			{Name: "vod02", Address: "10.0.1.2:1935", State: "ready", Up: true, Weight: 5, Sessions: 96, MaxConn: 100, CheckedAt: now.Add(-time.Second)},
		},
		StickEntries: 41,
	})
	f.sessions = f.sessions[:0]
	add := func(id, client, proto, app, stream, kind, backend, server, pick string, age time.Duration) {
		up, down := int64(age.Seconds())*310000, int64(age.Seconds())*900
		if kind == "play" {
			up, down = down, up
		}
		f.sessions = append(f.sessions, SessionStatus{
			ID: id, Client: client, Listener: proto, Proto: proto, App: app, TcURL: proto + "://edge.example/" + app,
			Stream: stream, Kind: kind, Server: server, Backend: backend, Pick: pick, Phase: "relay",
			BytesIn: up, BytesOut: down, Started: now.Add(-age),
		})
	}
	add("s1a2b3", "127.0.0.7:50123", "rtmp", "live", "camera-north", "publish", "bk_rtmp", "media03", "upload", 3*time.Hour+12*time.Minute)
	add("s2b7e1", "127.0.0.9:40022", "rtmp", "live", "studio-a", "publish", "bk_rtmp", "media03", "upload", 47*time.Minute)
	add("s4c5d6", "127.0.0.8:50200", "rtmpt", "live", "camera-north", "play", "bk_rtmp", "media01", "stick", 25*time.Minute)
	add("s5d0a4", "127.0.0.10:51812", "rtmp", "live", "camera-north", "play", "bk_rtmp", "media01", "balance", 9*time.Minute+4*time.Second)
	add("s6e9f2", "127.0.0.11:38001", "rtmp", "live", "studio-a", "play", "bk_rtmp", "media02", "stick", 2*time.Minute+31*time.Second)
	add("s7f1c8", "127.0.0.12:60110", "rtmp", "vod", "archive/2026-11-30.flv", "play", "bk_vod", "vod02", "balance", 14*time.Second)
	add("s8a3b9", "127.0.0.13:44444", "rtmp", "live", "", "", "", "", "", 1*time.Second)
	f.sessions[0].Replicas = []ReplicaStatus{{Server: "media01", State: "live", Bytes: 5 << 20}, {Server: "media02", State: "joining"}}
	f.sessions[6].Phase = "handshake"
	f.sessions[6].BytesIn, f.sessions[6].BytesOut = 1537, 3073
	return f
}

// element returns the markup of the element whose opening tag carries attr
// (up to its closing </tag>), or "".
func element(dom, tag, attr string) string {
	re := regexp.MustCompile(`<` + tag + `\b[^>]*` + regexp.QuoteMeta(attr) + `[^>]*>`)
	loc := re.FindStringIndex(dom)
	if loc == nil {
		return ""
	}
	end := strings.Index(dom[loc[0]:], "</"+tag+">")
	if end < 0 {
		return dom[loc[0]:]
	}
	return dom[loc[0] : loc[0]+end]
}

// sparkRises tells whether row's outgoing sparkline has at least two points
// and one of them above the base line (y of an idle sample is 25).
func sparkRises(row string) bool {
	m := regexp.MustCompile(`<polyline class="out" points="([^"]*)"`).FindStringSubmatch(row)
	if m == nil {
		return false
	}
	pts := strings.Fields(m[1])
	rises := false
	for _, p := range pts {
		_, y, _ := strings.Cut(p, ",")
		if v, err := strconv.ParseFloat(y, 64); err == nil && v < 24 {
			rises = true
		}
	}
	return len(pts) >= 2 && rises
}

func TestPageInChromium(t *testing.T) {
	src := demoSource()
	// A client picks its stream name; the page must show it as text.
	src.sessions[5].Stream = `<img src=x onerror="document.title='owned'">`
	srv := httptest.NewServer(newHandler(src, Options{}, stepClock()))
	defer srv.Close()

	dom := string(runChromium(t, srv.URL+"/", 3000, "--dump-dom"))
	if !strings.Contains(dom, `id="backends"`) {
		t.Fatalf("not the stats page:\n%s", dom)
	}
	if strings.Contains(dom, "<title>owned") || strings.Contains(dom, `<img src="x"`) {
		t.Fatal("a stream name was rendered as markup")
	}
	if !strings.Contains(dom, `&lt;img src=x onerror=`) {
		t.Error("the hostile stream name is not shown as text")
	}
	if !strings.Contains(element(dom, "div", `id="conn"`), "live") {
		t.Errorf("connection status: %s", element(dom, "div", `id="conn"`))
	}

	for _, b := range src.Backends() {
		card := element(dom, "section", fmt.Sprintf(`data-backend="%s"`, b.Name))
		if card == "" {
			t.Errorf("no card for backend %s", b.Name)
		}
		for _, s := range b.Servers {
			row := element(dom, "tr", fmt.Sprintf(`data-server="%s"`, s.Name))
			if row == "" {
				t.Errorf("no row for server %s", s.Name)
				continue
			}
			if !strings.Contains(row, ">"+s.State+"<") || !strings.Contains(row, s.Address) {
				t.Errorf("%s: state %s or address missing: %s", s.Name, s.State, row)
			}
			sessions := fmt.Sprintf(">%d / %d<", s.Sessions, s.MaxConn)
			if !strings.Contains(row, sessions) {
				t.Errorf("%s: sessions %q missing: %s", s.Name, sessions, row)
			}
			if !regexp.MustCompile(fmt.Sprintf(`<td class="[^"]*\bweight\b[^"]*"[^>]*>%d<`, s.Weight)).MatchString(row) {
				t.Errorf("%s: weight %d missing: %s", s.Name, s.Weight, row)
			}
			if s.Up != !strings.Contains(row, `>down<`) {
				t.Errorf("%s: up=%v but row says otherwise: %s", s.Name, s.Up, row)
			}
			// A few polls of growing counters leave a sparkline that rises
			// off its base line, and a rate that is not zero.
			if s.Sessions > 0 {
				if !sparkRises(row) {
					t.Errorf("%s: no sparkline drawn: %s", s.Name, row)
				}
				if strings.Contains(row, "↑ 0 b/s") {
					t.Errorf("%s: zero rate shown for moving counters: %s", s.Name, row)
				}
			}
		}
	}
	m4 := element(dom, "tr", `data-server="media04"`)
	if !strings.Contains(m4, "connection refused") {
		t.Errorf("media04 lacks its check error: %s", m4)
	}
	if !strings.Contains(m4, `class="server ready down"`) {
		t.Errorf("media04 not marked down: %s", m4)
	}
	if m3 := element(dom, "tr", `data-server="media03"`); !strings.Contains(m3, `<span class="badge b-upload">upload`) {
		t.Errorf("media03 not marked as the upload server: %s", m3)
	}
	if m1 := element(dom, "tr", `data-server="media01"`); !strings.Contains(m1, `<span class="badge b-upload" hidden="">`) {
		t.Errorf("media01 marked as an upload server: %s", m1)
	}
	if got := element(dom, "section", `data-backend="bk_rtmp"`); !strings.Contains(got, `<span class="meta m-up bad">up <b class="num">3/4</b>`) {
		t.Errorf("bk_rtmp up count: %s", got)
	}
	if !strings.Contains(element(dom, "tr", `data-server="media02"`), `class="server drain"`) {
		t.Errorf("media02 not marked drain")
	}
	if !strings.Contains(element(dom, "tr", `data-server="media01"`), `data-action="ready" disabled`) {
		t.Errorf("media01's ready button should be disabled (it is ready): %s", element(dom, "tr", `data-server="media01"`))
	}
	if c := element(dom, "section", `data-backend="bk_vod"`); !strings.Contains(c, `>41<`) {
		t.Errorf("bk_vod stick entries missing: %s", c)
	}

	for _, s := range src.Sessions() {
		row := element(dom, "tr", fmt.Sprintf(`data-session="%s"`, s.ID))
		if row == "" {
			t.Errorf("no row for session %s", s.ID)
			continue
		}
		stream := strings.NewReplacer("<", "&lt;", ">", "&gt;", "&", "&amp;").Replace(s.Stream)
		for _, want := range []string{stream, s.Client, s.App} {
			if !strings.Contains(row, want) {
				t.Errorf("session %s: %q missing: %s", s.ID, want, row)
			}
		}
		if s.Kind != "" && !strings.Contains(row, ">"+s.Kind+"<") {
			t.Errorf("session %s: kind %s missing: %s", s.ID, s.Kind, row)
		}
		if s.Server != "" && !strings.Contains(row, s.Server) {
			t.Errorf("session %s: server %s missing: %s", s.ID, s.Server, row)
		}
		if !strings.Contains(row, `data-action="end"`) {
			t.Errorf("session %s: no end button", s.ID)
		}
	}
	if row := element(dom, "tr", `data-session="s1a2b3"`); !strings.Contains(row, "replicas: media01 live, media02 joining") {
		t.Errorf("s1a2b3: replicas missing: %s", row)
	}
	if row := element(dom, "tr", `data-session="s2b7e1"`); strings.Contains(row, "replicas:") {
		t.Errorf("s2b7e1 has no replicas, the page says: %s", row)
	}
	if !strings.Contains(element(dom, "tr", `data-session="s1a2b3"`), ">3h12m<") {
		t.Errorf("s1a2b3 age: %s", element(dom, "tr", `data-session="s1a2b3"`))
	}
	if got := element(dom, "b", `id="k-sessions"`); !strings.HasSuffix(got, fmt.Sprintf(">%d", len(src.Sessions()))) {
		t.Errorf("session count %q", got)
	}
	if got := element(dom, "b", `id="k-down"`); !strings.HasSuffix(got, ">1") {
		t.Errorf("servers down %q", got)
	}
}

// artifactDir is where pictures worth looking at after a run are kept.
func artifactDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("RTMP_EDGE_ARTIFACTS")
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "rtmp-edge-artifacts")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestPageScreenshot keeps a picture of the page as a test artifact, in
// $RTMP_EDGE_ARTIFACTS (default: <tmp>/rtmp-edge-artifacts).
func TestPageScreenshot(t *testing.T) {
	srv := httptest.NewServer(newHandler(demoSource(), Options{}, stepClock()))
	defer srv.Close()
	dir := artifactDir(t)
	// Half a minute of polls, so the sparklines have a history to show.
	for _, v := range []struct{ name, flag string }{{"admin-stats-page.png", ""}, {"admin-stats-page-dark.png", "--force-dark-mode"}} {
		file := filepath.Join(dir, v.name)
		os.Remove(file)
		args := []string{"--screenshot=" + file, "--window-size=1280,900"}
		if v.flag != "" {
			args = append(args, v.flag)
		}
		runChromium(t, srv.URL+"/", 30000, args...)
		png, err := os.ReadFile(file)
		if err != nil {
			t.Fatalf("no screenshot: %v", err)
		}
		if !bytes.HasPrefix(png, []byte("\x89PNG\r\n\x1a\n")) || len(png) < 10000 {
			t.Fatalf("screenshot is not a plausible PNG (%d bytes)", len(png))
		}
		t.Logf("screenshot: %s", file)
	}
}

// TestPageUsesEdgeClock: ages count from the edge's clock in each answer,
// not the browser's, which may be hours off on an operator's laptop.
func TestPageUsesEdgeClock(t *testing.T) {
	src := newFake()
	clock := stepClock()
	edgeNow := clock().Add(2 * time.Hour) // the edge's clock runs 2 h ahead of this machine's
	src.sessions[0].Started = edgeNow.Add(-5 * time.Minute)
	src.sessions = src.sessions[:1]
	srv := httptest.NewServer(newHandler(src, Options{}, func() time.Time { return clock().Add(2 * time.Hour) }))
	defer srv.Close()
	dom := string(runChromium(t, srv.URL+"/", 3000, "--dump-dom"))
	age := element(dom, "td", `class="r num age"`)
	if !regexp.MustCompile(`>5m0\d+s$`).MatchString(age) {
		t.Errorf("age of a session started 5 min ago by the edge's clock: %q", age)
	}
}
