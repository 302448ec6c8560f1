package main

import (
	"errors"
	"fmt"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// soakTSV builds samples: an idle edge (goroutines g0, fds f0, RSS r0 KiB),
// a churn of 100 sessions, then the idle edge at g1, f1, r1 with left
// sessions still open.
func soakTSV(g0, f0, r0, g1, f1, r1, left int) string {
	var b strings.Builder
	b.WriteString("t_s\tphase\trss_kb\theap_inuse_kb\tgoroutines\tfds\tsessions_active\trtmpt_sessions\tsessions_ended\n")
	t := 0
	row := func(phase string, rss, g, f, s int) {
		fmt.Fprintf(&b, "%d\t%s\t%d\t%d\t%d\t%d\t%d\t%d\tnan\n", t, phase, rss, rss/4, g, f, s, s/2)
		t += 10
	}
	for range 3 {
		row("warmup", r0+20000, g0+300, f0+200, 100)
	}
	row("drain1", r0, g0, f0, 0)
	for range 3 {
		row("baseline", r0, g0, f0, 0)
	}
	for range 5 {
		row("churn", r0+25000, g0+310, f0+205, 100)
	}
	row("drain2", r1, g1, f1, left)
	for range 3 {
		row("final", r1, g1, f1, left)
	}
	return b.String()
}

func TestSoakVerdict(t *testing.T) {
	cases := []struct {
		name string
		tsv  string
		env  [][2]string
		pass bool
	}{
		{"back to baseline", soakTSV(18, 13, 22000, 19, 13, 23000, 0), nil, true},
		{"within the tolerance", soakTSV(18, 13, 22000, 18+20+1, 13+10, 22000+32<<10, 0), nil, true},
		{"goroutine leak", soakTSV(18, 13, 22000, 18+20+2+1, 13, 22000, 0), nil, false},
		{"fd leak", soakTSV(18, 13, 22000, 18, 13+10+1+1, 22000, 0), nil, false},
		{"memory growth", soakTSV(18, 13, 100000, 18, 13, 100000+40000, 0), nil, false},
		{"sessions left", soakTSV(18, 13, 22000, 18, 13, 22000, 1), nil, false},
		{"drain timed out", soakTSV(18, 13, 22000, 18, 13, 22000, 0), [][2]string{{"drain_timeout", "drain2"}}, false},
		{"no final samples", strings.Split(soakTSV(18, 13, 22000, 18, 13, 22000, 0), "\n20")[0], nil, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d, err := parseSoak(strings.NewReader(c.tsv))
			if err != nil {
				t.Fatal(err)
			}
			checks, pass := judgeSoak(d, c.env)
			if pass != c.pass {
				t.Errorf("pass = %v, want %v; checks %+v", pass, c.pass, checks)
			}
			md := soakMarkdown(d, c.env, checks, pass)
			want := "**PASS**"
			if !c.pass {
				want = "**FAIL**"
			}
			if !strings.Contains(md, want) {
				t.Errorf("soak.md does not say %s:\n%s", want, md)
			}
		})
	}
}

func TestSoakReportFiles(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "soak.tsv")
	if err := os.WriteFile(in, []byte(soakTSV(18, 13, 22000, 500, 13, 22000, 0)), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := runSoak(in, "", dir); !errors.Is(err, ErrGrowth) {
		t.Fatalf("runSoak of a goroutine leak = %v, want ErrGrowth", err)
	}
	f, err := os.Open(filepath.Join(dir, "soak.png"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("soak.png: %v", err)
	}
	if b := img.Bounds(); b.Dx() < 800 || b.Dy() < 600 {
		t.Errorf("soak.png is %v", b)
	}
	if _, err := os.Stat(filepath.Join(dir, "soak.md")); err != nil {
		t.Error(err)
	}
}

func TestParseSoakRejectsBadFiles(t *testing.T) {
	for _, doc := range []string{"", "metric\tpath\tvalue\n", "t_s\tphase\tgoroutines\n1\tchurn\n", "t_s\tphase\tgoroutines\nx\tchurn\t1\n"} {
		if _, err := parseSoak(strings.NewReader(doc)); !errors.Is(err, ErrBadSoak) {
			t.Errorf("parseSoak(%q) = %v, want ErrBadSoak", doc, err)
		}
	}
}

func TestSoakLabelsHaveGlyphs(t *testing.T) {
	labels := []string{"RTMP-EDGE SOAK: 0 SAMPLES OVER 0.0 MIN", "GREY WARM-UP, BEIGE DRAIN, GREEN IDLE (BASELINE, FINAL), RED = ALLOWED AFTER CHURN", "MINUTES"}
	for _, p := range soakPanels {
		labels = append(labels, p.title)
	}
	for _, l := range labels {
		for _, r := range l {
			if _, ok := glyphs[r]; !ok {
				t.Errorf("label %q: no glyph for %q", l, r)
			}
		}
	}
}
