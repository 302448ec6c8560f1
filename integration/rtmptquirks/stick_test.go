package rtmptquirks

import (
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/rtmp-edge/rtmp-edge/integration/harness"
	"github.com/rtmp-edge/rtmp-edge/rtmpt"
)

// TestStickyAcrossRTMPAndRTMPT: a Flash client that fails over from rtmp:1935
// to rtmpt:80 keeps its server. One backend behind both listeners shares one
// stick table (as HAProxy's two frontends share bk_rtmp's), so each client IP
// that played over rtmp lands on the same server when it plays over rtmpt.
func TestStickyAcrossRTMPAndRTMPT(t *testing.T) {
	t.Parallel()
	var servers strings.Builder
	for i, name := range []string{"media01", "media02", "media03"} {
		n := harness.StartNginx(t, harness.NginxOptions{Name: name, RTMPAddr: harness.FreeAddr(t), HTTPAddr: harness.FreeAddr(t)})
		fmt.Fprintf(&servers, "      - { name: %s, address: %q, weight: %d, upload: %v }\n", name, n.Opts.RTMPAddr, []int{10, 10, 8}[i], name == "media03")
	}
	rtmpAddr, rtmptAddr := harness.FreeAddr(t), harness.FreeAddr(t)
	edge := harness.StartEdge(t, fmt.Sprintf(`listeners:
  - { name: rtmp, address: %q, protocols: [rtmp], backend: media }
  - { name: rtmpt, address: %q, protocols: [rtmpt], backend: media }
backends:
  - name: media
    stick: { size: 1000, expire: 20m }
    check: { type: rtmp, interval: 300ms, rise: 1, fall: 2, timeout: 1s }
    servers:
%s`, rtmpAddr, rtmptAddr, servers.String()))

	for i := 1; i <= 9; i++ {
		ip := harness.ClientIP(61, i)
		p := harness.StartPlayer(t, harness.PlayerOptions{Addr: rtmpAddr, LocalIP: ip, Stream: "idle"})
		addr := p.LocalAddr()
		p.Close()
		first := edge.WaitSession(t, addr, 15*time.Second)

		tunnelled := harness.StartPlayer(t, harness.PlayerOptions{
			Addr: rtmptAddr, Stream: "idle", TcURL: "rtmpt://" + rtmptAddr + "/live",
			Dial: func(ctx context.Context) (net.Conn, error) {
				return rtmpt.Dial(ctx, rtmptAddr, rtmpt.ClientOptions{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}})
			},
		})
		tunnelled.Close()
		l := edge.WaitLog(t, func(l harness.LogLine) bool {
			return l.Msg() == "session end" && l.ClientIP() == ip && l.Str("proto") == "rtmpt"
		}, 15*time.Second)
		if l.Str("server") != first.Server {
			t.Errorf("%s: rtmp session on %s, rtmpt session on %s", ip, first.Server, l.Str("server"))
		}
	}
}
