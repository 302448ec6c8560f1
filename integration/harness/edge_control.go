package harness

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// reloadWait bounds how long the edge may take to answer a SIGHUP with its
// "config reloaded" or "config reload failed" line.
const reloadWait = 15 * time.Second

// Signal sends sig to the edge and returns when it was sent, the start of any
// "within grace + 1 s" measurement (see Proc.ExitedAt).
func (e *Edge) Signal(sig syscall.Signal) time.Time {
	now := time.Now()
	e.Proc.Signal(sig)
	return now
}

// WriteConfig replaces the edge's config file with yamlConfig. It writes a
// temporary file beside it and renames it over the old one, so that an edge
// reading the file at that moment sees the old or the new one, never half.
func (e *Edge) WriteConfig(t testing.TB, yamlConfig string) {
	t.Helper()
	tmp, err := os.CreateTemp(filepath.Dir(e.ConfigPath), "edge-*.yaml")
	if err != nil {
		t.Fatalf("rewrite edge config: %v", err)
	}
	_, werr := tmp.WriteString(yamlConfig)
	cerr := tmp.Close()
	if werr != nil || cerr != nil {
		os.Remove(tmp.Name())
		t.Fatalf("rewrite edge config: write %v, close %v", werr, cerr)
	}
	if err := os.Rename(tmp.Name(), e.ConfigPath); err != nil {
		os.Remove(tmp.Name())
		t.Fatalf("rewrite edge config: %v", err)
	}
}

// Reload writes yamlConfig as the edge's config file, sends SIGHUP and waits
// for the edge's answer to this signal: the first "config reloaded" or "config
// reload failed" line logged after it. It returns that line; the caller checks
// which one it is.
func (e *Edge) Reload(t testing.TB, yamlConfig string) LogLine {
	t.Helper()
	e.WriteConfig(t, yamlConfig)
	mark := e.LogMark()
	e.Signal(syscall.SIGHUP)
	return e.WaitLogSince(t, mark, func(l LogLine) bool {
		return l.Msg() == "config reloaded" || l.Msg() == "config reload failed"
	}, reloadWait)
}

// Healthz fetches /healthz from the admin address (no token: it is open by
// contract, for L4 balancers) and returns its status code and body (2 s bound,
// short enough to poll right after a signal).
func (e *Edge) Healthz() (int, string, error) {
	if e.Metrics == "" {
		return 0, "", fmt.Errorf("healthz: no admin address in the config")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+e.Metrics+"/healthz", nil)
	if err != nil {
		return 0, "", fmt.Errorf("healthz request: %w", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, "", fmt.Errorf("get /healthz: %w", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	return resp.StatusCode, string(b), nil
}
