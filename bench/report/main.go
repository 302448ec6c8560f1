// Command report turns bench/run.sh's measurements (metric, path, value
// rows) into results.md, a Markdown table with the ratios rtmp-edge/HAProxy
// and rtmp-edge/direct, and chart.png; with -soak, bench/soak.sh's samples into
// soak.md (the verdict) and soak.png (the curves).
//
//	go run ./bench/report -in results.tsv -env env.tsv -out bench/results
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
)

func main() {
	in := flag.String("in", "", "measurements: tab-separated metric, path, value (with a header line)")
	env := flag.String("env", "", "optional: tab-separated key, value lines describing the run")
	out := flag.String("out", ".", "directory for results.md and chart.png")
	flag.Parse()
	do := run
	if *soakIn != "" {
		do = func(_, env, out string) error { return runSoak(*soakIn, env, out) }
	}
	if err := do(*in, *env, *out); err != nil {
		fmt.Fprintln(os.Stderr, "report:", err)
		os.Exit(1)
	}
}

func run(in, envPath, out string) error {
	if in == "" {
		return fmt.Errorf("no -in file")
	}
	f, err := os.Open(in)
	if err != nil {
		return fmt.Errorf("open measurements: %w", err)
	}
	defer f.Close()
	res, err := parseResults(f)
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
	md := filepath.Join(out, "results.md")
	if err := os.WriteFile(md, []byte(markdown(res, env)), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", md, err)
	}
	pngPath := filepath.Join(out, "chart.png")
	pf, err := os.Create(pngPath)
	if err != nil {
		return fmt.Errorf("create %s: %w", pngPath, err)
	}
	if err := drawChart(pf, res); err != nil {
		pf.Close()
		return fmt.Errorf("draw %s: %w", pngPath, err)
	}
	return pf.Close()
}
