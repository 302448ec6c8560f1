package main

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/rtmp-edge/rtmp-edge/cmd/rtmp-bench/internal/benchserver"
	"github.com/rtmp-edge/rtmp-edge/cmd/rtmp-bench/internal/load"
)

func startSink(t *testing.T, source bool) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := benchserver.New(benchserver.Config{Source: source, Logger: slog.New(slog.DiscardHandler)})
	go func() { _ = s.Serve(ln) }()
	t.Cleanup(func() { _ = s.Close() })
	return ln.Addr().String()
}

func TestLoadJSONSummary(t *testing.T) {
	addr := startSink(t, true)
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"-publishers", "2", "-players", "1", "-duration", "1500ms",
		"-progress", "500ms", "-json", "rtmp://" + addr + "/live/demo"}, &stdout, &stderr)
	if code != exitOK {
		t.Fatalf("exit %d; stderr:\n%s", code, stderr.String())
	}
	var sum load.Summary
	if err := json.Unmarshal(stdout.Bytes(), &sum); err != nil {
		t.Fatalf("stdout is not the JSON summary: %v\n%s", err, stdout.String())
	}
	if sum.Publishers != 2 || sum.Players != 2 || sum.PublishersUp != 2 || sum.PlayersMedia != 2 ||
		sum.BytesOut == 0 || sum.BytesIn == 0 || sum.ErrorsTotal != 0 || len(sum.Clients) != 4 {
		t.Errorf("summary %+v", sum)
	}
	if sum.Clients[0].Stream != "demo-0" || sum.Clients[1].Stream != "demo-1" {
		t.Errorf("streams %q %q, want the URL's name as prefix", sum.Clients[0].Stream, sum.Clients[1].Stream)
	}
	if !strings.Contains(stderr.String(), "publishers 2") {
		t.Errorf("no progress line on stderr:\n%s", stderr.String())
	}
}

func TestLoadTextSummaryAndErrorExit(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"-duration", "300ms", "-progress", "0", "rtmp://" + addr + "/live"}, &stdout, &stderr)
	if code != exitErrors {
		t.Errorf("exit %d against a closed port, want %d", code, exitErrors)
	}
	if !strings.Contains(stdout.String(), "refused=") {
		t.Errorf("text summary does not count the refused connections:\n%s", stdout.String())
	}
}

func TestUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{},
		{"http://127.0.0.1/live"},
		{"-bitrate", "fast", "rtmp://127.0.0.1/live"},
		{"-src", "not-an-address", "rtmp://127.0.0.1/live"},
		{"-publishers", "0", "rtmp://127.0.0.1/live"},
		{"-flv", "/nonexistent.flv", "rtmp://127.0.0.1/live"},
		{"sink", "extra"},
	} {
		var out, errb bytes.Buffer
		if code := run(context.Background(), args, &out, &errb); code != exitUsage {
			t.Errorf("run(%q) = %d, want %d", args, code, exitUsage)
		}
	}
}

func TestParseBitrate(t *testing.T) {
	for in, want := range map[string]int{"0": 0, "2500k": 2_500_000, "2.5M": 2_500_000, "1G": 1_000_000_000, "800": 800} {
		if got, err := parseBitrate(in); err != nil || got != want {
			t.Errorf("parseBitrate(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "k", "-1", "x", "1T"} {
		if _, err := parseBitrate(in); err == nil {
			t.Errorf("parseBitrate(%q) accepted", in)
		}
	}
}

func TestSinkSubcommandStopsOnCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	var stderr bytes.Buffer
	go func() {
		done <- run(ctx, []string{"source", "-listen", "127.0.0.1:0", "-rtmpt-listen", "127.0.0.1:0"}, nil, &stderr)
	}()
	time.Sleep(200 * time.Millisecond)
	cancel()
	select {
	case code := <-done:
		if code != exitOK {
			t.Errorf("exit %d: %s", code, stderr.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("source did not stop on cancel")
	}
}
