// Command rtmp-bench is a load generator for RTMP servers and proxies, with a
// minimal media server of its own for the far end.
//
//	rtmp-bench [load] [flags] rtmp://host:port/app[/stream]   publishers and players
//	rtmp-bench sink   -listen 127.0.0.1:19350                  accepts publishes, discards them
//	rtmp-bench source -listen 127.0.0.1:19350                  serves a generated stream to players
//
// Run "rtmp-bench load -h" (or sink -h, source -h) for the flags.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
