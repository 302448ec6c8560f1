package harness

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rtmp-edge/rtmp-edge/integration/peers"
)

// stopGrace is how long a process gets after SIGTERM before it is killed.
const stopGrace = 5 * time.Second

// tailLimit bounds the captured output of a process kept for failure reports.
const tailLimit = 64 << 10

// ErrProcTimeout is returned when a process does not end within the allowed time.
var ErrProcTimeout = errors.New("process did not end in time")

// Proc is a child process bound to a test. It runs in its own process group so
// that stopping it also stops its children (nginx workers, `ip netns exec` targets).
type Proc struct {
	Name string

	cmd      *exec.Cmd
	done     chan struct{}
	err      error     // valid after done is closed
	exitedAt time.Time // valid after done is closed
	output   *tailBuffer
}

// RequireTool makes sure the command name is installed (integration/peers
// installs the Debian package when it is missing) and fails the test, never
// skips it, when it still is not: a missing peer is a broken environment.
func RequireTool(t testing.TB, name string) string {
	t.Helper()
	peers.Ensure(t, name)
	p, err := exec.LookPath(name)
	if err != nil {
		for _, dir := range []string{"/usr/sbin", "/sbin"} {
			if _, serr := os.Stat(dir + "/" + name); serr == nil {
				return dir + "/" + name
			}
		}
		t.Fatalf("REQUIRED TOOL MISSING: %q is not on PATH (%v); apt-get install -y ffmpeg rtmpdump nginx libnginx-mod-rtmp", name, err)
	}
	return p
}

// StartProc starts argv as a process bound to t: it is stopped in t.Cleanup.
// Its combined stdout and stderr are kept (the last 64 KiB) and printed when the
// test fails.
func StartProc(t testing.TB, name string, argv ...string) *Proc {
	t.Helper()
	p, err := startProc(name, nil, argv...)
	if err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	t.Cleanup(func() {
		p.Stop()
		if t.Failed() {
			t.Logf("--- output of %s (%s), last %d bytes:\n%s", p.Name, strings.Join(argv, " "), tailLimit, p.Output())
		}
	})
	return p
}

// startProc starts argv; extra, when not nil, also receives the process's stderr.
func startProc(name string, stderrTee func([]byte), argv ...string) (*Proc, error) {
	if len(argv) == 0 {
		return nil, errors.New("start process: empty command line")
	}
	p := &Proc{Name: name, done: make(chan struct{}), output: &tailBuffer{limit: tailLimit}}
	p.cmd = exec.Command(argv[0], argv[1:]...)
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	p.cmd.Stdout = p.output
	if stderrTee != nil {
		p.cmd.Stderr = &teeWriter{w: p.output, tee: stderrTee}
	} else {
		p.cmd.Stderr = p.output
	}
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", argv[0], err)
	}
	go func() {
		p.err = p.cmd.Wait()
		p.exitedAt = time.Now()
		close(p.done)
	}()
	return p, nil
}

// Done is closed when the process has ended.
func (p *Proc) Done() <-chan struct{} { return p.done }

// Exited reports whether the process has ended, and its error if so.
func (p *Proc) Exited() (bool, error) {
	select {
	case <-p.done:
		return true, p.err
	default:
		return false, nil
	}
}

// ExitedAt is when the process was seen to end (the zero time while it runs).
// Tests measure "exits within grace + 1 s" as ExitedAt minus the time they sent
// the signal, which does not depend on when the test looked.
func (p *Proc) ExitedAt() time.Time {
	select {
	case <-p.done:
		return p.exitedAt
	default:
		return time.Time{}
	}
}

// ExitCode is the process's exit status once it has ended: -1 while it runs or
// when a signal ended it.
func (p *Proc) ExitCode() int {
	select {
	case <-p.done:
		return p.cmd.ProcessState.ExitCode()
	default:
		return -1
	}
}

// Wait waits up to timeout for the process to end by itself.
func (p *Proc) Wait(timeout time.Duration) error {
	select {
	case <-p.done:
		return p.err
	case <-time.After(timeout):
		return fmt.Errorf("wait for %s: %w after %s", p.Name, ErrProcTimeout, timeout)
	}
}

// Signal sends sig to the process group.
func (p *Proc) Signal(sig syscall.Signal) {
	select {
	case <-p.done:
		return
	default:
	}
	// The group id is the child's pid (Setpgid); this reaches only what we started.
	_ = syscall.Kill(-p.cmd.Process.Pid, sig)
}

// Stop sends SIGTERM to the process group, waits up to 5 s, then SIGKILLs it.
// It returns the process's exit error. Calling Stop again is harmless.
func (p *Proc) Stop() error {
	p.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return p.err
	case <-time.After(stopGrace):
	}
	return p.Kill()
}

// Kill SIGKILLs the process group (a crash, as seen by peers) and waits for it.
func (p *Proc) Kill() error {
	p.Signal(syscall.SIGKILL)
	select {
	case <-p.done:
		return p.err
	case <-time.After(stopGrace):
		return fmt.Errorf("kill %s: %w", p.Name, ErrProcTimeout)
	}
}

// Output returns the last 64 KiB of the process's stdout and stderr.
func (p *Proc) Output() string { return p.output.String() }

// Pid is the process id (also its process group id).
func (p *Proc) Pid() int { return p.cmd.Process.Pid }

// RunTool runs argv to completion, bounded by ctx, and returns its stdout.
// On failure the error carries the tail of its stderr.
func RunTool(ctx context.Context, argv ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = stopGrace
	var stdout bytes.Buffer
	stderr := &tailBuffer{limit: 4 << 10}
	cmd.Stdout = &stdout
	cmd.Stderr = stderr
	if err := cmd.Run(); err != nil {
		return stdout.Bytes(), fmt.Errorf("run %s: %w (ctx: %v); stderr tail:\n%s", argv[0], err, ctx.Err(), stderr.String())
	}
	return stdout.Bytes(), nil
}

// tailBuffer keeps the last limit bytes written to it; safe for concurrent use.
type tailBuffer struct {
	mu    sync.Mutex
	buf   []byte
	limit int
}

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	if over := len(b.buf) - b.limit; over > 0 {
		b.buf = append(b.buf[:0], b.buf[over:]...)
	}
	return len(p), nil
}

func (b *tailBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.buf)
}

// teeWriter writes to w and hands a copy of every write to tee.
type teeWriter struct {
	w   *tailBuffer
	tee func([]byte)
}

func (t *teeWriter) Write(p []byte) (int, error) {
	t.tee(p)
	return t.w.Write(p)
}
