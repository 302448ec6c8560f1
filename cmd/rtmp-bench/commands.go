package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"time"

	"github.com/rtmp-edge/rtmp-edge/cmd/rtmp-bench/internal/benchserver"
	"github.com/rtmp-edge/rtmp-edge/cmd/rtmp-bench/internal/flvsrc"
	"github.com/rtmp-edge/rtmp-edge/cmd/rtmp-bench/internal/load"
	"github.com/rtmp-edge/rtmp-edge/rtmpt"
)

// Exit codes.
const (
	exitOK     = 0
	exitErrors = 1 // the run had errors
	exitUsage  = 2
)

// maxFLVBytes caps a -flv file held in memory.
const maxFLVBytes = 1 << 30

// run dispatches the subcommand; it is main without the process.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cmd := "load"
	if len(args) > 0 && (args[0] == "load" || args[0] == "sink" || args[0] == "source") {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "sink", "source":
		return runServer(ctx, cmd == "source", args, stderr)
	default:
		return runLoad(ctx, args, stdout, stderr)
	}
}

func runLoad(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("rtmp-bench load", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: rtmp-bench [load] [flags] rtmp[t]://host[:port]/app[/stream][,more urls]")
		fs.PrintDefaults()
	}
	var (
		playURL    = fs.String("play-url", "", "URLs players use (comma-separated, rtmp://, rtmps:// or rtmpt://); default: the publish URLs")
		stream     = fs.String("stream", "", "stream name prefix (streams are <prefix>-0, -1, ...); default: from the URL, else \"bench\"")
		streams    = fs.Int("streams", 0, "number of streams; default: -publishers (at least 1)")
		publishers = fs.Int("publishers", 1, "publishers (one per stream)")
		players    = fs.Int("players", 0, "players per stream")
		flvPath    = fs.String("flv", "", "publish this FLV file (looped) instead of a synthetic stream")
		bitrate    = fs.String("bitrate", "2500k", "bits/s per publisher (k, M suffixes); 0 = as fast as possible")
		fps        = fs.Int("fps", 25, "synthetic stream: video frames per second")
		gop        = fs.Int("gop", 50, "synthetic stream: frames per keyframe")
		chunk      = fs.Int("chunk", 60000, "publishers' chunk size")
		src        = fs.String("src", "", "client source addresses: an address or a prefix such as 127.0.1.0/24 (cycled)")
		ramp       = fs.Float64("ramp", 0, "clients started per second; 0 = all at once")
		duration   = fs.Duration("duration", 10*time.Second, "length of the run, ramp included")
		timeout    = fs.Duration("timeout", 10*time.Second, "handshake and command timeout")
		idle       = fs.Bool("idle", false, "publishers publish and then send nothing (mostly idle sessions)")
		reconnect  = fs.Bool("reconnect", false, "each client sets up sessions in a loop (measures session rate)")
		hold       = fs.Duration("hold", 0, "with -reconnect: how long each session stays up")
		readPause  = fs.Duration("read-pause", 0, "players: wait this long after parsing all they read before reading again (fewer wake-ups for 10k players); 0 = none")
		retryPause = fs.Duration("retry-pause", 0, "wait after a failed session before the next; 0 = 100ms")
		readBuf    = fs.Int("read-buffer", 0, "each client's read buffer in bytes; 0 = 64 KiB (a few KiB hold 10k slow players cheaply)")
		poll       = fs.Duration("rtmpt-poll", 0, "rtmpt clients: wait between empty polls (0 = 10ms); real players back off to ~0.5s when idle")
		progress   = fs.Duration("progress", time.Second, "progress line interval on stderr; 0 = none")
		jsonOut    = fs.Bool("json", false, "print the summary as JSON on stdout")
	)
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return exitUsage
	}
	cfg, err := loadConfig(fs.Arg(0), *playURL, *stream, *flvPath, *bitrate, *src)
	if err != nil {
		fmt.Fprintln(stderr, "rtmp-bench:", err)
		return exitUsage
	}
	cfg.Streams, cfg.Publishers, cfg.Players = *streams, *publishers, *players
	cfg.FPS, cfg.GOP, cfg.ChunkSize = *fps, *gop, *chunk
	cfg.Ramp, cfg.Duration, cfg.ConnectTimeout = *ramp, *duration, *timeout
	cfg.Idle, cfg.Reconnect, cfg.Hold, cfg.Progress = *idle, *reconnect, *hold, *progress
	cfg.RTMPTPoll, cfg.ReadBuffer, cfg.ReadPause, cfg.RetryPause = *poll, *readBuf, *readPause, *retryPause
	sum, err := load.Run(ctx, cfg, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "rtmp-bench:", err)
		return exitUsage
	}
	if *jsonOut {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(sum); err != nil {
			fmt.Fprintln(stderr, "rtmp-bench: write json:", err)
			return exitErrors
		}
	} else {
		sum.WriteText(stdout)
	}
	if sum.ErrorsTotal > 0 {
		return exitErrors
	}
	return exitOK
}

// loadConfig turns the string flags into a load.Config.
func loadConfig(pubURL, playURL, stream, flvPath, bitrate, src string) (load.Config, error) {
	var cfg load.Config
	var err error
	var urlStream string
	cfg.PublishTargets, urlStream, err = load.ParseTargets(pubURL)
	if err != nil {
		return cfg, err
	}
	if playURL != "" {
		if cfg.PlayTargets, _, err = load.ParseTargets(playURL); err != nil {
			return cfg, err
		}
	}
	cfg.Stream = stream
	if cfg.Stream == "" {
		cfg.Stream = urlStream
	}
	if cfg.Bitrate, err = parseBitrate(bitrate); err != nil {
		return cfg, err
	}
	if cfg.Sources, err = load.ParseSources(src); err != nil {
		return cfg, err
	}
	if flvPath != "" {
		if cfg.FLV, err = flvsrc.Load(flvPath, maxFLVBytes); err != nil {
			return cfg, err
		}
	}
	return cfg, nil
}

// ErrBadBitrate is returned for a -bitrate that is not a number with an optional k/M/G.
var ErrBadBitrate = errors.New("bad bitrate")

func parseBitrate(s string) (int, error) {
	mult := 1.0
	if n := len(s); n > 0 {
		switch s[n-1] {
		case 'k', 'K':
			mult, s = 1e3, s[:n-1]
		case 'm', 'M':
			mult, s = 1e6, s[:n-1]
		case 'g', 'G':
			mult, s = 1e9, s[:n-1]
		}
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f < 0 || f*mult > 1e12 {
		return 0, fmt.Errorf("%w: %q", ErrBadBitrate, s)
	}
	return int(f * mult), nil
}

func runServer(ctx context.Context, source bool, args []string, stderr io.Writer) int {
	name := "sink"
	if source {
		name = "source"
	}
	fs := flag.NewFlagSet("rtmp-bench "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		listen   = fs.String("listen", "127.0.0.1:19350", "address to listen on for RTMP")
		tunnel   = fs.String("rtmpt-listen", "", "also serve RTMPT (HTTP tunnel) on this address")
		flvPath  = fs.String("flv", "", "source: play this FLV file (looped) instead of a synthetic stream")
		bitrate  = fs.String("bitrate", "2500k", "source: bits/s per player; 0 = as fast as possible")
		fps      = fs.Int("fps", 25, "source: synthetic video frames per second")
		gop      = fs.Int("gop", 50, "source: synthetic frames per keyframe")
		chunk    = fs.Int("chunk", 60000, "outgoing chunk size")
		maxConns = fs.Int("maxconn", 100000, "refuse connections above this many")
		stats    = fs.Duration("stats", 0, "print counters to stderr at this interval; 0 = never")
	)
	if err := fs.Parse(args); err != nil || fs.NArg() != 0 {
		return exitUsage
	}
	br, err := parseBitrate(*bitrate)
	if err != nil {
		fmt.Fprintln(stderr, "rtmp-bench:", err)
		return exitUsage
	}
	cfg := benchserver.Config{Source: source, Bitrate: br, FPS: *fps, GOP: *gop, ChunkSize: *chunk, MaxConns: *maxConns,
		Logger: slog.New(slog.NewTextHandler(stderr, nil))}
	if *flvPath != "" {
		if cfg.FLV, err = flvsrc.Load(*flvPath, maxFLVBytes); err != nil {
			fmt.Fprintln(stderr, "rtmp-bench:", err)
			return exitUsage
		}
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Fprintln(stderr, "rtmp-bench:", err)
		return exitErrors
	}
	srv := benchserver.New(cfg)
	if *tunnel != "" {
		stop, err := serveRTMPT(srv, *tunnel, stderr)
		if err != nil {
			_ = ln.Close()
			fmt.Fprintln(stderr, "rtmp-bench:", err)
			return exitErrors
		}
		defer stop()
	}
	return serve(ctx, srv, ln, *stats, stderr)
}

// serveRTMPT serves RTMPT tunnels on addr, each handed to srv as a connection.
func serveRTMPT(srv *benchserver.Server, addr string, stderr io.Writer) (stop func(), err error) {
	ts, err := rtmpt.New(rtmpt.Config{MaxSessions: 100000, MaxSessionsPerIP: 100000}, func(c *rtmpt.Conn) { srv.ServeConn(c) })
	if err != nil {
		return nil, fmt.Errorf("rtmpt server: %w", err)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("rtmpt listen: %w", err)
	}
	fmt.Fprintf(stderr, "rtmp-bench: rtmpt on %s\n", ln.Addr())
	go func() { _ = ts.Serve(ln) }()
	return func() { _ = ts.Close() }, nil
}

// serve runs srv on ln until ctx ends.
func serve(ctx context.Context, srv *benchserver.Server, ln net.Listener, every time.Duration, stderr io.Writer) int {
	fmt.Fprintf(stderr, "rtmp-bench: listening on %s\n", ln.Addr())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	var tick <-chan time.Time
	if every > 0 {
		t := time.NewTicker(every)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case <-ctx.Done():
			_ = srv.Close()
			<-done
			return exitOK
		case err := <-done:
			fmt.Fprintln(stderr, "rtmp-bench:", err)
			_ = srv.Close()
			return exitErrors
		case <-tick:
			st := srv.Stats()
			fmt.Fprintf(stderr, "conns %d  publishing %d  playing %d  sessions %d  in %d B  out %d B\n",
				st.Conns, st.Publishing, st.Playing, st.Sessions, st.BytesIn, st.BytesOut)
		}
	}
}
