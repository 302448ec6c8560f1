// Package bench holds the side-by-side benchmark (run.sh), its report
// generator (report/) and the committed results (results/). This test runs
// the script in -short mode so that it cannot rot.
package bench

import (
	"bytes"
	"context"
	"fmt"
	"image/png"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rtmp-edge/rtmp-edge/integration/peers"
)

func TestRunShortProducesTheTable(t *testing.T) {
	// The peers are installed when missing: the bench never skips.
	peers.Ensure(t, "jq", "ss", "haproxy", "nginx", peers.NginxRTMPModule)
	out := t.TempDir()
	var stderr bytes.Buffer
	var err error
	// run.sh exits 1 when its port range is taken (other tests run in parallel): try a few ranges.
	for attempt := 0; attempt < 3; attempt++ {
		stderr.Reset()
		base := 20000 + 100*rand.IntN(120) // below the ephemeral range, which starts at 32768
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		cmd := exec.CommandContext(ctx, "bash", "run.sh", "-short", "-out", out)
		cmd.Env = append(os.Environ(), fmt.Sprintf("BENCH_PORT_BASE=%d", base))
		cmd.Stderr = &stderr
		err = cmd.Run()
		cancel()
		if err == nil || !strings.Contains(stderr.String(), "is in use") {
			break
		}
	}
	if err != nil {
		t.Fatalf("run.sh -short: %v\n%s", err, stderr.String())
	}
	md, err := os.ReadFile(filepath.Join(out, "results.md"))
	if err != nil {
		t.Fatal(err)
	}
	table := string(md)
	if !strings.Contains(table, "| metric | better | direct | HAProxy | rtmp-edge (RTMP) | rtmp-edge (RTMPT) | rtmp-edge/HAProxy | rtmp-edge/direct |") {
		t.Fatalf("results.md has no results table:\n%s", table)
	}
	// Every load must have produced numbers for every path it applies to.
	rows := []string{"Relay throughput", "Connect time p50", "Time to first packet p50", "Session rate", "Proxy RSS per session"}
	if _, err := os.Stat(nginxModule); err == nil {
		rows = append(rows, "Live: players receiving media")
	} else {
		t.Logf("LOUD: %s is missing (apt-get install -y nginx libnginx-mod-rtmp): the live row is not checked", nginxModule)
	}
	for _, row := range rows {
		line := findRow(table, row)
		if line == "" {
			t.Errorf("no %q row in results.md", row)
			continue
		}
		cells := strings.Split(line, "|")
		// cells: "", metric, better, direct, haproxy, edge-rtmp, edge-rtmpt, ratio, ratio, ""
		if len(cells) != 10 {
			t.Errorf("row %q has %d cells", row, len(cells))
			continue
		}
		first := 3
		if strings.HasPrefix(row, "Proxy") {
			first = 4 // no proxy process on the direct path
		}
		for i := first; i <= 7; i++ {
			if strings.TrimSpace(cells[i]) == "n/a" {
				t.Errorf("row %q, column %d is n/a:\n%s\n%s", row, i, line, stderr.String())
			}
		}
	}
	// The TLS rows: HAProxy ending TLS and rtmp-edge's rtmps listener, both measured.
	if i := strings.Index(table, "## TLS (rtmps://)"); i < 0 {
		t.Errorf("results.md has no TLS table:\n%s", table)
	} else {
		tls := table[i:]
		for _, row := range []string{"Relay throughput", "Connect time p50", "Session rate"} {
			line := findRow(tls, row)
			cells := strings.Split(line, "|")
			// cells: "", metric, better, haproxy-tls, edge-rtmps, ratio, ratio, ""
			if len(cells) != 8 || strings.TrimSpace(cells[3]) == "n/a" || strings.TrimSpace(cells[4]) == "n/a" {
				t.Errorf("TLS row %q not measured on both paths: %q\n%s", row, line, stderr.String())
			}
		}
	}
	f, err := os.Open(filepath.Join(out, "chart.png"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("chart.png: %v", err)
	}
	if b := img.Bounds(); b.Dx() < 500 || b.Dy() < 300 {
		t.Errorf("chart.png is %v, too small for the rows", b)
	}
}

// nginxModule is where Debian's libnginx-mod-rtmp puts the module run.sh loads.
const nginxModule = "/usr/lib/nginx/modules/ngx_rtmp_module.so"

func findRow(table, prefix string) string {
	for _, line := range strings.Split(table, "\n") {
		if strings.HasPrefix(line, "| "+prefix) {
			return line
		}
	}
	return ""
}
