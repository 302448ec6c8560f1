package main

import (
	"bytes"
	"errors"
	"image/png"
	"math"
	"strings"
	"testing"
)

const sample = "metric\tpath\tvalue\n" +
	"throughput_gbps\tdirect\t20\n" +
	"throughput_gbps\thaproxy\t5\n" +
	"throughput_gbps\tedge-rtmp\t10\n" +
	"throughput_gbps\tedge-rtmpt\tnan\n" +
	"rss_kb_per_session_10000\thaproxy\t2.5\n" +
	"rss_kb_per_session_1000\thaproxy\t3\n" +
	"sessions_up_1000\tedge-rtmp\t1000\n" +
	"connect_p50_ms\tedge-rtmp\t1.25\n"

func TestParseResults(t *testing.T) {
	r, err := parseResults(strings.NewReader(sample))
	if err != nil {
		t.Fatal(err)
	}
	wantOrder := []string{"throughput_gbps", "connect_p50_ms", "rss_kb_per_session_1000", "rss_kb_per_session_10000", "sessions_up_1000"}
	if strings.Join(r.order, ",") != strings.Join(wantOrder, ",") {
		t.Errorf("order = %v, want %v", r.order, wantOrder)
	}
	if _, ok := r.get("throughput_gbps", "edge-rtmpt"); ok {
		t.Error("nan counted as a value")
	}
	if v, ok := r.ratio("throughput_gbps", "edge-rtmp", "haproxy"); !ok || v != 2 {
		t.Errorf("ratio = %v, %v; want 2", v, ok)
	}
	if _, ok := r.ratio("connect_p50_ms", "edge-rtmp", "haproxy"); ok {
		t.Error("ratio against a missing value")
	}
	if got := r.info["rss_kb_per_session_10000"].short; got != "RSS KIB/SESSION 10K" {
		t.Errorf("chart label %q", got)
	}
}

func TestParseResultsRejectsBadLines(t *testing.T) {
	if _, err := parseResults(strings.NewReader("metric\tpath\tvalue\nonly two\tfields\n")); !errors.Is(err, ErrBadLine) {
		t.Errorf("err = %v, want ErrBadLine", err)
	}
}

func TestFormat(t *testing.T) {
	tests := []struct {
		v    float64
		ok   bool
		want string
	}{
		{0, false, "n/a"}, {1000, true, "1000"}, {123.4, true, "123"}, {12.34, true, "12.3"},
		{1.234, true, "1.23"}, {0.1234, true, "0.123"}, {math.NaN(), false, "n/a"},
	}
	for _, tt := range tests {
		if got := formatValue(tt.v, tt.ok); got != tt.want {
			t.Errorf("formatValue(%v) = %q, want %q", tt.v, got, tt.want)
		}
	}
	if got := formatRatio(0.5, true); got != "0.50×" {
		t.Errorf("formatRatio = %q", got)
	}
}

func TestMarkdownAndChart(t *testing.T) {
	r, err := parseResults(strings.NewReader(sample))
	if err != nil {
		t.Fatal(err)
	}
	md := markdown(r, [][2]string{{"mode", "short"}})
	for _, want := range []string{
		"| Relay throughput, aggregate (Gbit/s) | higher | 20 | 5 | 10 | n/a | 2.00× | 0.50× |",
		"| Proxy RSS per session, 1000 idle sessions (KiB) | lower | n/a | 3 | n/a | n/a | n/a | n/a |",
		"- mode: short",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
	var buf bytes.Buffer
	if err := drawChart(&buf, r); err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(&buf)
	if err != nil {
		t.Fatal(err)
	}
	rows := len(r.mainRows())
	if want := headerH + rows*(len(paths)*(barH+barGap)+rowGap) + 10; img.Bounds().Dy() != want {
		t.Errorf("chart height %d, want %d for %d rows", img.Bounds().Dy(), want, rows)
	}
}

func TestEveryLabelRuneHasAGlyph(t *testing.T) {
	labels := []string{"RTMP-EDGE SIDE BY SIDE: BAR = VALUE / LARGEST IN ROW", "(HI) = HIGHER IS BETTER  (LO) = LOWER IS BETTER  N/A = NOT MEASURED"}
	for _, k := range known {
		key := k.key
		if k.counted {
			key += "_9000"
		}
		labels = append(labels, infoFor(key).short)
	}
	for _, p := range paths {
		labels = append(labels, pathLabel[p])
	}
	for _, l := range labels {
		for _, r := range strings.ToUpper(l) {
			if _, ok := glyphs[r]; !ok {
				t.Errorf("label %q: no glyph for %q", l, r)
			}
		}
	}
}

func TestCommandAndReplicationTables(t *testing.T) {
	in := "metric\tpath\tvalue\n" +
		"connect_p50_ms\thaproxy\t1.0\n" +
		"connect_p50_ms\tedge-rtmp\t1.25\n" +
		"connect_p50_ms\tedge-cmd\t1.5\n" +
		"sessions_per_s\tedge-rtmp\t1000\n" +
		"many_proxy_cpu_pct_9000\thaproxy\t80\n" +
		"many_proxy_cpu_pct_9000\tedge-rtmp\t40\n" +
		"many_players_at_end_9000\tdirect\t9000\n" +
		"repl_cpu_pct\thaproxy\t10\n" +
		"repl_cpu_pct\tedge-cmd\t8\n" +
		"repl_cpu_pct\tedge-repl\t24\n" +
		"repl_cpu_pct_per_replica\tedge-repl\tnan\n"
	r, err := parseResults(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	md := markdown(r, [][2]string{{"note", "replication: n/a, the edge rejects the key"}, {"mode", "full"}})
	for _, want := range []string{
		"| Live 9000 × 256 kbit/s: proxy CPU (% of one core) | lower | n/a | 80 | 40 | n/a | 0.50× | n/a |",
		"| Live 9000 × 256 kbit/s: players still receiving at the end | higher | 9000 |",
		"## route: command beside route: connect",
		"| Connect time p50 (ms) | lower | 1 | 1.25 | 1.50 | 1.20× | 0.250 |",
		"## Replication",
		"| Proxy CPU (% of one core) | lower | 10 | 8 | 24 | 3.00× |",
		"| Proxy CPU per replica (% of one core) | lower | n/a | n/a | n/a | n/a |",
		"## Notes of this run\n\n- replication: n/a, the edge rejects the key",
		"- mode: full",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
	main := md[:strings.Index(md, "## route: command")]
	if strings.Contains(main, "Proxy CPU (% of one core) |") {
		t.Errorf("replication rows in the main table:\n%s", main)
	}
	cmd := md[strings.Index(md, "## route: command"):strings.Index(md, "## Replication")]
	if strings.Contains(cmd, "Session rate") || strings.Contains(cmd, "Proxy CPU (%") {
		t.Errorf("command table shows a row the command edge did not measure:\n%s", cmd)
	}
	// No command or replication values: no such sections.
	r, err = parseResults(strings.NewReader("throughput_gbps\thaproxy\t1\n"))
	if err != nil {
		t.Fatal(err)
	}
	if md := markdown(r, nil); strings.Contains(md, "route: command") || strings.Contains(md, "Replication") {
		t.Errorf("empty sections:\n%s", md)
	}
}

func TestCountedMetricsOrder(t *testing.T) {
	in := "sessions_up_8000\thaproxy\t1\nrss_kb_per_session_8000\thaproxy\t1\nrss_kb_per_session_1000\thaproxy\t1\n" +
		"many_in_mbps_9000\thaproxy\t1\nlive_proxy_cpu_pct\thaproxy\t1\nthroughput_gbps\thaproxy\t1\nzzz_unknown\thaproxy\t1\n"
	r, err := parseResults(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	want := "throughput_gbps,live_proxy_cpu_pct,many_in_mbps_9000,rss_kb_per_session_1000,rss_kb_per_session_8000,sessions_up_8000,zzz_unknown"
	if got := strings.Join(r.order, ","); got != want {
		t.Errorf("order %s\nwant  %s", got, want)
	}
}
