//go:build linux

package netns

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
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rtmp-edge/rtmp-edge/integration/harness"
)

// Bounds of the edge's start-up.
const (
	edgeStartTimeout = 20 * time.Second
	maxMetricsBytes  = 4 << 20
)

// EdgeMetricsAddr is where the lab's edge serves /metrics, inside the edge namespace.
const EdgeMetricsAddr = "127.0.0.1:9935"

// ErrServersDown means the edge's health checks never marked every server up.
var ErrServersDown = errors.New("netns: edge does not report every server up")

// Edge is rtmp-edge running in the lab's edge namespace with JSON logs.
type Edge struct {
	Proc    *harness.Proc
	Config  string
	metrics *http.Client
}

// StartEdge validates yamlConfig with `rtmp-edge -check`, runs the edge in the
// edge namespace, and returns once every listener in listeners accepts from the
// client namespace and every server in servers ("backend/server") is up.
func StartEdge(t testing.TB, lab *Lab, yamlConfig string, listeners, servers []string) *Edge {
	t.Helper()
	bin := harness.BuildEdge(t)
	dir := t.TempDir()
	conf := filepath.Join(dir, "edge.yaml")
	if err := os.WriteFile(conf, []byte(yamlConfig), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	if out, err := lab.Edge.Command(ctx, bin, "-check", "-config", conf).CombinedOutput(); err != nil {
		t.Fatalf("rtmp-edge -check refuses the lab's config: %v\n%s\nconfig:\n%s", err, out, yamlConfig)
	}
	e := &Edge{Config: yamlConfig, metrics: NSHTTPClient(lab.Edge)}
	// Info level: the session lines Sessions reads must stay within the
	// output tail harness.Proc keeps.
	e.Proc = harness.StartProc(t, "rtmp-edge", lab.Edge.Argv(bin, "-config", conf, "-log-format", "json", "-log-level", "info")...)
	for _, addr := range listeners {
		err := waitFor(edgeStartTimeout, func() error {
			if exited, err := e.Proc.Exited(); exited {
				return fmt.Errorf("%w: rtmp-edge: %v", ErrExited, err)
			}
			conn, err := DialIn(context.Background(), lab.Client, nil, addr)
			if err == nil {
				_ = conn.Close()
			}
			return err
		})
		if err != nil {
			t.Fatalf("edge listener %s: %v", addr, err)
		}
	}
	if err := waitFor(edgeStartTimeout, func() error { return e.serversUp(servers) }); err != nil {
		t.Fatal(err)
	}
	return e
}

// serversUp checks rtmp_edge_server_up{backend,server} is 1 for each "backend/server".
func (e *Edge) serversUp(servers []string) error {
	ctx, cancel := context.WithTimeout(context.Background(), statTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+EdgeMetricsAddr+"/metrics", nil)
	if err != nil {
		return fmt.Errorf("build metrics request: %w", err)
	}
	resp, err := e.metrics.Do(req)
	if err != nil {
		return fmt.Errorf("get edge metrics: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxMetricsBytes))
	if err != nil {
		return fmt.Errorf("read edge metrics: %w", err)
	}
	var down []string
	for _, s := range servers {
		backend, server, _ := strings.Cut(s, "/")
		if !metricIsOne(body, "rtmp_edge_server_up", map[string]string{"backend": backend, "server": server}) {
			down = append(down, s)
		}
	}
	if len(down) > 0 {
		return fmt.Errorf("%w: %v not up", ErrServersDown, down)
	}
	return nil
}

// metricIsOne finds a sample of name carrying every label in labels with value 1.
func metricIsOne(text []byte, name string, labels map[string]string) bool {
	sc := bufio.NewScanner(bytes.NewReader(text))
	sc.Buffer(make([]byte, 0, 64<<10), 64<<10)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name+"{") {
			continue
		}
		all := true
		for k, v := range labels {
			if !strings.Contains(line, k+`="`+v+`"`) {
				all = false
				break
			}
		}
		if all && strings.HasSuffix(line, "} 1") {
			return true
		}
	}
	return false
}

// Sessions returns the "session end" lines in the edge's recent output.
func (e *Edge) Sessions() ([]harness.Session, error) {
	sc := bufio.NewScanner(strings.NewReader(e.Proc.Output()))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	var out []harness.Session
	for sc.Scan() {
		line := sc.Bytes()
		var head struct {
			Msg string `json:"msg"`
		}
		if json.Unmarshal(line, &head) != nil || head.Msg != "session end" {
			continue
		}
		var s harness.Session
		if err := json.Unmarshal(line, &s); err != nil {
			return nil, fmt.Errorf("edge session line %q: %w", line, err)
		}
		out = append(out, s)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read edge output: %w", err)
	}
	return out, nil
}
