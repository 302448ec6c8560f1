// Command rtmp-edge is the RTMP-aware front door of a media cluster.
//
//	rtmp-edge -config edge.yaml          run
//	rtmp-edge -check -config edge.yaml   validate the file and exit
//	rtmp-edge -lab                       the embedded quick start (no media server needed)
//
// Signals: SIGHUP reloads the config file (a broken file is refused and the
// running config stays); SIGTERM or SIGINT stop accepting at once, give the
// running sessions -grace, then close both sides of what is left and exit 0;
// a second SIGTERM/SIGINT exits at once.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/rtmp-edge/rtmp-edge/edge"
	"github.com/rtmp-edge/rtmp-edge/edge/handover"
)

func main() {
	tuneGC()
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	// The binary an upgrade starts: this path, resolved now (the file there
	// may be replaced later; that is the point).
	self, err := exec.LookPath(os.Args[0])
	if err == nil {
		self, err = filepath.Abs(self)
	}
	if err != nil {
		self = ""
	}
	fs := flag.NewFlagSet("rtmp-edge", flag.ContinueOnError)
	configPath := fs.String("config", "", "YAML config `file`")
	check := fs.Bool("check", false, "validate the config file and exit: 0 if valid, 1 with every error and its line")
	checkHost := fs.Bool("check-host", true, "with -check: also check that this host can run the file (transparent source set-up); false checks the file alone, for a file that runs elsewhere (an image build)")
	lab := fs.Bool("lab", false, "run the embedded quick start: the edge in front of three in-process media servers")
	labRTMP := fs.String("lab-rtmp", "127.0.0.1:1935", "with -lab: the RTMP listener `address`")
	labRTMPT := fs.String("lab-rtmpt", "127.0.0.1:8080", "with -lab: the RTMPT (and RTMP) listener `address`")
	labAdmin := fs.String("lab-admin", "127.0.0.1:9935", "with -lab: the admin endpoint `address` (stats page, API, metrics); empty: none")
	logFormat := fs.String("log-format", "text", "log format: text or json")
	logLevel := fs.String("log-level", "info", "log level: debug, info, warn or error")
	grace := fs.Duration("grace", 10*time.Second, "on SIGINT/SIGTERM, how long running sessions may go on before they are closed")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	var log *slog.Logger
	log, err = newLogger(*logFormat, *logLevel)
	if err != nil {
		fmt.Fprintln(os.Stderr, "rtmp-edge:", err)
		return 2
	}
	slog.SetDefault(log)

	// SIGHUP is caught from the start: its default action would end the
	// process, and an operator's reflex is to send it.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	usr2 := make(chan os.Signal, 1)
	signal.Notify(usr2, syscall.SIGUSR2)
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	stopSignals := make(chan os.Signal, 2)
	signal.Notify(stopSignals, os.Interrupt, syscall.SIGTERM)
	go func() {
		sig := <-stopSignals
		log.Info("signal: stopping", "signal", sig.String(), "grace", grace.String())
		stop()
		sig = <-stopSignals
		log.Warn("second signal: exiting at once", "signal", sig.String())
		os.Exit(1)
	}()

	if *lab {
		go func() {
			for {
				select {
				case <-hup:
					log.Info("SIGHUP: the lab is built in and has no config file to reload")
				case <-usr2:
					log.Info("SIGUSR2: the lab is not upgraded in place; restart it")
				}
			}
		}()
		if err := runLab(ctx, log, *labRTMP, *labRTMPT, *labAdmin, *grace); err != nil {
			fmt.Fprintln(os.Stderr, "rtmp-edge:", err)
			return 1
		}
		return 0
	}
	if *configPath == "" {
		fmt.Fprintln(os.Stderr, "rtmp-edge: -config is required (or -lab for the quick start); -h lists the flags")
		return 2
	}
	cfg, err := loadConfigFile(*configPath, !*check || *checkHost)
	if err != nil {
		fmt.Fprintln(os.Stderr, "rtmp-edge: invalid config", err)
		return 1
	}
	if *check {
		fmt.Printf("%s: ok (%d listeners, %d backends)\n", *configPath, len(cfg.Listeners), len(cfg.Backends))
		return 0
	}
	// Started by an upgrade: take the old process's sockets and state before
	// building the edge (the old process goes on serving if this fails).
	var inherit *edge.Inheritance
	if ch, err := handover.FromEnv(); err != nil || ch != nil {
		if err == nil {
			inherit, err = edge.ReceiveInheritance(ch)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "rtmp-edge: upgrade:", err)
			return 1
		}
	}
	e, err := edge.New(cfg, edge.Options{Logger: log, Inherit: inherit})
	if err != nil {
		fmt.Fprintln(os.Stderr, "rtmp-edge:", err)
		return 1
	}
	if err := e.Listen(); err != nil {
		fmt.Fprintln(os.Stderr, "rtmp-edge:", err)
		return 1
	}
	go reloadOnHUP(ctx, log, e, *configPath, hup)
	go upgradeOnUSR2(ctx, log, e, self, args, usr2, stop)
	if inherit != nil {
		go func() {
			<-e.Started()
			n, err := e.TakeSessions(inherit)
			if err != nil {
				log.Error("upgrade: taking over sessions ended early", "sessions", n, "err", err.Error())
				return
			}
			log.Info("upgrade: took over from the old process", "pid", os.Getpid(), "sessions", n)
		}()
	}
	if err := e.Serve(ctx, *grace); err != nil {
		fmt.Fprintln(os.Stderr, "rtmp-edge:", err)
		return 1
	}
	log.Info("stopped")
	return 0
}

// reloadOnHUP reloads the config file on each SIGHUP until ctx ends. A file
// that does not load is refused as a whole, with every error logged, and the
// running configuration stays.
func reloadOnHUP(ctx context.Context, log *slog.Logger, e *edge.Edge, path string, hup <-chan os.Signal) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
		}
		cfg, err := loadConfig(path)
		if err != nil {
			e.ReloadFailed()
		} else {
			var changes string
			if changes, err = e.Reload(cfg); err == nil {
				log.Info("config reloaded", "file", path, "changes", changes)
				continue
			}
		}
		log.Error("config reload failed", "file", path, "errors", problemLines(err), "running", "the previous configuration")
	}
}

func newLogger(format, level string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("-log-level: %w", err)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(os.Stderr, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(os.Stderr, opts)), nil
	default:
		return nil, fmt.Errorf("-log-format must be text or json, got %q", format)
	}
}
