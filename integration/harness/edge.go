package harness

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

// ErrLogTimeout is returned when an expected edge log line does not appear in time.
var ErrLogTimeout = errors.New("edge log line did not appear in time")

var (
	buildOnce sync.Once
	buildPath string
	buildErr  error
	buildDir  string
)

// BuildEdge builds ./cmd/rtmp-edge once per test binary and returns its path.
// A build failure fails every test that needs the binary, with the compiler output.
// With RTMP_EDGE_RACE set (to anything) the binary is built with -race.
func BuildEdge(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		root, err := moduleRoot()
		if err != nil {
			buildErr = err
			return
		}
		buildDir, err = os.MkdirTemp("", "rtmp-edge-integration-")
		if err != nil {
			buildErr = fmt.Errorf("make build dir: %w", err)
			return
		}
		out := filepath.Join(buildDir, "rtmp-edge")
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		args := []string{"build", "-o", out}
		if os.Getenv("RTMP_EDGE_RACE") != "" {
			// Races in the edge under real traffic fail the test that saw them
			// (StartEdge's cleanup looks for the detector's report).
			args = append(args, "-race")
		}
		cmd := exec.CommandContext(ctx, goTool(), append(args, "./cmd/rtmp-edge")...)
		cmd.Dir = root
		if msg, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build ./cmd/rtmp-edge: %w\n%s", err, msg)
			return
		}
		buildPath = out
	})
	if buildErr != nil {
		t.Fatalf("build rtmp-edge: %v", buildErr)
	}
	return buildPath
}

// Main runs the tests of a package that uses the harness and removes the edge
// binary built by BuildEdge afterwards. Use it from TestMain: harness.Main(m).
func Main(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

func goTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return "/usr/local/go/bin/go"
}

// moduleRoot walks up from the working directory to the directory with go.mod.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("find module root: %w", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("find module root: no go.mod above the working directory")
		}
		dir = parent
	}
}

// LogLine is one JSON log line of the edge.
type LogLine map[string]any

// Msg is the line's "msg" field.
func (l LogLine) Msg() string { return l.Str("msg") }

// Str returns field key as a string ("" when absent; numbers and bools formatted).
func (l LogLine) Str(key string) string {
	switch v := l[key].(type) {
	case nil:
		return ""
	case string:
		return v
	default:
		return fmt.Sprint(v)
	}
}

// ClientIP is the IP part of the line's "client" field.
func (l LogLine) ClientIP() string { return hostOf(l.Str("client")) }

// Session is a parsed "session end" line.
type Session struct {
	Client    string `json:"client"`
	Listener  string `json:"listener"`
	Proto     string `json:"proto"`
	App       string `json:"app"`
	TcURL     string `json:"tcurl"`
	FlashVer  string `json:"flashver"`
	Kind      string `json:"kind"`
	Reason    string `json:"reason"`
	Command   string `json:"command"`
	Stream    string `json:"stream"`
	Server    string `json:"server"`
	Misrouted bool   `json:"misrouted"`
	BytesIn   int64  `json:"bytes_in"`
	BytesOut  int64  `json:"bytes_out"`
	Duration  string `json:"duration"`
	End       string `json:"end"`
}

// ClientIP is the IP part of Client.
func (s Session) ClientIP() string { return hostOf(s.Client) }

func hostOf(addr string) string {
	if i := strings.LastIndexByte(addr, ':'); i >= 0 && !strings.HasSuffix(addr, "]") {
		return strings.Trim(addr[:i], "[]")
	}
	return addr
}

// Edge is a running rtmp-edge process bound to a test.
type Edge struct {
	Proc       *Proc
	ConfigPath string
	Listeners  map[string]string // listener name → address, from the config
	Metrics    string            // metrics address from the config, or ""

	mu      sync.Mutex
	lines   []LogLine
	raw     []byte // partial last line
	changed chan struct{}
}

// edgeConfigAddrs is the part of the config StartEdge needs to wait for readiness.
type edgeConfigAddrs struct {
	Metrics struct {
		Address string `yaml:"address"`
	} `yaml:"metrics"`
	Listeners []struct {
		Name    string `yaml:"name"`
		Address string `yaml:"address"`
	} `yaml:"listeners"`
}

// StartEdge writes yamlConfig to a file, runs `rtmp-edge -config F -log-format
// json` and returns once every listener accepts TCP connections (15 s bound).
// Its stderr JSON lines are captured. It is stopped in t.Cleanup (SIGTERM, then
// SIGKILL); when the test failed the log tail is printed.
func StartEdge(t testing.TB, yamlConfig string, extraArgs ...string) *Edge {
	t.Helper()
	bin := BuildEdge(t)
	var addrs edgeConfigAddrs
	if err := yaml.Unmarshal([]byte(yamlConfig), &addrs); err != nil {
		t.Fatalf("test config is not YAML: %v\n%s", err, yamlConfig)
	}
	e := &Edge{
		ConfigPath: filepath.Join(t.TempDir(), "edge.yaml"),
		Listeners:  map[string]string{},
		Metrics:    addrs.Metrics.Address,
		changed:    make(chan struct{}),
	}
	for _, l := range addrs.Listeners {
		e.Listeners[l.Name] = l.Address
	}
	if err := os.WriteFile(e.ConfigPath, []byte(yamlConfig), 0o644); err != nil {
		t.Fatalf("write edge config: %v", err)
	}
	argv := append([]string{bin, "-config", e.ConfigPath, "-log-format", "json"}, extraArgs...)
	p, err := startProc("rtmp-edge", e.feed, argv...)
	if err != nil {
		t.Fatalf("start rtmp-edge: %v", err)
	}
	e.Proc = p
	t.Cleanup(func() {
		if err := p.Stop(); err != nil && t.Failed() {
			t.Logf("rtmp-edge exit: %v", err)
		}
		out := p.Output()
		for _, bad := range []string{"WARNING: DATA RACE", "panic: ", "fatal error: "} {
			if strings.Contains(out, bad) {
				t.Errorf("rtmp-edge output contains %q", bad)
			}
		}
		if t.Failed() {
			t.Logf("--- rtmp-edge output (last 64 KiB):\n%s", p.Output())
		}
	})
	for name, addr := range e.Listeners {
		if err := waitAccept(p, addr, 15*time.Second); err != nil {
			t.Fatalf("rtmp-edge listener %s: %v\nconfig:\n%s\noutput:\n%s", name, err, yamlConfig, p.Output())
		}
	}
	return e
}

// feed receives the edge's stderr and splits it into JSON lines.
func (e *Edge) feed(b []byte) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.raw = append(e.raw, b...)
	added := false
	for {
		i := bytes.IndexByte(e.raw, '\n')
		if i < 0 {
			break
		}
		line := bytes.TrimSpace(e.raw[:i])
		e.raw = e.raw[i+1:]
		var l LogLine
		if len(line) > 0 && line[0] == '{' && json.Unmarshal(line, &l) == nil {
			e.lines = append(e.lines, l)
			added = true
		}
	}
	if added {
		close(e.changed)
		e.changed = make(chan struct{})
	}
}

// Logs returns a copy of the JSON log lines seen so far.
func (e *Edge) Logs() []LogLine {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]LogLine(nil), e.lines...)
}

// Sessions returns the "session end" lines seen so far.
func (e *Edge) Sessions() []Session {
	var out []Session
	for _, l := range e.Logs() {
		if l.Msg() != "session end" {
			continue
		}
		b, _ := json.Marshal(l)
		var s Session
		_ = json.Unmarshal(b, &s)
		out = append(out, s)
	}
	return out
}

// WaitLog waits up to timeout for a log line (already seen or new) that match
// accepts, and fails the test if none comes or the edge exits first.
func (e *Edge) WaitLog(t testing.TB, match func(LogLine) bool, timeout time.Duration) LogLine {
	t.Helper()
	l, err := e.AwaitLog(match, timeout)
	if err != nil {
		t.Fatalf("%v; edge log tail:\n%s", err, lastBytes([]byte(e.Proc.Output()), 6<<10))
	}
	return l
}

// AwaitLog is WaitLog returning an error instead of failing the test.
func (e *Edge) AwaitLog(match func(LogLine) bool, timeout time.Duration) (LogLine, error) {
	deadline := time.After(timeout)
	seen := 0
	for {
		e.mu.Lock()
		lines, changed := e.lines[seen:], e.changed
		e.mu.Unlock()
		for _, l := range lines {
			if match(l) {
				return l, nil
			}
		}
		seen += len(lines)
		select {
		case <-changed:
		case <-e.Proc.Done():
			// One last look: lines may have arrived with the exit.
			e.mu.Lock()
			rest := e.lines[seen:]
			e.mu.Unlock()
			for _, l := range rest {
				if match(l) {
					return l, nil
				}
			}
			_, err := e.Proc.Exited()
			return nil, fmt.Errorf("rtmp-edge exited (%v) before the expected log line", err)
		case <-deadline:
			return nil, fmt.Errorf("%w (%s)", ErrLogTimeout, timeout)
		}
	}
}

// WaitSession waits for the "session end" line of the client at addr
// ("ip:port", as the client's LocalAddr says) and returns it.
func (e *Edge) WaitSession(t testing.TB, clientAddr string, timeout time.Duration) Session {
	t.Helper()
	e.WaitLog(t, func(l LogLine) bool {
		return l.Msg() == "session end" && l.Str("client") == clientAddr
	}, timeout)
	for _, s := range e.Sessions() {
		if s.Client == clientAddr {
			return s
		}
	}
	t.Fatalf("session of %s vanished", clientAddr)
	return Session{}
}

// MetricsText fetches the Prometheus exposition from the configured metrics
// address (5 s bound, 4 MiB cap).
func (e *Edge) MetricsText() (string, error) {
	if e.Metrics == "" {
		return "", errors.New("fetch metrics: no metrics address in the config")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+e.Metrics+"/metrics", nil)
	if err != nil {
		return "", fmt.Errorf("build metrics request: %w", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", fmt.Errorf("fetch metrics: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return "", fmt.Errorf("read metrics: %w", err)
	}
	return string(b), nil
}

// MetricSum adds up the samples of metric name (e.g. "rtmp_edge_rejected_total")
// whose labels include every pair in labels.
func (e *Edge) MetricSum(name string, labels map[string]string) (float64, error) {
	text, err := e.MetricsText()
	if err != nil {
		return 0, err
	}
	var sum float64
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		line := sc.Text()
		rest, ok := strings.CutPrefix(line, name)
		if !ok || (rest != "" && rest[0] != '{' && rest[0] != ' ') {
			continue
		}
		match := true
		for k, v := range labels {
			if !strings.Contains(rest, k+`="`+v+`"`) {
				match = false
			}
		}
		f := strings.Fields(rest)
		if !match || len(f) == 0 {
			continue
		}
		v, err := strconv.ParseFloat(f[len(f)-1], 64)
		if err != nil {
			return 0, fmt.Errorf("metric line %q: %w", line, err)
		}
		sum += v
	}
	return sum, nil
}

// ServerUp reports whether server of backend is up: from the metrics gauge
// rtmp_edge_server_up{backend,server} when the edge exports it, otherwise from the
// last "server up"/"server down" log line for it (none: up, the initial state).
func (e *Edge) ServerUp(backend, server string) (bool, error) {
	if e.Metrics != "" {
		text, err := e.MetricsText()
		if err != nil {
			return false, err
		}
		sc := bufio.NewScanner(strings.NewReader(text))
		for sc.Scan() {
			line := sc.Text()
			if !strings.HasPrefix(line, "rtmp_edge_server_up{") ||
				!strings.Contains(line, `backend="`+backend+`"`) || !strings.Contains(line, `server="`+server+`"`) {
				continue
			}
			f := strings.Fields(line)
			return f[len(f)-1] == "1", nil
		}
	}
	up := true
	for _, l := range e.Logs() {
		if l.Str("backend") != backend || l.Str("server") != server {
			continue
		}
		switch l.Msg() {
		case "server up":
			up = true
		case "server down":
			up = false
		}
	}
	return up, nil
}

// WaitServersUp waits until every named server of backend is up (see ServerUp).
func (e *Edge) WaitServersUp(t testing.TB, backend string, servers []string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for _, s := range servers {
		for {
			up, err := e.ServerUp(backend, s)
			if up {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("server %s/%s not up within %s (metrics error: %v); edge log tail:\n%s",
					backend, s, timeout, err, lastBytes([]byte(e.Proc.Output()), 4<<10))
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
}
