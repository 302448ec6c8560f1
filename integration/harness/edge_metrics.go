package harness

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

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
