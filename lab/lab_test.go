package lab

// Shared helpers of the lab tests: tools, commands, scratch files.

import (
	"github.com/rtmp-edge/rtmp-edge/integration/peers"

	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// commandTimeout bounds every external command a test runs; none of them
// should take more than a few seconds, and a hung one must not hang CI.
const commandTimeout = 2 * time.Minute

// repoRoot is the module root: lab/ is one level below it.
func repoRoot(t *testing.T) string {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatalf("getwd: %v", err)
	}
	root := filepath.Dir(wd)
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("repository root not found above %s: %v", wd, err)
	}
	return root
}

// needTool returns the path of a program the test cannot do without. A
// missing tool fails the test (CI installs them): a skip would let the lab
// rot unnoticed.
func needTool(t *testing.T, name, install string) string {
	t.Helper()
	if err := peers.Install(name); err != nil {
		t.Fatalf("%s: %v (install it: %s)", name, err, install)
	}
	path, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s not found in PATH: install it (%s)", name, install)
	}
	return path
}

// result is what a finished command left behind.
type result struct {
	stdout, stderr string
	err            error
}

// run runs a command in dir with extra environment variables and returns its
// output; it never fails the test itself.
func run(t *testing.T, dir string, env []string, name string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	return result{stdout: stdout.String(), stderr: stderr.String(), err: err}
}

// mustRun is run for commands that have to succeed.
func mustRun(t *testing.T, dir string, env []string, name string, args ...string) string {
	t.Helper()
	r := run(t, dir, env, name, args...)
	if r.err != nil {
		t.Fatalf("%s %v: %v\nstdout:\n%s\nstderr:\n%s", name, args, r.err, r.stdout, r.stderr)
	}
	return r.stdout
}

// writeFile writes a scratch file under t.TempDir().
func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatalf("write %s: %v", path, err)
	}
	return path
}
