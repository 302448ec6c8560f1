package harness

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
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

// Edge is a running rtmp-edge process bound to a test.
type Edge struct {
	Proc       *Proc
	ConfigPath string
	Listeners  map[string]string // listener name → address, from the config
	Metrics    string            // admin address (metrics, API) from the config, or ""
	AdminToken string            // admin token from the config, or ""

	mu      sync.Mutex
	lines   []LogLine
	raw     []byte // partial last line
	changed chan struct{}
}

// edgeConfigAddrs is the part of the config StartEdge needs to wait for readiness.
type edgeConfigAddrs struct {
	Admin struct {
		Address string `yaml:"address"`
		Token   string `yaml:"token"`
	} `yaml:"admin"`
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
		Metrics:    addrs.Admin.Address,
		AdminToken: addrs.Admin.Token,
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
