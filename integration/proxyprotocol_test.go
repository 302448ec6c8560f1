package integration

import (
	"fmt"
	"testing"
	"time"

	"github.com/rtmp-edge/rtmp-edge/integration/harness"
)

// startProxyProtocolPair starts nginx with a PROXY-protocol RTMP listener and an
// edge in front of it with proxy_protocol: v1 and a health check of checkType.
func startProxyProtocolPair(t *testing.T, checkType string) (*harness.Nginx, *harness.Edge, string) {
	t.Helper()
	media := harness.StartNginx(t, harness.NginxOptions{Name: "media03", RTMPAddr: harness.FreeAddr(t), HTTPAddr: harness.FreeAddr(t), ProxyProtocol: true})
	front := harness.FreeAddr(t)
	edge := harness.StartEdge(t, fmt.Sprintf(`listeners:
  - name: rtmp
    address: %q
    backend: media
backends:
  - name: media
    proxy_protocol: v1
    check: { type: %s, interval: 300ms, rise: 1, fall: 2, timeout: 1s }
    servers:
      - { name: media03, address: %q, upload: true }
`, front, checkType, media.Opts.RTMPAddr))
	return media, edge, front
}

// TestProxyProtocolToNginx: with proxy_protocol: v1 on the backend, the edge
// sends a PROXY header before the RTMP bytes, and nginx-rtmp (listen …
// proxy_protocol) shows the real client address in /stat, on loopback.
func TestProxyProtocolToNginx(t *testing.T) {
	t.Parallel()
	media, _, front := startProxyProtocolPair(t, "tcp")
	ip := harness.ClientIP(80, 5)
	p := harness.StartPlayer(t, harness.PlayerOptions{Addr: front, LocalIP: ip, Stream: "pp"})
	media.WaitStat(t, "the player at "+ip, func(s *harness.Stat) bool {
		for _, c := range s.Stream("pp").Players {
			if c.Address == ip {
				return true
			}
		}
		return false
	}, 10*time.Second)
	p.Close()
}

// TestRTMPCheckSendsProxyHeader: a health check of type rtmp against a server
// reached with proxy_protocol: v1 must send the PROXY header too (HAProxy's
// checks do when send-proxy is set), or a healthy
// nginx proxy_protocol listener resets it and the server is marked down.
func TestRTMPCheckSendsProxyHeader(t *testing.T) {
	t.Parallel()
	_, edge, _ := startProxyProtocolPair(t, "rtmp")
	// With interval 300ms and fall 2, a failing check marks the server down
	// well within 3 s; a slow machine can only make this pass, never fail.
	if l, err := edge.AwaitLog(func(l harness.LogLine) bool {
		return l.Msg() == "server down" && l.Str("server") == "media03"
	}, 3*time.Second); err == nil {
		t.Fatalf("the rtmp check marked a healthy PROXY-protocol server down: %s", l.Str("reason"))
	}
}
