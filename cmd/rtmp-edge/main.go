// Command rtmp-edge is the RTMP-aware front door of a media cluster.
//
//	rtmp-edge -config edge.yaml          run
//	rtmp-edge -check -config edge.yaml   validate the file and exit
//	rtmp-edge -lab                       the embedded quick start (no media server needed)
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/rtmp-edge/rtmp-edge/edge"
)

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	fs := flag.NewFlagSet("rtmp-edge", flag.ContinueOnError)
	configPath := fs.String("config", "", "YAML config `file`")
	check := fs.Bool("check", false, "validate the config file and exit: 0 if valid, 1 with every error and its line")
	lab := fs.Bool("lab", false, "run the embedded quick start: the edge in front of three in-process media servers")
	labRTMP := fs.String("lab-rtmp", "127.0.0.1:1935", "with -lab: the RTMP listener `address`")
	labRTMPT := fs.String("lab-rtmpt", "127.0.0.1:8080", "with -lab: the RTMPT (and RTMP) listener `address`")
	logFormat := fs.String("log-format", "text", "log format: text or json")
	logLevel := fs.String("log-level", "info", "log level: debug, info, warn or error")
	grace := fs.Duration("grace", 10*time.Second, "on SIGINT/SIGTERM, how long running sessions may go on before they are closed")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	log, err := newLogger(*logFormat, *logLevel)
	if err != nil {
		fmt.Fprintln(os.Stderr, "rtmp-edge:", err)
		return 2
	}
	slog.SetDefault(log)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	if *lab {
		if err := runLab(ctx, log, *labRTMP, *labRTMPT, *grace); err != nil {
			fmt.Fprintln(os.Stderr, "rtmp-edge:", err)
			return 1
		}
		return 0
	}
	if *configPath == "" {
		fmt.Fprintln(os.Stderr, "rtmp-edge: -config is required (or -lab for the quick start); -h lists the flags")
		return 2
	}
	cfg, err := loadConfig(*configPath)
	if err != nil {
		fmt.Fprintln(os.Stderr, "rtmp-edge: invalid config", err)
		return 1
	}
	if *check {
		fmt.Printf("%s: ok (%d listeners, %d backends)\n", *configPath, len(cfg.Listeners), len(cfg.Backends))
		return 0
	}
	e, err := edge.New(cfg, edge.Options{Logger: log})
	if err != nil {
		fmt.Fprintln(os.Stderr, "rtmp-edge:", err)
		return 1
	}
	if err := e.Listen(); err != nil {
		fmt.Fprintln(os.Stderr, "rtmp-edge:", err)
		return 1
	}
	if err := e.Serve(ctx, *grace); err != nil {
		fmt.Fprintln(os.Stderr, "rtmp-edge:", err)
		return 1
	}
	return 0
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
