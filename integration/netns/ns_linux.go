//go:build linux

package netns

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// netnsDir is where `ip netns add` pins named namespaces.
const netnsDir = "/run/netns"

// commandTimeout bounds every set-up command (ip, nft, sysctl, scripts).
const commandTimeout = 20 * time.Second

// ErrNamespaceThread means a goroutine could not return its OS thread to the
// namespace it came from; that thread is then retired, never reused.
var ErrNamespaceThread = errors.New("netns: cannot restore thread's network namespace")

// NS is one named network namespace (a file under /run/netns).
type NS struct {
	Name string
}

// Command returns a command that runs name with args inside the namespace
// (`ip netns exec`, which execs the command itself: its pid is the command's).
func (ns NS) Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", ns.Name, name}, args...)...)
}

// Argv is the command line that runs name with args inside the namespace,
// for harness.StartProc.
func (ns NS) Argv(name string, args ...string) []string {
	return append([]string{"ip", "netns", "exec", ns.Name, name}, args...)
}

// Run runs a short set-up command inside the namespace and returns its
// combined output in the error when it fails.
func (ns NS) Run(name string, args ...string) error {
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	return runCmd(ns.Command(ctx, name, args...))
}

// IP runs `ip -n <ns> args...`.
func (ns NS) IP(args ...string) error {
	return runIP(append([]string{"-n", ns.Name}, args...)...)
}

// Do runs f on an OS thread switched into the namespace, so sockets f creates
// (net.Listen, net.Dialer.Dial) live in it. A socket keeps its namespace for
// life, so it may be used from any goroutine once Do returns. f must create
// its sockets on the calling goroutine (no goroutines of its own).
func (ns NS) Do(f func() error) error {
	errc := make(chan error, 1)
	go func() {
		defer func() {
			if r := recover(); r != nil {
				errc <- fmt.Errorf("netns: panic in %s: %v\n%s", ns.Name, r, debug.Stack())
			}
		}()
		errc <- ns.doLocked(f)
	}()
	return <-errc
}

// doLocked is Do on the current goroutine. The thread stays locked (and so
// is discarded when the goroutine ends) unless it is back in its own namespace.
func (ns NS) doLocked(f func() error) error {
	runtime.LockOSThread()
	self, err := os.Open(fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid()))
	if err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("netns: open own namespace: %w", err)
	}
	defer self.Close()
	target, err := os.Open(filepath.Join(netnsDir, ns.Name))
	if err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("netns: open namespace %s: %w", ns.Name, err)
	}
	defer target.Close()
	if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("netns: setns(%s, CLONE_NEWNET): %w", ns.Name, err)
	}
	ferr := f()
	if err := unix.Setns(int(self.Fd()), unix.CLONE_NEWNET); err != nil {
		return fmt.Errorf("%w: setns back from %s: %w", ErrNamespaceThread, ns.Name, err)
	}
	runtime.UnlockOSThread()
	return ferr
}

// runIP runs the ip tool with a timeout.
func runIP(args ...string) error {
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	return runCmd(exec.CommandContext(ctx, "ip", args...))
}

// runCmd runs cmd and folds its output into the error.
func runCmd(cmd *exec.Cmd) error {
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %w: %s", strings.Join(cmd.Args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}
