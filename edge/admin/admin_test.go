package admin

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

const testToken = "s3cret-token"

// syncBuffer collects log output written from handler goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type rig struct {
	t   *testing.T
	src *fakeSource
	srv *httptest.Server
	log *syncBuffer
	// auth, when set, is sent as the Authorization header.
	auth string
}

func newRig(t *testing.T, token string) *rig {
	t.Helper()
	r := &rig{t: t, src: newFake(), log: &syncBuffer{}}
	metrics := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		io.WriteString(w, "rtmp_edge_sessions 3\n")
	})
	h := NewHandler(r.src, Options{
		Token:   token,
		Metrics: metrics,
		Logger:  slog.New(slog.NewJSONHandler(r.log, nil)),
	})
	r.srv = httptest.NewServer(h)
	t.Cleanup(r.srv.Close)
	if token != "" {
		r.auth = "Bearer " + token
	}
	return r
}

type answer struct {
	status int
	header http.Header
	body   []byte
}

func (a answer) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(a.body, &m); err != nil {
		t.Fatalf("body is not a JSON object: %v\n%s", err, a.body)
	}
	return m
}

func (r *rig) do(method, path string, body string, hdr ...string) answer {
	r.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, r.srv.URL+path, rd)
	if err != nil {
		r.t.Fatal(err)
	}
	if r.auth != "" {
		req.Header.Set("Authorization", r.auth)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		if hdr[i+1] == "" {
			req.Header.Del(hdr[i])
		} else {
			req.Header.Set(hdr[i], hdr[i+1])
		}
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		r.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		r.t.Fatal(err)
	}
	return answer{status: resp.StatusCode, header: resp.Header, body: b}
}

// wantError checks an API error answer: status, JSON content type and a
// non-empty message containing want.
func wantError(t *testing.T, a answer, status int, want string) {
	t.Helper()
	if a.status != status {
		t.Fatalf("status %d, want %d; body %s", a.status, status, a.body)
	}
	if ct := a.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q, want application/json", ct)
	}
	msg, _ := a.json(t)["error"].(string)
	if msg == "" || !strings.Contains(msg, want) {
		t.Errorf("error message %q, want one containing %q", msg, want)
	}
}

func keys(m map[string]any) []string {
	var k []string
	for key := range m {
		k = append(k, key)
	}
	sort.Strings(k)
	return k
}

func sorted(s ...string) []string {
	s = slices.Clone(s)
	sort.Strings(s)
	return s
}

// checkStamp wants a list answer's "time": the edge's clock now, RFC 3339
// UTC with milliseconds.
func checkStamp(t *testing.T, v any) {
	t.Helper()
	str, _ := v.(string)
	at, err := time.Parse("2006-01-02T15:04:05.000Z", str)
	if err != nil {
		t.Fatalf("time %v: %v", v, err)
	}
	if d := time.Since(at); d < -time.Second || d > time.Minute {
		t.Errorf("time %s is %v away from now", str, d)
	}
}

func TestHealthz(t *testing.T) {
	for _, token := range []string{"", testToken} {
		t.Run(fmt.Sprintf("token=%q", token), func(t *testing.T) {
			r := newRig(t, token)
			r.auth = "" // balancers hold no token
			a := r.do("GET", "/healthz", "")
			if a.status != 200 || string(a.body) != "ok\n" {
				t.Fatalf("ready: %d %q, want 200 ok", a.status, a.body)
			}
			r.src.mu.Lock()
			r.src.notReady = true
			r.src.mu.Unlock()
			a = r.do("GET", "/healthz", "")
			if a.status != 503 || string(a.body) != "shutting down\n" {
				t.Fatalf("shutting down: %d %q, want 503 shutting down", a.status, a.body)
			}
			if a := r.do("HEAD", "/healthz", ""); a.status != 503 {
				t.Fatalf("HEAD: %d, want 503", a.status)
			}
		})
	}
}

func TestMetrics(t *testing.T) {
	r := newRig(t, "")
	a := r.do("GET", "/metrics", "")
	if a.status != 200 || string(a.body) != "rtmp_edge_sessions 3\n" {
		t.Fatalf("/metrics: %d %q", a.status, a.body)
	}
	h := NewHandler(newFake(), Options{})
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != 404 {
		t.Fatalf("/metrics without a metrics handler: %d, want 404", rec.Code)
	}
}

func TestBackendsJSON(t *testing.T) {
	r := newRig(t, "")
	a := r.do("GET", "/api/v1/backends", "")
	if a.status != 200 || a.header.Get("Content-Type") != "application/json" {
		t.Fatalf("%d %s: %s", a.status, a.header.Get("Content-Type"), a.body)
	}
	top := a.json(t)
	if got := keys(top); !slices.Equal(got, []string{"backends", "time"}) {
		t.Fatalf("top-level keys %v", got)
	}
	checkStamp(t, top["time"])
	bs := top["backends"].([]any)
	if len(bs) != 1 {
		t.Fatalf("%d backends, want 1", len(bs))
	}
	b := bs[0].(map[string]any)
	if got, want := keys(b), sorted("name", "servers", "queue", "stick_entries"); !slices.Equal(got, want) {
		t.Fatalf("backend keys %v, want %v", got, want)
	}
	if b["name"] != "bk_rtmp" || b["queue"] != 1.0 || b["stick_entries"] != 3.0 {
		t.Errorf("backend %v", b)
	}
	servers := b["servers"].([]any)
	if len(servers) != 3 {
		t.Fatalf("%d servers, want 3", len(servers))
	}
	s := servers[0].(map[string]any)
	want := sorted("name", "address", "state", "up", "weight", "sessions", "maxconn", "upload", "bytes_in", "bytes_out", "checked_at", "check_error")
	if got := keys(s); !slices.Equal(got, want) {
		t.Fatalf("server keys %v, want %v", got, want)
	}
	if s["name"] != "media01" || s["address"] != "10.0.0.1:1935" || s["state"] != "ready" || s["up"] != true ||
		s["weight"] != 10.0 || s["sessions"] != 2.0 || s["maxconn"] != 200.0 || s["upload"] != false ||
		s["bytes_in"] != 1000.0 || s["bytes_out"] != 50000.0 || s["checked_at"] != "2026-12-01T21:00:00Z" || s["check_error"] != "" {
		t.Errorf("media01 %v", s)
	}
	s3 := servers[2].(map[string]any)
	if s3["up"] != false || s3["upload"] != true || !strings.Contains(s3["check_error"].(string), "refused") {
		t.Errorf("media03 %v", s3)
	}
}

func TestSessionsJSON(t *testing.T) {
	r := newRig(t, "")
	a := r.do("GET", "/api/v1/sessions", "")
	if a.status != 200 {
		t.Fatalf("%d %s", a.status, a.body)
	}
	top := a.json(t)
	if got := keys(top); !slices.Equal(got, []string{"sessions", "time"}) {
		t.Fatalf("top-level keys %v", got)
	}
	checkStamp(t, top["time"])
	ss := top["sessions"].([]any)
	if len(ss) != 2 {
		t.Fatalf("%d sessions, want 2", len(ss))
	}
	s := ss[0].(map[string]any)
	want := sorted("id", "client", "listener", "proto", "app", "tcurl", "stream", "kind", "server", "backend", "pick", "phase", "bytes_in", "bytes_out", "started", "replicas")
	if got := keys(s); !slices.Equal(got, want) {
		t.Fatalf("session keys %v, want %v", got, want)
	}
	// A replicated publish lists its replicas; other sessions have no key.
	reps := s["replicas"].([]any)
	r0, r1 := reps[0].(map[string]any), reps[1].(map[string]any)
	if got := keys(r0); !slices.Equal(got, sorted("server", "state", "bytes", "drops", "rejoins", "lag_ms", "queued")) {
		t.Errorf("replica keys %v", got)
	}
	if len(reps) != 2 || r0["server"] != "media01" || r0["state"] != "live" || r0["bytes"] != 120000.0 || r0["lag_ms"] != 12.0 || r0["queued"] != 800.0 ||
		r1["server"] != "media02" || r1["state"] != "backoff" || r1["drops"] != 1.0 || r1["end"] != "lag 5.1s" {
		t.Errorf("replicas %v", reps)
	}
	if _, ok := ss[1].(map[string]any)["replicas"]; ok {
		t.Errorf("a player lists replicas: %v", ss[1])
	}
	if s["id"] != "s1a2b3" || s["client"] != "127.0.0.7:50123" || s["listener"] != "rtmp" || s["proto"] != "rtmp" ||
		s["app"] != "live" || s["tcurl"] != "rtmp://edge/live" || s["stream"] != "camera-north" || s["kind"] != "publish" ||
		s["server"] != "media03" || s["backend"] != "bk_rtmp" || s["pick"] != "upload" || s["phase"] != "relay" ||
		s["bytes_in"] != 123456.0 || s["bytes_out"] != 3456.0 || s["started"] != "2026-12-01T21:00:00Z" {
		t.Errorf("session %v", s)
	}
}

func TestEmptyListsAreArrays(t *testing.T) {
	r := newRig(t, "")
	r.src.mu.Lock()
	r.src.backends = []BackendStatus{{Name: "empty"}}
	r.src.sessions = nil
	r.src.mu.Unlock()
	if a := r.do("GET", "/api/v1/backends", ""); !bytes.Contains(a.body, []byte(`"servers":[]`)) {
		t.Errorf("backend without servers: %s", a.body)
	}
	if a := r.do("GET", "/api/v1/sessions", ""); !strings.HasPrefix(string(a.body), `{"sessions":[],"time":`) {
		t.Errorf("no sessions: %s", a.body)
	}
	r.src.mu.Lock()
	r.src.backends = nil
	r.src.mu.Unlock()
	if a := r.do("GET", "/api/v1/backends", ""); !strings.HasPrefix(string(a.body), `{"backends":[],"time":`) {
		t.Errorf("no backends: %s", a.body)
	}
}

func TestUpdateServer(t *testing.T) {
	r := newRig(t, "")
	a := r.do("PUT", "/api/v1/backends/bk_rtmp/servers/media01", `{"state":"drain"}`)
	if a.status != 200 {
		t.Fatalf("drain: %d %s", a.status, a.body)
	}
	if got := a.json(t); got["name"] != "media01" || got["state"] != "drain" || got["weight"] != 10.0 {
		t.Errorf("answer %v", got)
	}
	if s := r.src.server("bk_rtmp", "media01"); s.State != "drain" {
		t.Errorf("state after drain: %q", s.State)
	}
	for _, st := range []string{"maint", "ready"} {
		a := r.do("PUT", "/api/v1/backends/bk_rtmp/servers/media01", `{"state":"`+st+`"}`)
		if a.status != 200 || r.src.server("bk_rtmp", "media01").State != st {
			t.Fatalf("%s: %d %s", st, a.status, a.body)
		}
	}
	a = r.do("PUT", "/api/v1/backends/bk_rtmp/servers/media02", `{"weight":0}`)
	if a.status != 200 || r.src.server("bk_rtmp", "media02").Weight != 0 || r.src.server("bk_rtmp", "media02").State != "drain" {
		t.Fatalf("weight 0: %d %s (%+v)", a.status, a.body, r.src.server("bk_rtmp", "media02"))
	}
	a = r.do("PUT", "/api/v1/backends/bk_rtmp/servers/media03", `{"state":"ready","weight":256}`)
	if s := r.src.server("bk_rtmp", "media03"); a.status != 200 || s.Weight != 256 || s.State != "ready" {
		t.Fatalf("both: %d %s (%+v)", a.status, a.body, s)
	}

	logs := r.log.String()
	for _, want := range []string{`"msg":"admin: server updated"`, `"level":"INFO"`, `"remote":"127.0.0.1:`, `"changes":"state ready→drain"`, `"changes":"weight 10→0"`, `"changes":"state ready (unchanged), weight 8→256"`} {
		if !strings.Contains(logs, want) {
			t.Errorf("log lacks %s:\n%s", want, logs)
		}
	}
}

func TestUpdateServerBadRequests(t *testing.T) {
	r := newRig(t, "")
	path := "/api/v1/backends/bk_rtmp/servers/media01"
	big := `{"state":"drain"` + strings.Repeat(" ", maxBody) + `}`
	cases := []struct{ name, body, want string }{
		{"unknown state", `{"state":"down"}`, "state"},
		{"state case", `{"state":"DRAIN"}`, "state"},
		{"weight too big", `{"weight":257}`, "weight"},
		{"weight negative", `{"weight":-1}`, "weight"},
		{"weight not a number", `{"weight":"5"}`, "weight"},
		{"weight fraction", `{"weight":1.5}`, "weight"},
		{"unknown field", `{"state":"drain","wieght":5}`, "wieght"},
		{"nothing", `{}`, "nothing to change"},
		{"empty body", ``, "body"},
		{"not JSON", `state=drain`, "body"},
		{"two values", `{"state":"drain"}{"state":"maint"}`, "more than one"},
		{"too big", big, "larger than 4096"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			wantError(t, r.do("PUT", path, c.body), 400, c.want)
			if s := r.src.server("bk_rtmp", "media01"); s.State != "ready" || s.Weight != 10 {
				t.Errorf("a refused request changed the server: %+v", s)
			}
		})
	}
	// Just under the limit is fine: the limit is about size, not content.
	ok := `{"state":"drain"` + strings.Repeat(" ", maxBody-len(`{"state":"drain"}`)) + `}`
	if a := r.do("PUT", path, ok); a.status != 200 {
		t.Fatalf("body of exactly %d bytes: %d %s", len(ok), a.status, a.body)
	}
}

func TestUpdateServerNotFound(t *testing.T) {
	r := newRig(t, "")
	wantError(t, r.do("PUT", "/api/v1/backends/nope/servers/media01", `{"state":"drain"}`), 404, "nope")
	wantError(t, r.do("PUT", "/api/v1/backends/bk_rtmp/servers/media09", `{"state":"drain"}`), 404, "media09")
	if !strings.Contains(r.log.String(), `"msg":"admin: server update refused"`) {
		t.Errorf("refused update not logged:\n%s", r.log.String())
	}
}

func TestSourceErrorMapping(t *testing.T) {
	r := newRig(t, "")
	path := "/api/v1/backends/bk_rtmp/servers/media01"
	r.src.failWith = fmt.Errorf("weight 0 would leave no server: %w", ErrInvalid)
	wantError(t, r.do("PUT", path, `{"weight":0}`), 400, "no server")
	r.src.failWith = errors.New("pool is being rebuilt")
	wantError(t, r.do("PUT", path, `{"weight":0}`), 500, "rebuilt")
}

func TestEndSession(t *testing.T) {
	r := newRig(t, "")
	a := r.do("DELETE", "/api/v1/sessions/s1a2b3", "")
	if a.status != 204 {
		t.Fatalf("%d %s", a.status, a.body)
	}
	if !slices.Equal(r.src.ended, []string{"s1a2b3"}) {
		t.Errorf("ended %v", r.src.ended)
	}
	logs := r.log.String()
	for _, want := range []string{`"msg":"admin: session ended"`, `"id":"s1a2b3"`, `"stream":"camera-north"`, `"client":"127.0.0.7:50123"`, `"remote":"127.0.0.1:`} {
		if !strings.Contains(logs, want) {
			t.Errorf("log lacks %s:\n%s", want, logs)
		}
	}
	wantError(t, r.do("DELETE", "/api/v1/sessions/s1a2b3", ""), 404, "s1a2b3")
}

func TestForgetStick(t *testing.T) {
	r := newRig(t, "")
	// The IPv4-mapped IPv6 form names the same client.
	a := r.do("DELETE", "/api/v1/backends/bk_rtmp/stick/"+url.PathEscape("::ffff:127.0.0.7"), "")
	if a.status != 204 {
		t.Fatalf("%d %s", a.status, a.body)
	}
	if r.src.sticks["bk_rtmp"][netip.MustParseAddr("127.0.0.7")] {
		t.Error("entry still there")
	}
	if !strings.Contains(r.log.String(), `"msg":"admin: stick entry forgotten","remote":"127.0.0.1:`) ||
		!strings.Contains(r.log.String(), `"client":"127.0.0.7"`) {
		t.Errorf("not logged:\n%s", r.log.String())
	}
	wantError(t, r.do("DELETE", "/api/v1/backends/bk_rtmp/stick/127.0.0.7", ""), 404, "127.0.0.7")
	wantError(t, r.do("DELETE", "/api/v1/backends/nope/stick/127.0.0.7", ""), 404, "nope")
	for _, bad := range []string{"127.0.0.300", "example.com", "127.0.0.1:1935", "fe80::1%25eth0", "1"} {
		wantError(t, r.do("DELETE", "/api/v1/backends/bk_rtmp/stick/"+bad, ""), 400, "not an IP")
	}
}

func TestMethodNotAllowed(t *testing.T) {
	r := newRig(t, "")
	cases := []struct{ method, path, allow string }{
		{"POST", "/api/v1/backends", "GET, HEAD"},
		{"DELETE", "/api/v1/backends", "GET, HEAD"},
		{"PUT", "/api/v1/sessions", "GET, HEAD"},
		{"GET", "/api/v1/backends/bk_rtmp/servers/media01", "PUT"},
		{"POST", "/api/v1/backends/bk_rtmp/servers/media01", "PUT"},
		{"GET", "/api/v1/sessions/s1a2b3", "DELETE"},
		{"PUT", "/api/v1/backends/bk_rtmp/stick/127.0.0.7", "DELETE"},
		{"POST", "/healthz", "GET, HEAD"},
		{"POST", "/", "GET, HEAD"},
	}
	for _, c := range cases {
		a := r.do(c.method, c.path, "")
		wantError(t, a, 405, "Method Not Allowed")
		if got := a.header.Get("Allow"); got != c.allow {
			t.Errorf("%s %s: Allow %q, want %q", c.method, c.path, got, c.allow)
		}
	}
	if r.src.server("bk_rtmp", "media01") != newFake().server("bk_rtmp", "media01") || len(r.src.ended) != 0 {
		t.Error("a refused method changed something")
	}
}

func TestNotFound(t *testing.T) {
	r := newRig(t, "")
	for _, p := range []string{"/nope", "/api/v1", "/api/v1/servers", "/api/v2/backends", "/index.html"} {
		wantError(t, r.do("GET", p, ""), 404, "Not Found")
	}
}

func TestAuthRequired(t *testing.T) {
	r := newRig(t, testToken)
	routes := []struct{ method, path, body string }{
		{"GET", "/metrics", ""},
		{"GET", "/api/v1/backends", ""},
		{"GET", "/api/v1/sessions", ""},
		{"PUT", "/api/v1/backends/bk_rtmp/servers/media01", `{"state":"maint"}`},
		{"DELETE", "/api/v1/sessions/s1a2b3", ""},
		{"DELETE", "/api/v1/backends/bk_rtmp/stick/127.0.0.7", ""},
		{"GET", "/nope", ""}, // unknown paths do not reveal what exists
		{"POST", "/logout", ""},
	}
	for _, auth := range []string{"", "Bearer wrong", "Bearer " + testToken + "x", "Basic " + testToken, testToken, "Bearer"} {
		r.auth = auth
		for _, rt := range routes {
			a := r.do(rt.method, rt.path, rt.body)
			if a.status != 401 {
				t.Fatalf("auth %q: %s %s: %d, want 401", auth, rt.method, rt.path, a.status)
			}
			if got := a.header.Get("WWW-Authenticate"); !strings.HasPrefix(got, "Bearer ") {
				t.Errorf("%s %s: WWW-Authenticate %q", rt.method, rt.path, got)
			}
			wantError(t, a, 401, "token")
		}
	}
	if r.src.server("bk_rtmp", "media01").State != "ready" || len(r.src.ended) != 0 || !r.src.sticks["bk_rtmp"][netip.MustParseAddr("127.0.0.7")] {
		t.Fatal("an unauthorized request changed something")
	}

	r.auth = "Bearer " + testToken
	for _, rt := range routes[:6] {
		if a := r.do(rt.method, rt.path, rt.body); a.status >= 300 {
			t.Errorf("authorized %s %s: %d %s", rt.method, rt.path, a.status, a.body)
		}
	}
	r.auth = "bearer " + testToken // the scheme is case-insensitive (RFC 9110 §11.1)
	if a := r.do("GET", "/api/v1/backends", ""); a.status != 200 {
		t.Errorf("lower-case scheme: %d", a.status)
	}
}

func TestNoTokenNoAuth(t *testing.T) {
	r := newRig(t, "")
	for _, p := range []string{"/", "/metrics", "/api/v1/backends", "/api/v1/sessions"} {
		if a := r.do("GET", p, ""); a.status != 200 {
			t.Errorf("GET %s without a token configured: %d", p, a.status)
		}
	}
	// A header sent anyway is ignored, not an error.
	r.auth = "Bearer whatever"
	if a := r.do("GET", "/api/v1/backends", ""); a.status != 200 {
		t.Errorf("with a stray header: %d", a.status)
	}
}

func TestPage(t *testing.T) {
	r := newRig(t, "")
	a := r.do("GET", "/", "")
	if a.status != 200 || !strings.HasPrefix(a.header.Get("Content-Type"), "text/html") {
		t.Fatalf("%d %s", a.status, a.header.Get("Content-Type"))
	}
	if !bytes.Contains(a.body, []byte(`id="backends"`)) || !bytes.Contains(a.body, []byte(`/api/v1/sessions`)) {
		t.Error("not the stats page")
	}
	if bytes.Contains(a.body, []byte(`action="/logout"`)) {
		t.Error("sign-out button without a sign-in")
	}
	csp := a.header.Get("Content-Security-Policy")
	if !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "connect-src 'self'") {
		t.Errorf("CSP %q", csp)
	}
	// Self-contained: nothing is loaded from anywhere else.
	for _, ref := range []string{"http://", "https://", "//fonts", "src=", "<link", "@import", "url("} {
		if i := bytes.Index(a.body, []byte(ref)); i >= 0 && !bytes.Contains(a.body[i:min(i+40, len(a.body))], []byte("www.w3.org/2000/svg")) {
			t.Errorf("page refers to %q: %s", ref, a.body[i:min(i+60, len(a.body))])
		}
	}
}

// loginCookie signs in through the form and returns the cookie it set.
func loginCookie(t *testing.T, r *rig, token string) (answer, *http.Cookie) {
	t.Helper()
	saved := r.auth
	r.auth = ""
	defer func() { r.auth = saved }()
	form := url.Values{"token": {token}}.Encode()
	req, _ := http.NewRequest("POST", r.srv.URL+"/login", strings.NewReader(form))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	a := answer{status: resp.StatusCode, header: resp.Header, body: b}
	for _, c := range resp.Cookies() {
		if c.Name == CookieName {
			return a, c
		}
	}
	return a, nil
}

func TestBrowserLogin(t *testing.T) {
	r := newRig(t, testToken)
	r.auth = ""
	a := r.do("GET", "/", "")
	if a.status != 401 || !bytes.Contains(a.body, []byte(`<form method="post" action="/login"`)) {
		t.Fatalf("unauthorized page: %d\n%s", a.status, a.body)
	}
	if bytes.Contains(a.body, []byte(`/api/v1/`)) {
		t.Error("the login form carries the stats page")
	}

	a, c := loginCookie(t, r, "wrong")
	if a.status != 401 || c != nil || !bytes.Contains(a.body, []byte("Wrong token")) {
		t.Fatalf("wrong token: %d cookie %v\n%s", a.status, c, a.body)
	}
	a, c = loginCookie(t, r, testToken)
	if a.status != 303 || a.header.Get("Location") != "/" || c == nil {
		t.Fatalf("right token: %d %v cookie %v", a.status, a.header, c)
	}
	if c.Value == testToken || strings.Contains(c.Value, testToken) {
		t.Error("the cookie carries the token itself")
	}
	if !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Path != "/" {
		t.Errorf("cookie attributes %+v", c)
	}
	if !strings.Contains(r.log.String(), `"msg":"admin: login failed"`) || !strings.Contains(r.log.String(), `"msg":"admin: login"`) {
		t.Errorf("logins not logged:\n%s", r.log.String())
	}

	cookie := c.Name + "=" + c.Value
	if a := r.do("GET", "/", "", "Cookie", cookie); a.status != 200 || !bytes.Contains(a.body, []byte(`id="backends"`)) ||
		!bytes.Contains(a.body, []byte(`<form method="post" action="/logout"`)) {
		t.Fatalf("page with cookie (and a sign-out button): %d", a.status)
	}
	if a := r.do("GET", "/api/v1/sessions", "", "Cookie", cookie); a.status != 200 {
		t.Fatalf("API with cookie: %d", a.status)
	}
	if a := r.do("GET", "/api/v1/sessions", "", "Cookie", c.Name+"=forged"); a.status != 401 {
		t.Fatalf("forged cookie: %d", a.status)
	}
	// A wrong header is not rescued by a good cookie.
	r.auth = "Bearer wrong"
	if a := r.do("GET", "/api/v1/sessions", "", "Cookie", cookie); a.status != 401 {
		t.Fatalf("wrong header with good cookie: %d", a.status)
	}
	r.auth = ""

	// State changes with the cookie must come from this origin.
	path := "/api/v1/backends/bk_rtmp/servers/media01"
	wantError(t, r.do("PUT", path, `{"state":"maint"}`, "Cookie", cookie, "Origin", "https://evil.example"), 403, "cross-origin")
	wantError(t, r.do("DELETE", "/api/v1/sessions/s1a2b3", "", "Cookie", cookie, "Sec-Fetch-Site", "cross-site"), 403, "cross-origin")
	wantError(t, r.do("DELETE", "/api/v1/sessions/s1a2b3", "", "Cookie", cookie, "Origin", "null"), 403, "cross-origin")
	wantError(t, r.do("DELETE", "/api/v1/sessions/s1a2b3", "", "Cookie", cookie, "Origin", r.srv.URL, "Sec-Fetch-Site", "same-site"), 403, "cross-origin")
	if r.src.server("bk_rtmp", "media01").State != "ready" || len(r.src.ended) != 0 {
		t.Fatal("a cross-origin request changed something")
	}
	// What a browser's own form post may look like: Origin null, the fetch
	// metadata saying same-origin.
	if a := r.do("DELETE", "/api/v1/sessions/s1a2b3", "", "Cookie", cookie, "Origin", "null", "Sec-Fetch-Site", "same-origin"); a.status != 204 {
		t.Fatalf("same-origin by Sec-Fetch-Site: %d %s", a.status, a.body)
	}
	if a := r.do("PUT", path, `{"state":"maint"}`, "Cookie", cookie, "Origin", r.srv.URL); a.status != 200 {
		t.Fatalf("same-origin PUT: %d %s", a.status, a.body)
	}
	// The Bearer header is no ambient credential: Origin does not matter.
	r.auth = "Bearer " + testToken
	if a := r.do("PUT", path, `{"state":"ready"}`, "Origin", "https://tool.example"); a.status != 200 {
		t.Fatalf("bearer PUT with a foreign Origin: %d %s", a.status, a.body)
	}
	r.auth = ""

	a = r.do("POST", "/logout", "", "Cookie", cookie, "Origin", r.srv.URL)
	if a.status != 303 || !strings.Contains(a.header.Get("Set-Cookie"), "Max-Age=0") {
		t.Fatalf("logout: %d %v", a.status, a.header)
	}
}

func TestLoginBodyLimit(t *testing.T) {
	r := newRig(t, testToken)
	_, c := loginCookie(t, r, testToken+strings.Repeat("x", 2*maxBody))
	if c != nil {
		t.Fatal("oversized login accepted")
	}
}
