package harness

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

// An upgrade replaces the running edge by a new process started from the
// same path: the old process's children (the new edge) inherit its stderr,
// so the log the harness captures goes on across it, and they stay in its
// process group, so StartEdge's cleanup (SIGTERM to the group) stops them
// too. The old process is reaped as soon as it exits (Proc's Wait), which is
// why PidAlive can tell it is gone, while Proc.Done waits until the last
// holder of the stderr pipe has exited.

// EdgeBinaryCopy copies the edge binary built by BuildEdge into a directory
// of the test's own and returns its path: a test that replaces the file
// there (an upgrade) leaves the shared build alone.
func EdgeBinaryCopy(t testing.TB) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "rtmp-edge")
	if err := copyExecutable(BuildEdge(t), dst); err != nil {
		t.Fatalf("copy the edge binary: %v", err)
	}
	return dst
}

// ReplaceFile replaces path by a file with src's content, as a package
// manager does: written to a temporary name beside it, then renamed over it
// (a running binary cannot be written in place: ETXTBSY).
func ReplaceFile(t testing.TB, path string, content []byte) {
	t.Helper()
	tmp := path + ".new"
	if err := os.WriteFile(tmp, content, 0o755); err != nil {
		t.Fatalf("write %s: %v", tmp, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatalf("rename %s over %s: %v", tmp, path, err)
	}
}

// ReplaceWithBuild replaces path by a fresh copy of BuildEdge's binary (see
// ReplaceFile).
func ReplaceWithBuild(t testing.TB, path string) {
	t.Helper()
	b, err := os.ReadFile(BuildEdge(t))
	if err != nil {
		t.Fatalf("read the edge binary: %v", err)
	}
	ReplaceFile(t, path, b)
}

func copyExecutable(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// StartEdgeAt is StartEdge running the binary at bin instead of BuildEdge's
// (an upgrade test replaces that file and the edge starts it again from
// there). Same capture, readiness wait and cleanup.
func StartEdgeAt(t testing.TB, bin, yamlConfig string, extraArgs ...string) *Edge {
	t.Helper()
	var addrs edgeConfigAddrs
	if err := yaml.Unmarshal([]byte(yamlConfig), &addrs); err != nil {
		t.Fatalf("test config is not YAML: %v\n%s", err, yamlConfig)
	}
	e := &Edge{
		ConfigPath: filepath.Join(t.TempDir(), "edge.yaml"),
		Listeners:  map[string]string{},
		Metrics:    addrs.Admin.Address,
		AdminToken: addrs.Admin.Token,
		changed:    make(chan struct{}),
	}
	for _, l := range addrs.Listeners {
		e.Listeners[l.Name] = l.Address
	}
	if err := os.WriteFile(e.ConfigPath, []byte(yamlConfig), 0o644); err != nil {
		t.Fatalf("write edge config: %v", err)
	}
	argv := append([]string{bin, "-config", e.ConfigPath, "-log-format", "json"}, extraArgs...)
	p, err := startProc("rtmp-edge", e.feed, argv...)
	if err != nil {
		t.Fatalf("start rtmp-edge: %v", err)
	}
	e.Proc = p
	t.Cleanup(func() {
		if err := p.Stop(); err != nil && t.Failed() {
			t.Logf("rtmp-edge exit: %v", err)
		}
		out := p.Output()
		for _, bad := range []string{"WARNING: DATA RACE", "panic: ", "fatal error: "} {
			if strings.Contains(out, bad) {
				t.Errorf("rtmp-edge output contains %q", bad)
			}
		}
		if t.Failed() {
			t.Logf("--- rtmp-edge output (last 64 KiB):\n%s", p.Output())
		}
	})
	for name, addr := range e.Listeners {
		if err := waitAccept(p, addr, 15*time.Second); err != nil {
			t.Fatalf("rtmp-edge listener %s: %v\nconfig:\n%s\noutput:\n%s", name, err, yamlConfig, p.Output())
		}
	}
	return e
}

// PidAlive reports whether process pid exists (signal 0). The harness reaps
// the edge it started as soon as it exits, so a gone first edge reads false.
func PidAlive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// WaitPidGone waits up to timeout for process pid to end; it returns when
// it did, or an error.
func WaitPidGone(pid int, timeout time.Duration) (time.Time, error) {
	deadline := time.Now().Add(timeout)
	for PidAlive(pid) {
		if time.Now().After(deadline) {
			return time.Time{}, fmt.Errorf("process %d still runs after %s", pid, timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return time.Now(), nil
}

// SignalPid sends sig to one process (not the group: after an upgrade the
// group holds the old and the new edge).
func SignalPid(t testing.TB, pid int, sig syscall.Signal) time.Time {
	t.Helper()
	now := time.Now()
	if err := syscall.Kill(pid, sig); err != nil {
		t.Fatalf("signal %v to %d: %v", sig, pid, err)
	}
	return now
}

// SocketOwners returns the pids of the processes that hold a TCP socket
// whose peer is peer ("ip:port"), from ss(8): after an upgrade, which edge
// process relays a client's connection.
func SocketOwners(peer string) ([]int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := RunTool(ctx, "ss", "-Htnp")
	if err != nil {
		return nil, err
	}
	var pids []int
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		// State Recv-Q Send-Q Local Peer Process
		if len(f) < 6 || f[4] != peer {
			continue
		}
		for _, part := range strings.Split(strings.Join(f[5:], " "), "pid=")[1:] {
			end := strings.IndexAny(part, ",)")
			if end < 0 {
				continue
			}
			if pid, err := strconv.Atoi(part[:end]); err == nil {
				pids = append(pids, pid)
			}
		}
	}
	return pids, nil
}

// GapMeter watches players' packet counts (every 5 ms) and keeps, per
// player, the longest time between two arrivals: the pause a viewer sees
// around an event. It is a measurement for reports, not for assertions.
type GapMeter struct {
	stop chan struct{}
	done chan struct{}
	mu   sync.Mutex
	gaps map[*Player]time.Duration
}

// MeasureGaps starts a GapMeter over players; Stop it to read the results.
func MeasureGaps(players []*Player) *GapMeter {
	g := &GapMeter{stop: make(chan struct{}), done: make(chan struct{}), gaps: map[*Player]time.Duration{}}
	go func() {
		defer close(g.done)
		last := make([]int, len(players))
		at := make([]time.Time, len(players))
		now := time.Now()
		for i, p := range players {
			last[i], at[i] = p.packetCount(), now
		}
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-g.stop:
				return
			case now = <-tick.C:
			}
			for i, p := range players {
				n := p.packetCount()
				if n == last[i] {
					continue
				}
				gap := now.Sub(at[i])
				g.mu.Lock()
				if gap > g.gaps[p] {
					g.gaps[p] = gap
				}
				g.mu.Unlock()
				last[i], at[i] = n, now
			}
		}
	}()
	return g
}

// Stop ends the measurement and returns each player's longest gap (between
// two packets, both seen while it ran).
func (g *GapMeter) Stop() map[*Player]time.Duration {
	close(g.stop)
	<-g.done
	g.mu.Lock()
	defer g.mu.Unlock()
	out := make(map[*Player]time.Duration, len(g.gaps))
	for p, d := range g.gaps {
		out[p] = d
	}
	return out
}

// packetCount is len(Packets()) without the copy, for frequent polling.
func (p *Player) packetCount() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.packets)
}
