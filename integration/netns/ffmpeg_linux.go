//go:build linux

package netns

import (
	"context"
	"fmt"
	"strings"
	"testing"
)

// StartPublisher runs ffmpeg in ns publishing a live test pattern (small
// H.264, encoded as it goes, so it never ends on its own) to url.
func StartPublisher(t testing.TB, ns NS, name, url string) *Proc {
	t.Helper()
	cmd := ns.Command(context.Background(), "ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "warning",
		"-re", "-f", "lavfi", "-i", "testsrc=size=160x120:rate=15",
		"-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-g", "15",
		"-f", "flv", url)
	return StartProc(t, t.TempDir(), logName("publish", name), cmd)
}

// StartPlayer runs ffmpeg in ns playing url (rtmp:// or rtmpt://) into nothing
// until it is stopped.
func StartPlayer(t testing.TB, ns NS, name, url string) *Proc {
	t.Helper()
	cmd := ns.Command(context.Background(), "ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "warning",
		"-i", url, "-c", "copy", "-f", "null", "-")
	return StartProc(t, t.TempDir(), logName("play", name), cmd)
}

func logName(kind, name string) string {
	return fmt.Sprintf("ffmpeg-%s-%s", kind, strings.NewReplacer("/", "_", ":", "_").Replace(name))
}
