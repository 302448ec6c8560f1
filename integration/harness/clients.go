package harness

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// Publish starts ffmpeg publishing flvPath to url in real time (-re), looped
// forever, stream-copied; it runs until the test ends (or Stop). url may be
// rtmp:// or rtmpt://.
func Publish(t testing.TB, url, flvPath string) *Proc {
	t.Helper()
	RequireTool(t, "ffmpeg")
	return StartProc(t, "ffmpeg publish "+url,
		"ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "warning",
		"-re", "-stream_loop", "-1", "-i", flvPath,
		"-c", "copy", "-f", "flv", url)
}

// PlayFFmpeg plays url with ffmpeg for about d of media and returns the packets
// received (framemd5). The whole run is bounded by d + 30 s. It takes no
// testing.TB so that it can run in a goroutine: call RequireTool(t, "ffmpeg")
// first (MakeTestStream and Publish do).
func PlayFFmpeg(url string, d time.Duration) (Packets, error) {
	ctx, cancel := context.WithTimeout(context.Background(), d+30*time.Second)
	defer cancel()
	secs := strconv.FormatFloat(d.Seconds(), 'f', 1, 64)
	// -rw_timeout (µs) ends a stalled read instead of hanging until ctx expires.
	return FrameMD5(ctx, url, "-rw_timeout", "15000000", "-t", secs)
}

// PlayRTMPDump plays url (rtmp:// or rtmpt://, a live stream) with rtmpdump for
// about d, then stops it (SIGINT, which makes rtmpdump close its file cleanly) and
// returns the packets in what it saved.
func PlayRTMPDump(t testing.TB, url string, d time.Duration) (Packets, error) {
	t.Helper()
	RequireTool(t, "rtmpdump")
	RequireTool(t, "ffmpeg")
	out := filepath.Join(t.TempDir(), "rtmpdump.flv")
	p, err := startProc("rtmpdump "+url, nil, "rtmpdump", "--live", "--timeout", "15", "-r", url, "-o", out)
	if err != nil {
		return nil, fmt.Errorf("start rtmpdump: %w", err)
	}
	defer p.Stop()
	select {
	case <-p.Done():
		_, perr := p.Exited()
		return nil, fmt.Errorf("rtmpdump ended early (%v); output:\n%s", perr, p.Output())
	case <-time.After(d):
	}
	p.Signal(syscall.SIGINT)
	if err := p.Wait(10 * time.Second); err != nil {
		// rtmpdump exits 1 or 2 after an interrupt of a live stream; only a hang is an error.
		if exited, _ := p.Exited(); !exited {
			return nil, fmt.Errorf("rtmpdump did not stop after SIGINT: %w", err)
		}
	}
	if fi, err := os.Stat(out); err != nil || fi.Size() == 0 {
		return nil, fmt.Errorf("rtmpdump saved nothing (%v); output:\n%s", err, p.Output())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ps, err := FrameMD5(ctx, out)
	if err != nil {
		return nil, fmt.Errorf("rtmpdump output: %w; rtmpdump said:\n%s", err, p.Output())
	}
	return ps, nil
}
