//go:build linux

package netns

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rtmp-edge/rtmp-edge/integration/harness"
	"github.com/rtmp-edge/rtmp-edge/integration/peers"
)

// ErrExited means a process the lab needs running has ended.
var ErrExited = errors.New("netns: process exited")

// StartPublisher runs ffmpeg in ns publishing a live test pattern (small
// H.264, encoded as it goes, so it never ends on its own) to url.
func StartPublisher(t testing.TB, ns NS, name, url string) *harness.Proc {
	t.Helper()
	peers.Ensure(t, "ffmpeg")
	return harness.StartProc(t, logName("publish", name), ns.Argv("ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "warning",
		"-re", "-f", "lavfi", "-i", "testsrc=size=160x120:rate=15",
		"-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-g", "15",
		"-f", "flv", url)...)
}

// StartPlayer runs ffmpeg in ns playing url (rtmp:// or rtmpt://) into nothing
// until it is stopped. Its progress ("frame=N" lines) goes to its log, for WaitFrames.
func StartPlayer(t testing.TB, ns NS, name, url string) *harness.Proc {
	t.Helper()
	peers.Ensure(t, "ffmpeg")
	return harness.StartProc(t, logName("play", name), ns.Argv("ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "warning",
		"-progress", "pipe:1", "-stats_period", "0.5",
		"-i", url, "-c", "copy", "-f", "null", "-")...)
}

// ErrTooFewFrames means a player has not received the frames waited for.
var ErrTooFewFrames = errors.New("netns: player received too few frames")

// WaitFrames waits until a StartPlayer process reports at least n video frames.
func WaitFrames(p *harness.Proc, n int, timeout time.Duration) error {
	return waitFor(timeout, func() error {
		if exited, err := p.Exited(); exited {
			return fmt.Errorf("%w: %s: %v; output:\n%s", ErrExited, p.Name, err, p.Output())
		}
		if got := lastFrameCount(p.Output()); got < n {
			return fmt.Errorf("%w: %s: %d of %d", ErrTooFewFrames, p.Name, got, n)
		}
		return nil
	})
}

// lastFrameCount is the highest "frame=N" in ffmpeg's -progress output.
func lastFrameCount(log string) int {
	most := 0
	for _, line := range strings.Split(log, "\n") {
		v, ok := strings.CutPrefix(strings.TrimSpace(line), "frame=")
		if !ok {
			continue
		}
		if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && n > most {
			most = n
		}
	}
	return most
}

func logName(kind, name string) string {
	return fmt.Sprintf("ffmpeg-%s-%s", kind, strings.NewReplacer("/", "_", ":", "_").Replace(name))
}
