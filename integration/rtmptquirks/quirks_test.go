// Package rtmptquirks plays through the edge's RTMPT tunnel with the Go RTMPT
// client of package rtmpt imitating the quirks of real RTMPT clients, and checks
// that a client keeps its server when it falls back from rtmp to rtmpt. It is a
// package of its own so that the rest of the integration suite still builds
// when package rtmpt does not.
package rtmptquirks

import (
	"context"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/rtmp-edge/rtmp-edge/integration/harness"
	"github.com/rtmp-edge/rtmp-edge/rtmpt"
)

func TestMain(m *testing.M) { harness.Main(m) }

// TestRTMPTClientQuirks: for each quirk of a real RTMPT client (ident2 first,
// idle before the first send, empty bodies, close without a sequence number, one
// TCP connection per request, a resent request) a Go player tunnelled through
// the edge's RTMPT listener completes a play and receives packets of the
// published stream, and the edge logs the session as proto rtmpt. Each quirk
// plays through rtmpt.Dial and through rtmpt.Bridge.
func TestRTMPTClientQuirks(t *testing.T) {
	t.Parallel()
	media := harness.StartNginx(t, harness.NginxOptions{Name: "media03", RTMPAddr: harness.FreeAddr(t), HTTPAddr: harness.FreeAddr(t)})
	tunnel := harness.FreeAddr(t)
	edge := harness.StartEdge(t, fmt.Sprintf(`listeners:
  - name: rtmpt
    address: %q
    protocols: [rtmpt]
    backend: media
backends:
  - name: media
    check: { type: rtmp, interval: 300ms, rise: 1, fall: 2, timeout: 1s }
    servers:
      - { name: media03, address: %q, upload: true }
`, tunnel, media.Opts.RTMPAddr))

	flv := harness.MakeTestStream(t, 4)
	published := harness.MustFrameMD5(t, flv)
	harness.Publish(t, "rtmp://"+media.Opts.RTMPAddr+"/live/q", flv)
	media.WaitStat(t, "publisher of q", func(s *harness.Stat) bool { return len(s.Stream("q").Publishers) == 1 }, 20*time.Second)

	quirks := []struct {
		name string
		opts rtmpt.ClientOptions
	}{
		{"Plain", rtmpt.ClientOptions{}},
		{"Ident2First", rtmpt.ClientOptions{Ident2: true}},
		{"IdleFirst", rtmpt.ClientOptions{IdleFirst: true}},
		{"EmptyBodies", rtmpt.ClientOptions{EmptyBodies: true}},
		{"CloseWithoutSeq", rtmpt.ClientOptions{CloseWithoutSeq: true}},
		{"ConnPerRequest", rtmpt.ClientOptions{ConnPerRequest: true}},
		{"Resend", rtmpt.ClientOptions{Resend: true}},
		{"All", rtmpt.ClientOptions{Ident2: true, IdleFirst: true, EmptyBodies: true, CloseWithoutSeq: true, ConnPerRequest: true, Resend: true}},
	}
	// Each quirk plays both ways the rtmpt package offers: Dial's net.Conn used
	// directly, and Bridge, a local TCP port that tunnels every connection.
	ways := []struct {
		name string
		dial func(t *testing.T, opts rtmpt.ClientOptions) harness.PlayerOptions
	}{
		{"Dial", func(t *testing.T, opts rtmpt.ClientOptions) harness.PlayerOptions {
			return harness.PlayerOptions{Addr: tunnel, Dial: func(ctx context.Context) (net.Conn, error) {
				return rtmpt.Dial(ctx, tunnel, opts)
			}}
		}},
		{"Bridge", func(t *testing.T, opts rtmpt.ClientOptions) harness.PlayerOptions {
			local, stop, err := rtmpt.Bridge(context.Background(), tunnel, opts)
			if err != nil {
				t.Fatalf("rtmpt bridge: %v", err)
			}
			t.Cleanup(stop)
			return harness.PlayerOptions{Addr: local}
		}},
	}
	n := 0
	for _, q := range quirks {
		for _, way := range ways {
			n++
			ip := harness.ClientIP(60, n)
			t.Run(q.name+"/"+way.name, func(t *testing.T) {
				t.Parallel()
				opts := q.opts
				opts.LocalAddr = &net.TCPAddr{IP: net.ParseIP(ip)}
				po := way.dial(t, opts)
				po.Stream = "q"
				po.TcURL = "rtmpt://" + tunnel + "/live"
				p := harness.StartPlayer(t, po)
				if err := p.WaitPackets(25, 20*time.Second); err != nil {
					t.Fatal(err)
				}
				if err := p.Packets().CheckSubsetOf(published, 10); err != nil {
					t.Fatal(err)
				}
				p.Close()
				l := edge.WaitLog(t, func(l harness.LogLine) bool {
					return l.Msg() == "session end" && l.ClientIP() == ip
				}, 20*time.Second)
				if l.Str("proto") != "rtmpt" || l.Str("command") != "play" || l.Str("server") != "media03" {
					t.Errorf("session line: proto %q command %q server %q; want rtmpt play media03", l.Str("proto"), l.Str("command"), l.Str("server"))
				}
			})
		}
	}
}
