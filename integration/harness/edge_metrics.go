package harness

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// MetricsText fetches the Prometheus exposition from the configured admin
// address (5 s bound, 4 MiB cap), with the config's token when it has one.
func (e *Edge) MetricsText() (string, error) {
	code, b, err := e.Admin().Get("/metrics")
	if err != nil {
		return "", fmt.Errorf("fetch metrics: %w", err)
	}
	if code != http.StatusOK {
		return "", fmt.Errorf("fetch metrics: status %d: %.200s", code, b)
	}
	return string(b), nil
}

// Metrics is one scrape of /metrics, parsed by Prometheus's own text parser
// (so a malformed exposition fails the test instead of being read loosely).
type Metrics map[string]*dto.MetricFamily

// ParseMetrics parses a Prometheus text exposition.
func ParseMetrics(text string) (Metrics, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(text))
	if err != nil {
		return nil, fmt.Errorf("parse metrics: %w", err)
	}
	return Metrics(fams), nil
}

// Scrape fetches and parses /metrics.
func (e *Edge) Scrape() (Metrics, error) {
	text, err := e.MetricsText()
	if err != nil {
		return nil, err
	}
	return ParseMetrics(text)
}

// Sum adds up the samples of metric name (e.g. "rtmp_edge_rejected_total")
// whose labels include every pair in labels; found says whether any sample
// matched (a missing metric is not the same as a zero one).
func (m Metrics) Sum(name string, labels map[string]string) (sum float64, found bool) {
	fam, ok := m[name]
	if !ok {
		return 0, false
	}
	for _, s := range fam.GetMetric() {
		if !hasLabels(s, labels) {
			continue
		}
		found = true
		switch {
		case s.Counter != nil:
			sum += s.Counter.GetValue()
		case s.Gauge != nil:
			sum += s.Gauge.GetValue()
		case s.Untyped != nil:
			sum += s.Untyped.GetValue()
		case s.Histogram != nil:
			sum += float64(s.Histogram.GetSampleCount())
		case s.Summary != nil:
			sum += float64(s.Summary.GetSampleCount())
		}
	}
	return sum, found
}

func hasLabels(s *dto.Metric, want map[string]string) bool {
	for k, v := range want {
		ok := false
		for _, l := range s.GetLabel() {
			if l.GetName() == k && l.GetValue() == v {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

// MetricSum adds up the samples of metric name (e.g. "rtmp_edge_rejected_total")
// whose labels include every pair in labels; an absent metric counts 0.
func (e *Edge) MetricSum(name string, labels map[string]string) (float64, error) {
	m, err := e.Scrape()
	if err != nil {
		return 0, err
	}
	sum, _ := m.Sum(name, labels)
	return sum, nil
}

// ServerUp reports whether server of backend is up: from the metrics gauge
// rtmp_edge_server_up{backend,server} when the edge exports it, otherwise from the
// last "server up"/"server down" log line for it (none: up, the initial state).
func (e *Edge) ServerUp(backend, server string) (bool, error) {
	if e.Metrics != "" {
		m, err := e.Scrape()
		if err != nil {
			return false, err
		}
		if v, ok := m.Sum("rtmp_edge_server_up", map[string]string{"backend": backend, "server": server}); ok {
			return v == 1, nil
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
