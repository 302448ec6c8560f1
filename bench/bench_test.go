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
	// Columns: 3 direct, 4 HAProxy, 5 rtmp-edge RTMP, 6 rtmp-edge RTMPT, 7 the ratio to HAProxy.
	all, proxies, noRTMPT, proxiesNoRTMPT := []int{3, 4, 5, 6, 7}, []int{4, 5, 6, 7}, []int{3, 4, 5, 7}, []int{4, 5, 7}
	rows := map[string][]int{"Relay throughput": all, "Connect time p50": all, "Time to first packet p50": all,
		"Session rate": all, "Proxy RSS per session": proxies}
	if _, err := os.Stat(nginxModule); err == nil {
		rows["Live: players receiving media"] = all
		rows["Live: players still receiving at the end"] = all
		rows["Live: proxy RSS per live session"] = proxies
		rows["Live: proxy CPU"] = proxies
		// The many-players load leaves RTMPT out; -short runs it with 50 and 100 players.
		for _, n := range []string{"50", "100"} {
			rows["Live "+n+" × 256 kbit/s: players still receiving at the end"] = noRTMPT
			rows["Live "+n+" × 256 kbit/s: delivered to players while measured"] = noRTMPT
			rows["Live "+n+" × 256 kbit/s: proxy CPU"] = proxiesNoRTMPT
			rows["Live "+n+" × 256 kbit/s: proxy CPU-seconds per GB delivered"] = proxiesNoRTMPT
			rows["Live "+n+" × 256 kbit/s: proxy RSS per live session"] = proxiesNoRTMPT
		}
	} else {
		t.Logf("LOUD: %s is missing (apt-get install -y nginx libnginx-mod-rtmp): the live rows are not checked", nginxModule)
	}
	for row, cols := range rows {
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
		for _, i := range cols {
			if strings.TrimSpace(cells[i]) == "n/a" {
				t.Errorf("row %q, column %d is n/a:\n%s\n%s", row, i, line, stderr.String())
			}
		}
	}
	// Every player of the short live loads is fed to the end on every path.
	fedAtEnd := map[string]string{"Live: players still receiving at the end": "10",
		"Live 50 × 256 kbit/s: players still receiving at the end":  "50",
		"Live 100 × 256 kbit/s: players still receiving at the end": "100"}
	for row, want := range fedAtEnd {
		if _, err := os.Stat(nginxModule); err != nil {
			break
		}
		cells := strings.Split(findRow(table, row), "|")
		for i := 3; i <= 5 && i < len(cells); i++ {
			if got := strings.TrimSpace(cells[i]); got != want {
				t.Errorf("row %q, column %d: %s players fed at the end, want %s", row, i, got, want)
			}
		}
	}
	// route: command beside connect: the second edge measured on the set-up and live loads.
	if i := strings.Index(table, "## route: command beside route: connect"); i < 0 {
		t.Errorf("results.md has no route: command table:\n%s", table)
	} else {
		cmd := table[i:]
		for _, row := range []string{"Connect time p50", "Connect time p99", "Session rate", "Live: proxy CPU", "Proxy CPU-seconds per GB"} {
			cells := strings.Split(findRow(cmd, row), "|")
			// cells: "", metric, better, haproxy, edge-rtmp, edge-cmd, ratio, difference, ""
			if len(cells) != 9 || strings.TrimSpace(cells[4]) == "n/a" || strings.TrimSpace(cells[5]) == "n/a" {
				t.Errorf("route: command row %q not measured on both edges: %q\n%s", row, findRow(cmd, row), stderr.String())
			}
		}
	}
	// Replication: the plain publish through HAProxy and the command edge, and
	// the replicating edge, whose every publish is also on the two other servers.
	if i := strings.Index(table, "## Replication"); i < 0 {
		t.Errorf("results.md has no replication table:\n%s", table)
	} else {
		repl := table[i:]
		for _, row := range []string{"Proxy CPU (% of one core)", "Proxy CPU per publisher", "Publishing sessions on the media servers", "Publishers at 2.5 Mbit/s"} {
			cells := strings.Split(findRow(repl, row), "|")
			// cells: "", metric, better, haproxy, edge-cmd, edge-repl, ratio, ""
			if len(cells) != 8 || strings.TrimSpace(cells[3]) == "n/a" || strings.TrimSpace(cells[4]) == "n/a" || strings.TrimSpace(cells[5]) == "n/a" {
				t.Errorf("replication row %q not measured: %q\n%s", row, findRow(repl, row), stderr.String())
			}
		}
		pubs := strings.Split(findRow(repl, "Publishers at 2.5 Mbit/s"), "|")
		sessions := strings.Split(findRow(repl, "Publishing sessions on the media servers"), "|")
		if len(pubs) == 8 && len(sessions) == 8 {
			var p, plain, replicated int
			fmt.Sscan(strings.TrimSpace(pubs[5]), &p)
			fmt.Sscan(strings.TrimSpace(sessions[4]), &plain)
			fmt.Sscan(strings.TrimSpace(sessions[5]), &replicated)
			if p == 0 || plain != p || replicated != 3*p {
				t.Errorf("publishing sessions on the servers: plain %d, replicated %d for %d publishers; want %d and %d (origin + 2 replicas)",
					plain, replicated, p, p, 3*p)
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
