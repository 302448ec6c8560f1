package netns

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// stopGrace is how long a process has between SIGTERM and SIGKILL.
const stopGrace = 5 * time.Second

// maxLogTail caps how much of a process's log a failure message quotes.
const maxLogTail = 4 << 10

// ErrExited means a process the lab needs running has ended.
var ErrExited = errors.New("netns: process exited")

// Proc is a lab process (nginx, ffmpeg, rtmp-edge) with its output in a file.
type Proc struct {
	Name    string
	LogPath string
	cmd     *exec.Cmd
	done    chan struct{}
	waitErr error
}

// StartProc starts cmd with stdout and stderr in a log file under dir and
// stops it (SIGTERM, then SIGKILL) in t's cleanup.
func StartProc(t testing.TB, dir, name string, cmd *exec.Cmd) *Proc {
	t.Helper()
	logPath := fmt.Sprintf("%s/%s.log", dir, name)
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatalf("create log for %s: %v", name, err)
	}
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		_ = logFile.Close()
		t.Fatalf("start %s (%s): %v", name, strings.Join(cmd.Args, " "), err)
	}
	p := &Proc{Name: name, LogPath: logPath, cmd: cmd, done: make(chan struct{})}
	go func() {
		p.waitErr = cmd.Wait()
		_ = logFile.Close()
		close(p.done)
	}()
	t.Cleanup(p.Stop)
	return p
}

// Stop ends the process and waits for it; calling it again is harmless.
func (p *Proc) Stop() {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(stopGrace):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// Exited reports ErrExited (with the wait status) once the process has ended.
func (p *Proc) Exited() error {
	select {
	case <-p.done:
		return fmt.Errorf("%w: %s: %v", ErrExited, p.Name, p.waitErr)
	default:
		return nil
	}
}

// Done is closed when the process has ended.
func (p *Proc) Done() <-chan struct{} { return p.done }

// Log returns the tail of the process's output, for failure messages.
func (p *Proc) Log() string {
	b, err := os.ReadFile(p.LogPath)
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	if len(b) > maxLogTail {
		b = b[len(b)-maxLogTail:]
	}
	return string(b)
}
