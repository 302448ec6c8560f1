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
func TestGracefulStop(t *testing.T) {
	t.Parallel()
	media := harness.StartNginx(t, harness.NginxOptions{Name: "media03", RTMPAddr: harness.FreeAddr(t), HTTPAddr: harness.FreeAddr(t)})
	front := harness.FreeAddr(t)
	edge := harness.StartEdge(t, fmt.Sprintf(`listeners:
  - { name: rtmp, address: %q, backend: media }
backends:
  - name: media
    check: { type: rtmp, interval: 300ms, rise: 1, fall: 2, timeout: 1s }
    servers:
      - { name: media03, address: %q, upload: true }
`, front, media.Opts.RTMPAddr), "-grace", "3s")
	p := harness.StartPlayer(t, harness.PlayerOptions{Addr: front, LocalIP: harness.ClientIP(90, 1), Stream: "idle"})

	edge.Proc.Signal(syscall.SIGTERM)
	// During the grace period the process runs on but refuses new clients.
	refused := false
	for deadline := time.Now().Add(3 * time.Second); !refused && time.Now().Before(deadline); {
		c, err := net.DialTimeout("tcp", front, time.Second)
		if err != nil {
			refused = true
			break
		}
		c.Close()
		time.Sleep(50 * time.Millisecond)
	}
	if exited, _ := edge.Proc.Exited(); exited {
		t.Log("the edge exited before the grace period was over; cannot tell refusing from exiting")
	} else if !refused {
		t.Error("the edge still accepts connections after SIGTERM")
	}
	if err := edge.Proc.Wait(20 * time.Second); err != nil {
		t.Fatalf("edge after SIGTERM: %v", err)
	}
	select {
	case <-p.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the player's connection is still open after the edge exited")
	}
	if _, err := edge.AwaitLog(func(l harness.LogLine) bool {
		return l.Msg() == "session end" && l.Str("client") == p.LocalAddr()
	}, time.Second); err != nil {
		t.Errorf("no session end line for the player cut at shutdown: %v", err)
	}
}
