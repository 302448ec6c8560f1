package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"time"

	"github.com/rtmp-edge/rtmp-edge/edge"
	"github.com/rtmp-edge/rtmp-edge/edge/handover"
)

// upgradeOnUSR2 upgrades the edge on SIGUSR2 (as nginx does): it starts the
// binary at self with the same arguments and hands it the listening sockets
// and every session that can move. If the new binary fails to start, to read
// its config or to get ready in time, this process keeps everything and goes
// on. After a hand-over this process exits as soon as it holds nothing: stop
// is called then (a SIGTERM meanwhile ends what is left after -grace).
func upgradeOnUSR2(ctx context.Context, log *slog.Logger, e *edge.Edge, self string, args []string, usr2 <-chan os.Signal, stop context.CancelFunc) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-usr2:
		}
		if self == "" {
			log.Error("upgrade: the path of this binary is unknown; restart instead")
			continue
		}
		log.Info("upgrade: starting the new binary", "path", self)
		start := time.Now()
		pid, rep, err := upgrade(e, self, args)
		if err != nil {
			log.Error("upgrade failed: this process keeps serving everything", "path", self, "err", err.Error())
			continue
		}
		log.Info("upgrade: handed over to the new process", "pid", pid, "sockets", rep.Listeners,
			"sessions_moved", rep.Moved, "sessions_staying", rep.Stayed,
			"longest_pause", rep.LongestPause.Round(time.Microsecond).String(), "took", time.Since(start).Round(time.Millisecond).String())
		for e.Sessions() > 0 && ctx.Err() == nil {
			time.Sleep(100 * time.Millisecond)
		}
		log.Info("upgrade: this process holds nothing more; exiting")
		stop()
		return
	}
}

// upgrade starts the new process and runs the hand-over.
func upgrade(e *edge.Edge, self string, args []string) (int, edge.UpgradeReport, error) {
	ch, childEnd, err := handover.Pair()
	if err != nil {
		return 0, edge.UpgradeReport{}, err
	}
	defer ch.Close()
	cmd := exec.Command(self, args...)
	cmd.ExtraFiles = []*os.File{childEnd} // descriptor 3 in the child
	cmd.Env = append(os.Environ(), handover.EnvFD+"=3")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = nil, os.Stdout, os.Stderr
	err = cmd.Start()
	childEnd.Close()
	if err != nil {
		return 0, edge.UpgradeReport{}, fmt.Errorf("start %s: %w", self, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	rep, err := e.HandOver(ch)
	if err != nil {
		// Whatever the new process got, it must not serve: stop it.
		_ = cmd.Process.Kill()
		select {
		case werr := <-exited:
			var ee *exec.ExitError
			if errors.As(werr, &ee) && ee.Exited() {
				err = fmt.Errorf("%w (the new process exited with status %d)", err, ee.ExitCode())
			}
		case <-time.After(5 * time.Second):
		}
		return cmd.Process.Pid, rep, err
	}
	return cmd.Process.Pid, rep, nil
}
