package bench

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"image/png"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rtmp-edge/rtmp-edge/integration/peers"
)

// soakSessions is the one-minute soak's size: small enough for a shared CI
// machine, large enough that a leak of one goroutine or descriptor per
// session (about 1,200 sessions are set up in the minute) is far outside the
// verdict's tolerance.
const soakSessions = 100

// TestSoakMinute runs bench/soak.sh for one minute of churn (100 sessions,
// each held 5 s, half of them over RTMPT) through rtmp-edge to three
// nginx-rtmp servers. The script's verdict fails the test when goroutines,
// descriptors or RSS do not come back to the post-warm-up baseline once the
// sessions drained, or when sessions stay open; soak.md says which.
func TestSoakMinute(t *testing.T) {
	peers.Ensure(t, "jq", "ss", "curl", "nginx", peers.NginxRTMPModule)
	out := t.TempDir()
	var stderr bytes.Buffer
	var err error
	for attempt := 0; attempt < 3; attempt++ {
		stderr.Reset()
		base := 20000 + 100*rand.IntN(120) // below the ephemeral range, which starts at 32768
		// Bounded: 20 s warm-up + 60 s churn + drains, two waits for a GC (up to
		// 150 s each) and settles + builds.
		ctx, cancel := context.WithTimeout(context.Background(), 12*time.Minute)
		cmd := exec.CommandContext(ctx, "bash", "soak.sh", "-sessions", strconv.Itoa(soakSessions), "-duration", "60s",
			"-warmup", "20s", "-hold", "5s", "-interval", "2s", "-settle", "15s", "-out", out)
		cmd.Env = append(os.Environ(), fmt.Sprintf("SOAK_PORT_BASE=%d", base))
		cmd.Stderr = &stderr
		// On timeout the script's whole process group gets SIGTERM: the load,
		// nginx and the edge stop, and the script's EXIT trap removes what is
		// left. WaitDelay bounds the wait should anything hang.
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM) }
		cmd.WaitDelay = 30 * time.Second
		err = cmd.Run()
		cancel()
		if err == nil || !strings.Contains(stderr.String(), "is in use") {
			break
		}
	}
	md, _ := os.ReadFile(filepath.Join(out, "soak.md"))
	if err != nil {
		t.Fatalf("soak.sh: %v\n--- soak.md:\n%s\n--- stderr:\n%s", err, md, stderr.String())
	}
	if !strings.Contains(string(md), "Verdict: **PASS**") {
		t.Fatalf("soak.md has no PASS verdict:\n%s", md)
	}

	// The load really ran: during the churn the edge held (nearly) every
	// session at once, over both protocols, and the sessions turned over.
	peakActive, peakTunnels, ended := soakPeaks(t, filepath.Join(out, "soak.tsv"))
	if peakActive < soakSessions*8/10 || peakTunnels < soakSessions*3/10 {
		t.Errorf("churn peaked at %v client connections and %v tunnels; want at least %d and %d\n%s",
			peakActive, peakTunnels, soakSessions*8/10, soakSessions*3/10, md)
	}
	if ended < 5*soakSessions {
		t.Errorf("only %v sessions ended during the run; a 60 s churn of %d sessions held 5 s should end several hundred\n%s", ended, soakSessions, md)
	}
	f, err := os.Open(filepath.Join(out, "soak.png"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := png.Decode(f); err != nil {
		t.Fatalf("soak.png: %v", err)
	}
	t.Logf("soak.md:\n%s", md)
}

// soakPeaks reads soak.tsv: the largest client-connection and tunnel counts
// of the churn phase and the last count of ended sessions.
func soakPeaks(t *testing.T, path string) (active, tunnels, ended float64) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	var cols []string
	for sc.Scan() {
		fields := strings.Split(sc.Text(), "\t")
		if cols == nil {
			cols = fields
			continue
		}
		row := map[string]string{}
		for i, c := range cols {
			if i < len(fields) {
				row[c] = fields[i]
			}
		}
		num := func(c string) float64 {
			v, err := strconv.ParseFloat(row[c], 64)
			if err != nil {
				return 0
			}
			return v
		}
		if row["phase"] == "churn" {
			active, tunnels = max(active, num("sessions_active")), max(tunnels, num("rtmpt_sessions"))
		}
		ended = max(ended, num("sessions_ended"))
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return active, tunnels, ended
}
