package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// soakIn selects the soak report (bench/soak.sh's samples) instead of the
// side-by-side table.
var soakIn = flag.String("soak", "", "soak samples (bench/soak.sh's soak.tsv): write soak.md and soak.png instead; exit 1 on growth")

// ErrGrowth is returned when the soak's resources did not come back to the
// baseline after the churn (or its sessions did not drain).
var ErrGrowth = errors.New("soak: resources did not return to the baseline")

// Soak tolerances: how far above the baseline the idle edge may be after the
// churn and still pass. A leak of one goroutine or one descriptor per session
// shows as hundreds or thousands after a churn of thousands of sessions; the
// slack absorbs what an idle Go server keeps by itself: fasthttp's and
// net/http's idle workers and keep-alive connections (the metrics scrape), timers, and for RSS
// the allocator's retained spans, which the runtime returns to the kernel
// only gradually.
const (
	tolGoroutines    = 20   // plus tolGoroutinesPct of the baseline
	tolGoroutinesPct = 0.10 //
	tolFDs           = 10   // plus tolFDsPct of the baseline
	tolFDsPct        = 0.05
	tolRSSKB         = 32 << 10 // 32 MiB, or tolRSSPct of the baseline if more
	tolRSSPct        = 0.30
)

// soakSample is one row of soak.tsv; NaN where the scrape had no value.
type soakSample struct {
	t     float64
	phase string
	v     map[string]float64
}

// soakData is soak.tsv parsed.
type soakData struct {
	cols    []string // value columns, in file order
	samples []soakSample
}

// ErrBadSoak is returned for a soak.tsv that cannot be read.
var ErrBadSoak = errors.New("bad soak samples")

func parseSoak(r io.Reader) (*soakData, error) {
	sc := bufio.NewScanner(r)
	d := &soakData{}
	line := 0
	for sc.Scan() {
		line++
		f := strings.Split(sc.Text(), "\t")
		if line == 1 {
			if len(f) < 3 || f[0] != "t_s" || f[1] != "phase" {
				return nil, fmt.Errorf("%w: header %q", ErrBadSoak, sc.Text())
			}
			d.cols = f[2:]
			continue
		}
		if strings.TrimSpace(sc.Text()) == "" {
			continue
		}
		if len(f) != len(d.cols)+2 {
			return nil, fmt.Errorf("%w: line %d has %d fields, want %d", ErrBadSoak, line, len(f), len(d.cols)+2)
		}
		t, err := strconv.ParseFloat(f[0], 64)
		if err != nil {
			return nil, fmt.Errorf("%w: line %d: time %q", ErrBadSoak, line, f[0])
		}
		s := soakSample{t: t, phase: f[1], v: map[string]float64{}}
		for i, c := range d.cols {
			v, err := strconv.ParseFloat(f[i+2], 64)
			if err != nil {
				v = math.NaN() // "nan": the scrape failed or lacked the series
			}
			s.v[c] = v
		}
		d.samples = append(d.samples, s)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read soak samples: %w", err)
	}
	if d.cols == nil {
		return nil, fmt.Errorf("%w: empty file", ErrBadSoak)
	}
	return d, nil
}

// values of column c in phase, NaNs dropped.
func (d *soakData) values(phase, c string) []float64 {
	var out []float64
	for _, s := range d.samples {
		if v, ok := s.v[c]; ok && s.phase == phase && !math.IsNaN(v) {
			out = append(out, v)
		}
	}
	return out
}

func median(vs []float64) float64 {
	if len(vs) == 0 {
		return math.NaN()
	}
	s := slices.Clone(vs)
	slices.Sort(s)
	return s[len(s)/2]
}

func maxOf(vs []float64) float64 {
	if len(vs) == 0 {
		return math.NaN()
	}
	return slices.Max(vs)
}

// soakCheck is one row of the verdict table.
type soakCheck struct {
	what              string
	col               string
	baseline, peak    float64
	final, allowed    float64
	ok                bool
	unit, explanation string
}

// judgeSoak compares the final idle samples with the baseline ones.
func judgeSoak(d *soakData, env [][2]string) (checks []soakCheck, pass bool) {
	pass = true
	add := func(what, col, unit string, abs, pct float64, relMax bool) {
		b := median(d.values("baseline", col))
		f := median(d.values("final", col))
		allowed := b + abs + pct*b
		if relMax {
			allowed = b + max(abs, pct*b)
		}
		c := soakCheck{what: what, col: col, baseline: b, peak: maxOf(d.values("churn", col)), final: f, allowed: allowed, unit: unit}
		c.ok = !math.IsNaN(b) && !math.IsNaN(f) && f <= allowed
		if !c.ok {
			pass = false
		}
		checks = append(checks, c)
	}
	add("Goroutines", "goroutines", "", tolGoroutines, tolGoroutinesPct, false)
	add("Open file descriptors", "fds", "", tolFDs, tolFDsPct, false)
	add("Resident memory (RSS)", "rss_kb", "KiB", tolRSSKB, tolRSSPct, true)
	// The sessions themselves must be gone: a session that never ends is the
	// leak the other numbers only hint at.
	for _, col := range []string{"sessions_active", "rtmpt_sessions"} {
		f := maxOf(d.values("final", col))
		c := soakCheck{what: "Sessions left (" + col + ")", col: col, baseline: median(d.values("baseline", col)),
			peak: maxOf(d.values("churn", col)), final: f, allowed: 0}
		c.ok = f == 0
		if !c.ok {
			pass = false
		}
		checks = append(checks, c)
	}
	for _, kv := range env {
		if kv[0] == "drain_timeout" {
			pass = false
		}
	}
	if len(d.values("churn", "goroutines")) == 0 {
		pass = false // no churn samples: nothing was measured
	}
	return checks, pass
}

func soakMarkdown(d *soakData, env [][2]string, checks []soakCheck, pass bool) string {
	var b strings.Builder
	verdict := "PASS"
	if !pass {
		verdict = "FAIL"
	}
	fmt.Fprintf(&b, "# rtmp-edge soak\n\nVerdict: **%s** (the idle edge after the churn against the idle edge after the warm-up).\n\n", verdict)
	b.WriteString("| | baseline (idle, after warm-up) | peak (churn) | final (idle, after churn) | allowed | ok |\n|---|---|---|---|---|---|\n")
	for _, c := range checks {
		ok := "yes"
		if !c.ok {
			ok = "**no**"
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s |\n", c.what, soakNum(c.baseline, c.unit), soakNum(c.peak, c.unit),
			soakNum(c.final, c.unit), soakNum(c.allowed, c.unit), ok)
	}
	fmt.Fprintf(&b, "\nTolerances: goroutines +%d +%.0f%%, file descriptors +%d +%.0f%%, RSS +max(%d MiB, %.0f%%) over the baseline; "+
		"no session and no tunnel left. Baseline and final are medians of three idle samples taken after the sessions drained and a settle time.\n",
		tolGoroutines, tolGoroutinesPct*100, tolFDs, tolFDsPct*100, tolRSSKB>>10, tolRSSPct*100)
	if len(env) > 0 {
		b.WriteString("\n| run | |\n|---|---|\n")
		for _, kv := range env {
			fmt.Fprintf(&b, "| %s | %s |\n", kv[0], strings.ReplaceAll(kv[1], "|", "/"))
		}
	}
	b.WriteString("\nCurve: soak.png (RSS and heap in MiB, goroutines, open fds, sessions; shaded: warm-up, drains, idle samples). Samples: soak.tsv.\n")
	return b.String()
}

func soakNum(v float64, unit string) string {
	if math.IsNaN(v) {
		return "n/a"
	}
	if unit == "KiB" {
		return fmt.Sprintf("%.1f MiB", v/1024)
	}
	return strconv.FormatFloat(v, 'f', 0, 64)
}

// runSoak writes soak.md and soak.png from the samples in in; it returns
// ErrGrowth (after writing both) when the verdict is FAIL.
func runSoak(in, envPath, out string) error {
	f, err := os.Open(in)
	if err != nil {
		return fmt.Errorf("open soak samples: %w", err)
	}
	defer f.Close()
	d, err := parseSoak(f)
	if err != nil {
		return err
	}
	var env [][2]string
	if envPath != "" {
		ef, err := os.Open(envPath)
		if err != nil {
			return fmt.Errorf("open env: %w", err)
		}
		defer ef.Close()
		if env, err = parseEnv(ef); err != nil {
			return err
		}
	}
	checks, pass := judgeSoak(d, env)
	md := filepath.Join(out, "soak.md")
	if err := os.WriteFile(md, []byte(soakMarkdown(d, env, checks, pass)), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", md, err)
	}
	pngPath := filepath.Join(out, "soak.png")
	pf, err := os.Create(pngPath)
	if err != nil {
		return fmt.Errorf("create %s: %w", pngPath, err)
	}
	if err := drawSoak(pf, d, checks); err != nil {
		pf.Close()
		return fmt.Errorf("draw %s: %w", pngPath, err)
	}
	if err := pf.Close(); err != nil {
		return err
	}
	if !pass {
		return fmt.Errorf("%w (see %s)", ErrGrowth, md)
	}
	return nil
}

// Soak chart geometry, in pixels.
const (
	soakW       = 1100
	soakPanelH  = 170
	soakPanelGp = 46
	soakLeft    = 110
	soakRight   = 20
	soakTop     = 70
)

var (
	phaseShade = map[string]color.RGBA{
		"warmup":   {240, 240, 240, 255},
		"drain1":   {250, 236, 214, 255},
		"drain2":   {250, 236, 214, 255},
		"baseline": {222, 240, 222, 255},
		"final":    {222, 240, 222, 255},
	}
	lineColors = []color.RGBA{{52, 101, 164, 255}, {230, 126, 34, 255}}
	limitColor = color.RGBA{200, 40, 40, 255}
)

// soakPanel is one chart: up to two series (columns) against time.
type soakPanel struct {
	title string
	cols  []string
	scale float64 // value multiplier for display (KiB → MiB)
	check string  // column whose allowed value is drawn as a red line
}

var soakPanels = []soakPanel{
	{"RSS MIB (BLUE), GO HEAP IN USE MIB (ORANGE)", []string{"rss_kb", "heap_inuse_kb"}, 1.0 / 1024, "rss_kb"},
	{"GOROUTINES", []string{"goroutines"}, 1, "goroutines"},
	{"OPEN FILE DESCRIPTORS", []string{"fds"}, 1, "fds"},
	{"CLIENT CONNECTIONS (BLUE), RTMPT TUNNELS (ORANGE)", []string{"sessions_active", "rtmpt_sessions"}, 1, ""},
}

// drawSoak draws one panel per resource over the whole run, with the phases
// shaded and the verdict's allowed maximum as a red line.
func drawSoak(w io.Writer, d *soakData, checks []soakCheck) error {
	h := soakTop + len(soakPanels)*(soakPanelH+soakPanelGp) + 20
	img := image.NewRGBA(image.Rect(0, 0, soakW, h))
	draw.Draw(img, img.Bounds(), image.NewUniform(color.White), image.Point{}, draw.Src)
	tMax := 1.0
	for _, s := range d.samples {
		tMax = max(tMax, s.t)
	}
	drawText(img, 12, 10, fmt.Sprintf("RTMP-EDGE SOAK: %d SAMPLES OVER %.1f MIN", len(d.samples), tMax/60), ink)
	drawText(img, 12, 36, "GREY WARM-UP, BEIGE DRAIN, GREEN IDLE (BASELINE, FINAL), RED = ALLOWED AFTER CHURN", ink)
	plotW := soakW - soakLeft - soakRight
	xOf := func(t float64) int { return soakLeft + int(t/tMax*float64(plotW-1)) }
	allowed := map[string]float64{}
	for _, c := range checks {
		allowed[c.col] = c.allowed
	}
	for i, p := range soakPanels {
		top := soakTop + i*(soakPanelH+soakPanelGp) + textH + 8
		drawText(img, soakLeft, top-textH-6, p.title, ink)
		// phase shading: each sample's interval up to the next one
		for k, s := range d.samples {
			c, ok := phaseShade[s.phase]
			if !ok {
				continue
			}
			x0, x1 := xOf(s.t), soakLeft+plotW
			if k+1 < len(d.samples) {
				x1 = xOf(d.samples[k+1].t)
			}
			fill(img, x0, top, max(1, x1-x0), soakPanelH, c)
		}
		vMax := 0.0
		for _, c := range p.cols {
			for _, s := range d.samples {
				if v := s.v[c]; !math.IsNaN(v) {
					vMax = max(vMax, v*p.scale)
				}
			}
		}
		lim, hasLim := allowed[p.check]
		hasLim = hasLim && p.check != "" && !math.IsNaN(lim)
		if hasLim {
			vMax = max(vMax, lim*p.scale)
		}
		vMax = niceCeil(vMax)
		yOf := func(v float64) int { return top + soakPanelH - 1 - int(v/vMax*float64(soakPanelH-1)) }
		// axes and grid
		for g := 0; g <= 5; g++ {
			v := vMax * float64(g) / 5
			y := yOf(v)
			fill(img, soakLeft, y, plotW, 1, faint)
			label := strconv.FormatFloat(v, 'f', 0, 64)
			drawText(img, soakLeft-8-textWidth(label), y-textH/2, label, ink)
		}
		fill(img, soakLeft, top, 1, soakPanelH, ink)
		fill(img, soakLeft, top+soakPanelH-1, plotW, 1, ink)
		if hasLim {
			for x := soakLeft; x < soakLeft+plotW; x += 8 {
				fill(img, x, yOf(lim*p.scale), 4, 2, limitColor)
			}
		}
		for ci, c := range p.cols {
			px, py, have := 0, 0, false
			for _, s := range d.samples {
				v := s.v[c]
				if math.IsNaN(v) {
					have = false
					continue
				}
				x, y := xOf(s.t), yOf(v*p.scale)
				if have {
					line(img, px, py, x, y, lineColors[ci%len(lineColors)])
				}
				px, py, have = x, y, true
			}
		}
		// time axis in minutes
		for m := 0.0; m <= tMax/60; m += minuteStep(tMax / 60) {
			x := xOf(m * 60)
			fill(img, x, top+soakPanelH, 1, 4, ink)
			label := strconv.FormatFloat(m, 'f', -1, 64)
			drawText(img, x-textWidth(label)/2, top+soakPanelH+6, label, ink)
		}
	}
	drawText(img, soakW-soakRight-textWidth("MINUTES"), h-textH-4, "MINUTES", ink)
	return png.Encode(w, img)
}

// niceCeil rounds v up to 1, 2 or 5 times a power of ten (at least 1), so the
// grid lines get round labels.
func niceCeil(v float64) float64 {
	if v <= 1 || math.IsNaN(v) {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if v <= m*p {
			return m * p
		}
	}
	return 10 * p
}

// minuteStep picks the spacing of the time labels for a run of total minutes.
func minuteStep(total float64) float64 {
	for _, s := range []float64{0.25, 0.5, 1, 2, 5, 10, 15, 30, 60} {
		if total/s <= 12 {
			return s
		}
	}
	return 120
}

// line draws a 2-pixel-wide segment (Bresenham).
func line(img *image.RGBA, x0, y0, x1, y1 int, c color.Color) {
	dx, dy := abs(x1-x0), -abs(y1-y0)
	sx, sy := 1, 1
	if x0 > x1 {
		sx = -1
	}
	if y0 > y1 {
		sy = -1
	}
	e := dx + dy
	for {
		img.Set(x0, y0, c)
		img.Set(x0, y0+1, c)
		if x0 == x1 && y0 == y1 {
			return
		}
		e2 := 2 * e
		if e2 >= dy {
			e += dy
			x0 += sx
		}
		if e2 <= dx {
			e += dx
			y0 += sy
		}
	}
}

func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}
