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

// known metrics in table order. A counted metric is named <key>_<N> (N: the
// sessions or players of its load, which the fd limit may lower) and its
// title and short label take N for their %s.
var known = []struct {
	key     string
	counted bool
	metricInfo
}{
	{"throughput_gbps", false, metricInfo{"Relay throughput, aggregate (Gbit/s)", "THROUGHPUT GBIT/S", "higher"}},
	{"cpu_s_per_gb", false, metricInfo{"Proxy CPU-seconds per GB relayed", "CPU S PER GB", "lower"}},
	{"connect_p50_ms", false, metricInfo{"Connect time p50 (ms)", "CONNECT P50 MS", "lower"}},
	{"connect_p99_ms", false, metricInfo{"Connect time p99 (ms)", "CONNECT P99 MS", "lower"}},
	{"first_packet_p50_ms", false, metricInfo{"Time to first packet p50 (ms)", "FIRST PKT P50 MS", "lower"}},
	{"first_packet_p99_ms", false, metricInfo{"Time to first packet p99 (ms)", "FIRST PKT P99 MS", "lower"}},
	{"sessions_per_s", false, metricInfo{"Session rate at saturation (sessions/s)", "SESSIONS PER S", "higher"}},
	{"live_proxy_cpu_pct", false, metricInfo{"Live: proxy CPU (% of one core)", "LIVE PROXY CPU %", "lower"}},
	{"live_players_with_media", false, metricInfo{"Live: players receiving media", "LIVE PLAYERS OK", "higher"}},
	{"live_players_at_end", false, metricInfo{"Live: players still receiving at the end", "LIVE PLAYERS AT END", "higher"}},
	{"live_in_mbps", false, metricInfo{"Live: delivered to players (Mbit/s)", "LIVE MBIT/S", "higher"}},
	{"live_rss_kb_per_session", false, metricInfo{"Live: proxy RSS per live session, 2.5 Mbit/s (KiB)", "LIVE RSS KIB/SESSION", "lower"}},
	{"many_proxy_cpu_pct", true, metricInfo{"Live %s × 256 kbit/s: proxy CPU (%% of one core)", "%s LIVE: PROXY CPU %%", "lower"}},
	{"many_rss_kb_per_session", true, metricInfo{"Live %s × 256 kbit/s: proxy RSS per live session (KiB)", "%s LIVE: RSS KIB/SESSION", "lower"}},
	{"many_players_with_media", true, metricInfo{"Live %s × 256 kbit/s: players receiving media", "%s LIVE: PLAYERS OK", "higher"}},
	{"many_players_at_end", true, metricInfo{"Live %s × 256 kbit/s: players still receiving at the end", "%s LIVE: PLAYERS AT END", "higher"}},
	{"many_in_mbps", true, metricInfo{"Live %s × 256 kbit/s: delivered to players while measured (Mbit/s)", "%s LIVE: MBIT/S", "higher"}},
	{"many_cpu_s_per_gb", true, metricInfo{"Live %s × 256 kbit/s: proxy CPU-seconds per GB delivered", "%s LIVE: CPU S PER GB", "lower"}},
	{"rss_kb_per_session", true, metricInfo{"Proxy RSS per session, %s idle sessions (KiB)", "RSS KIB/SESSION %s", "lower"}},
	{"sessions_up", true, metricInfo{"Sessions set up of %s (memory run)", "SESSIONS UP OF %s", "higher"}},
	// Replication (its own table): the same publishers plain and replicated.
	{"repl_publishers", false, metricInfo{"Publishers at 2.5 Mbit/s", "REPL PUBLISHERS", "higher"}},
	{"repl_publisher_mbps", false, metricInfo{"Sent by the publishers (Mbit/s)", "REPL SENT MBIT/S", "higher"}},
	{"repl_server_sessions", false, metricInfo{"Publishing sessions on the media servers (publishers + replicas)", "REPL SERVER SESSIONS", "higher"}},
	{"repl_cpu_pct", false, metricInfo{"Proxy CPU (% of one core)", "REPL CPU %", "lower"}},
	{"repl_cpu_pct_per_publisher", false, metricInfo{"Proxy CPU per publisher (% of one core)", "REPL CPU % PER PUB", "lower"}},
	{"repl_cpu_pct_per_replica", false, metricInfo{"Proxy CPU per replica (% of one core)", "REPL CPU % PER REPLICA", "lower"}},
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
			res.info[f[0]] = infoFor(f[0])
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read measurements: %w", err)
	}
	for k := range res.values {
		res.order = append(res.order, k)
	}
	sort.Slice(res.order, func(i, j int) bool { return metricLess(res.order[i], res.order[j]) })
	return res, nil
}

// knownIndex is the place of metric k in known (its counted prefix for a
// counted one) and its count; -1 for a metric of no known shape.
func knownIndex(k string) (int, int) {
	for i, m := range known {
		if !m.counted && m.key == k {
			return i, 0
		}
	}
	prefix, n := splitCount(k)
	for i, m := range known {
		if m.counted && m.key == prefix && n > 0 {
			return i, n
		}
	}
	return -1, 0
}

// metricLess orders known metrics as listed (counts ascending within one
// counted metric), then the unknown ones by name.
func metricLess(a, b string) bool {
	ia, na := knownIndex(a)
	ib, nb := knownIndex(b)
	switch {
	case ia < 0 && ib < 0:
		return a < b
	case ia < 0 || ib < 0:
		return ib < 0
	case ia != ib:
		return ia < ib
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

// infoFor names a metric: known ones as listed, counted ones with their count.
func infoFor(k string) metricInfo {
	i, n := knownIndex(k)
	if i < 0 {
		return metricInfo{k, strings.ToUpper(k), "higher"}
	}
	info := known[i].metricInfo
	if known[i].counted {
		info.title = fmt.Sprintf(info.title, strconv.Itoa(n))
		info.short = fmt.Sprintf(info.short, countLabel(n))
	}
	return info
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
