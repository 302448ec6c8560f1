package integration

import (
	"fmt"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/rtmp-edge/rtmp-edge/integration/harness"
)

// TestGracefulStop: on SIGTERM the edge stops accepting at once, ends the
// sessions still running once -grace (3s) has passed, with their "session end"
// lines, and exits with status 0.
//
// The player plays a stream nobody publishes, so its session never ends by
// itself: an edge that exits (or cuts the session) before the grace period is
// over ignores -grace, and this test fails on it, as it does on an edge that
// keeps accepting or does not exit at all.
func TestGracefulStop(t *testing.T) {
	t.Parallel()
	const grace = 3 * time.Second
	media := harness.StartNginx(t, harness.NginxOptions{Name: "media03", RTMPAddr: harness.FreeAddr(t), HTTPAddr: harness.FreeAddr(t)})
	front := harness.FreeAddr(t)
	edge := harness.StartEdge(t, fmt.Sprintf(`listeners:
  - { name: rtmp, address: %q, backend: media }
backends:
  - name: media
    check: { type: rtmp, interval: 300ms, rise: 1, fall: 2, timeout: 1s }
    servers:
      - { name: media03, address: %q, upload: true }
`, front, media.Opts.RTMPAddr), "-grace", grace.String())
	p := harness.StartPlayer(t, harness.PlayerOptions{Addr: front, LocalIP: harness.ClientIP(90, 1), Stream: "idle"})
	playerEnded := make(chan time.Time, 1)
	go func() {
		<-p.Done()
		playerEnded <- time.Now()
	}()

	sent := edge.Signal(syscall.SIGTERM)
	// During the grace period the process runs on but refuses new clients.
	refused := false
	for deadline := time.Now().Add(grace); !refused && time.Now().Before(deadline); {
		c, err := net.DialTimeout("tcp", front, time.Second)
		if err != nil {
			refused = true
			break
		}
		c.Close()
		time.Sleep(50 * time.Millisecond)
	}
	if !refused {
		t.Error("the edge still accepts connections after SIGTERM")
	}
	if err := edge.Proc.Wait(20 * time.Second); err != nil {
		t.Fatalf("edge after SIGTERM: %v", err)
	}
	// The grace timer starts when the edge gets the signal, after it was sent:
	// an edge that honours -grace cannot have exited sooner than this, however
	// loaded the machine is.
	if took := edge.Proc.ExitedAt().Sub(sent); took < grace {
		t.Errorf("the edge exited %s after SIGTERM with a session open, before -grace %s was over", took.Round(time.Millisecond), grace)
	}
	select {
	case at := <-playerEnded:
		if took := at.Sub(sent); took < grace {
			t.Errorf("the player's session was cut %s after SIGTERM, before -grace %s was over", took.Round(time.Millisecond), grace)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the player's connection is still open after the edge exited")
	}
	if _, err := edge.AwaitLog(func(l harness.LogLine) bool {
		return l.Msg() == "session end" && l.Str("client") == p.LocalAddr()
	}, time.Second); err != nil {
		t.Errorf("no session end line for the player cut at shutdown: %v", err)
	}
}
