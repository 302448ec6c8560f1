package integration

import (
	"fmt"
	"testing"
	"time"

	"github.com/rtmp-edge/rtmp-edge/integration/harness"
)

// TestPreconnectToNginx: with preconnect on the backend, sessions to a real
// nginx-rtmp take connections the edge made and handshook ahead of need, and
// play hash-equal media; after nginx is killed and restarted, the made
// connections it dropped are never handed to a client: the next publisher
// and player still work.
func TestPreconnectToNginx(t *testing.T) {
	t.Parallel()
	media := harness.StartNginx(t, harness.NginxOptions{Name: "media01", RTMPAddr: harness.FreeAddr(t), HTTPAddr: harness.FreeAddr(t)})
	front := harness.FreeAddr(t)
	harness.StartEdge(t, fmt.Sprintf(`listeners:
  - name: rtmp
    address: %q
    backend: media
backends:
  - name: media
    route: connect
    preconnect: 2
    check: { type: tcp, interval: 300ms, rise: 1, fall: 2, timeout: 1s }
    servers:
      - { name: media01, address: %q, upload: true }
`, front, media.Opts.RTMPAddr))
	flv := harness.MakeTestStream(t, 4)
	published := harness.MustFrameMD5(t, flv)

	round := func(stream string, ip string) {
		t.Helper()
		pub := harness.Publish(t, url("rtmp", front, stream), flv)
		media.WaitStat(t, stream+" published through the edge", hasPublisher(stream), 15*time.Second)
		p := harness.StartPlayer(t, harness.PlayerOptions{Addr: front, LocalIP: ip, Stream: stream})
		if err := p.WaitPackets(30, 15*time.Second); err != nil {
			t.Fatal(err)
		}
		if err := p.Packets().CheckSubsetOf(published, 20); err != nil {
			t.Fatal(err)
		}
		p.Close()
		pub.Stop()
	}
	round("pre1", harness.ClientIP(81, 1))
	// The stock is made now (the sessions above took from it or found it
	// empty and refilled it). A crash and restart of nginx closes every made
	// connection from the server's side.
	media.Stop()
	media.Start()
	round("pre2", harness.ClientIP(81, 2))
}
