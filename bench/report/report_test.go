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
	rows := len(r.order)
	if want := headerH + rows*(len(paths)*(barH+barGap)+rowGap) + 10; img.Bounds().Dy() != want {
		t.Errorf("chart height %d, want %d for %d rows", img.Bounds().Dy(), want, rows)
	}
}

func TestEveryLabelRuneHasAGlyph(t *testing.T) {
	labels := []string{"RTMP-EDGE SIDE BY SIDE: BAR = VALUE / LARGEST IN ROW", "(HI) = HIGHER IS BETTER  (LO) = LOWER IS BETTER  N/A = NOT MEASURED"}
	for _, k := range known {
		labels = append(labels, k.short)
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
