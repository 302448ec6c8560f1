package harness

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// chromiumRun bounds one headless Chromium run.
const chromiumRun = 2 * time.Minute

// chromiumArgs are the flags of every headless run: as root Chromium needs
// --no-sandbox; the rest keep it from phoning home (updates, sync, field
// trials), and the resolver rule makes every host but localhost and 127.*
// fail to resolve (the rule applies to address literals too, hence the
// exception), so the page under test can reach nothing beyond 127.0.0.0/8.
func chromiumArgs(profile string) []string {
	return []string{
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--disable-extensions", "--disable-default-apps", "--no-default-browser-check",
		"--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.*",
		"--user-data-dir=" + profile,
	}
}

// ChromiumDOM loads url in headless Chromium, lets its scripts run for 4 s of
// virtual time (fetches of the admin API included) and returns the rendered
// DOM. Chromium is installed if missing.
func ChromiumDOM(t testing.TB, url string) string {
	t.Helper()
	bin := RequireTool(t, "chromium")
	ctx, cancel := context.WithTimeout(context.Background(), chromiumRun)
	defer cancel()
	argv := append([]string{bin}, chromiumArgs(t.TempDir())...)
	argv = append(argv, "--virtual-time-budget=4000", "--dump-dom", url)
	out, err := RunTool(ctx, argv...)
	if err != nil {
		t.Fatalf("chromium --dump-dom %s: %v", url, err)
	}
	return string(out)
}

// ChromiumScreenshot renders url at 1280x900 after 4 s of virtual time and
// writes a PNG to path.
func ChromiumScreenshot(t testing.TB, url, path string) {
	t.Helper()
	bin := RequireTool(t, "chromium")
	ctx, cancel := context.WithTimeout(context.Background(), chromiumRun)
	defer cancel()
	argv := append([]string{bin}, chromiumArgs(t.TempDir())...)
	argv = append(argv, "--virtual-time-budget=4000", "--window-size=1280,900", "--hide-scrollbars",
		"--screenshot="+path, url)
	if _, err := RunTool(ctx, argv...); err != nil {
		t.Fatalf("chromium --screenshot %s: %v", url, err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Size() == 0 {
		t.Fatalf("chromium wrote no screenshot at %s (%v)", path, err)
	}
}

// ArtifactPath is where a test keeps a file worth looking at after the run:
// $RTMP_EDGE_ARTIFACTS/<name> when that is set (CI collects it), else the
// test's temp dir. The caller logs the path.
func ArtifactPath(t testing.TB, name string) string {
	t.Helper()
	dir := os.Getenv("RTMP_EDGE_ARTIFACTS")
	if dir == "" {
		return filepath.Join(t.TempDir(), name)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatalf("artifact dir %s: %v", dir, err)
	}
	return filepath.Join(dir, name)
}
