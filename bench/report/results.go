package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
)

// Paths, in column order.
var paths = []string{"direct", "haproxy", "edge-rtmp", "edge-rtmpt"}

// metricInfo says how to show a metric.
type metricInfo struct {
	title  string // for the table
	short  string // for the chart (upper case, short)
	better string // "higher" or "lower"
}

// known metrics in table order; memory metrics are named by session count and added as found.
var known = []struct {
	key string
	metricInfo
}{
	{"throughput_gbps", metricInfo{"Relay throughput, aggregate (Gbit/s)", "THROUGHPUT GBIT/S", "higher"}},
	{"cpu_s_per_gb", metricInfo{"Proxy CPU-seconds per GB relayed", "CPU S PER GB", "lower"}},
	{"connect_p50_ms", metricInfo{"Connect time p50 (ms)", "CONNECT P50 MS", "lower"}},
	{"connect_p99_ms", metricInfo{"Connect time p99 (ms)", "CONNECT P99 MS", "lower"}},
	{"first_packet_p50_ms", metricInfo{"Time to first packet p50 (ms)", "FIRST PKT P50 MS", "lower"}},
	{"first_packet_p99_ms", metricInfo{"Time to first packet p99 (ms)", "FIRST PKT P99 MS", "lower"}},
	{"sessions_per_s", metricInfo{"Session rate at saturation (sessions/s)", "SESSIONS PER S", "higher"}},
	{"live_proxy_cpu_pct", metricInfo{"Live: proxy CPU (% of one core)", "LIVE PROXY CPU %", "lower"}},
	{"live_players_with_media", metricInfo{"Live: players receiving media", "LIVE PLAYERS OK", "higher"}},
	{"live_in_mbps", metricInfo{"Live: delivered to players (Mbit/s)", "LIVE MBIT/S", "higher"}},
}

// results holds value[metric][path]; a missing entry is "not measured".
type results struct {
	order  []string
	info   map[string]metricInfo
	values map[string]map[string]float64
}

// ErrBadLine is returned for a measurement line that is not metric, path, number.
var ErrBadLine = errors.New("bad measurement line")

func parseResults(r io.Reader) (*results, error) {
	res := &results{info: map[string]metricInfo{}, values: map[string]map[string]float64{}}
	for _, k := range known {
		res.info[k.key] = k.metricInfo
	}
	sc := bufio.NewScanner(r)
	line := 0
	for sc.Scan() {
		line++
		f := strings.Split(sc.Text(), "\t")
		if line == 1 && len(f) > 0 && f[0] == "metric" || strings.TrimSpace(sc.Text()) == "" {
			continue
		}
		if len(f) != 3 {
			return nil, fmt.Errorf("%w %d: %q", ErrBadLine, line, sc.Text())
		}
		v, err := strconv.ParseFloat(f[2], 64)
		if err != nil || math.IsInf(v, 0) {
			v = math.NaN() // "nan", "null": measured but no value
		}
		if res.values[f[0]] == nil {
			res.values[f[0]] = map[string]float64{}
		}
		res.values[f[0]][f[1]] = v
		if _, ok := res.info[f[0]]; !ok {
			res.info[f[0]] = inferInfo(f[0])
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read measurements: %w", err)
	}
	for _, k := range known {
		if res.values[k.key] != nil {
			res.order = append(res.order, k.key)
		}
	}
	var extra []string
	for k := range res.values {
		if !isKnown(k) {
			extra = append(extra, k)
		}
	}
	sort.Slice(extra, func(i, j int) bool { return extraLess(extra[i], extra[j]) })
	res.order = append(res.order, extra...)
	return res, nil
}

func isKnown(k string) bool {
	for _, m := range known {
		if m.key == k {
			return true
		}
	}
	return false
}

// extraLess orders "rss_kb_per_session_1000" before "..._10000" and "sessions_up_N" after RSS.
func extraLess(a, b string) bool {
	pa, na := splitCount(a)
	pb, nb := splitCount(b)
	if pa != pb {
		return pa < pb // rss_… before sessions_up_…
	}
	return na < nb
}

func splitCount(k string) (string, int) {
	i := strings.LastIndexByte(k, '_')
	if i < 0 {
		return k, 0
	}
	n, err := strconv.Atoi(k[i+1:])
	if err != nil {
		return k, 0
	}
	return k[:i], n
}

// inferInfo names the per-count memory metrics.
func inferInfo(k string) metricInfo {
	prefix, n := splitCount(k)
	switch prefix {
	case "rss_kb_per_session":
		return metricInfo{fmt.Sprintf("Proxy RSS per session, %d idle sessions (KiB)", n), fmt.Sprintf("RSS KIB/SESSION %s", countLabel(n)), "lower"}
	case "sessions_up":
		return metricInfo{fmt.Sprintf("Sessions set up of %d (memory run)", n), fmt.Sprintf("SESSIONS UP OF %s", countLabel(n)), "higher"}
	}
	return metricInfo{k, strings.ToUpper(k), "higher"}
}

func countLabel(n int) string {
	if n >= 1000 && n%1000 == 0 {
		return fmt.Sprintf("%dK", n/1000)
	}
	return strconv.Itoa(n)
}

func (r *results) get(metric, path string) (float64, bool) {
	v, ok := r.values[metric][path]
	return v, ok && !math.IsNaN(v)
}

// ratio is a/b when both exist and b is not zero.
func (r *results) ratio(metric, a, b string) (float64, bool) {
	va, ok1 := r.get(metric, a)
	vb, ok2 := r.get(metric, b)
	if !ok1 || !ok2 || vb == 0 {
		return 0, false
	}
	return va / vb, true
}

func parseEnv(r io.Reader) ([][2]string, error) {
	var out [][2]string
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), "\t")
		if ok {
			out = append(out, [2]string{k, v})
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read env: %w", err)
	}
	return out, nil
}
