package edge

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	rtmpmsg "github.com/yutopp/go-rtmp/message"

	"github.com/rtmp-edge/rtmp-edge/integration/harness"
	"github.com/rtmp-edge/rtmp-edge/routing"
	"github.com/rtmp-edge/rtmp-edge/upstream"
)

// A video message larger than replicate.buffer (which the media server
// accepts) drops the replica with that reason; it rejoins after its
// back-off, the publish's replication goes on (nothing is counted as
// stopped), and the publisher's own session goes on relaying to its server.
func TestMessageOverBufferDropsTheReplicaOnly(t *testing.T) {
	n1 := harness.StartNginx(t, harness.NginxOptions{Name: "media01", RTMPAddr: harness.FreeAddr(t), HTTPAddr: harness.FreeAddr(t)})
	n3 := harness.StartNginx(t, harness.NginxOptions{Name: "media03", RTMPAddr: harness.FreeAddr(t), HTTPAddr: harness.FreeAddr(t)})
	cfg := testConfig(
		routing.ServerConfig{Name: "media01", Address: n1.Opts.RTMPAddr, Weight: new(10), MaxConn: 200},
		routing.ServerConfig{Name: "media03", Address: n3.Opts.RTMPAddr, Weight: new(8), MaxConn: 200, Upload: true},
	)
	cfg.Backends[0].Route = RouteCommand
	cfg.Backends[0].Check = upstream.CheckConfig{Type: upstream.CheckRTMP, Interval: time.Hour, Timeout: 5 * time.Second, App: "live"}
	cfg.Backends[0].Replicate = &ReplicateConfig{To: ReplicateToAll(), Buffer: minReplicateBuffer, MaxLag: 5 * time.Second}
	e := serveEdge(t, cfg, 0)
	e.log.wait(t, "connect template learned", nil)

	c := goClient(t, e.addr, encoderConnect)
	var s interface {
		Write(int, uint32, rtmpmsg.Message) error
	}
	if err := bounded(c, func() error {
		st, err := c.CreateStream(nil, 128)
		if err == nil {
			err = st.Publish(&rtmpmsg.NetStreamPublish{PublishingName: "big", PublishingType: "live"})
		}
		s = st
		return err
	}); err != nil {
		t.Fatalf("publish: %v", err)
	}
	n3.WaitStat(t, "big published on media03", func(st *harness.Stat) bool { return st.Stream("big") != nil }, 10*time.Second)
	// The replica joins at once (its publish needs no media), so media01
	// has the stream before the large message.
	n1.WaitStat(t, "big replicated to media01", func(st *harness.Stat) bool { return st.Stream("big") != nil }, 10*time.Second)
	e.log.wait(t, "replica live", nil)

	tooBig := make([]byte, minReplicateBuffer+64<<10)
	tooBig[0], tooBig[1] = 0x17, 1 // an AVC keyframe: where the replica starts its stream
	if err := bounded(c, func() error { return s.Write(6, 0, &rtmpmsg.VideoMessage{Payload: bytes.NewReader(tooBig)}) }); err != nil {
		t.Fatalf("writing the large message: %v", err)
	}
	dropped := e.log.wait(t, "replica dropped", nil)
	if want := fmt.Sprintf("message of %d bytes over buffer", len(tooBig)); dropped["reason"] != want || dropped["rejoin_in"] != "1s" {
		t.Errorf("replica dropped: reason %v, rejoin_in %v; want %q, \"1s\"", dropped["reason"], dropped["rejoin_in"], want)
	}
	// Back after its back-off (1 s), on the same publish.
	e.log.wait(t, "replica live", nil)
	if v := gatherValue(t, e.reg, "rtmp_edge_replications_stopped_total", map[string]string{"backend": "media", "reason": "publisher stream unreadable"}); v > 0 { // -1: no such series
		t.Errorf("rtmp_edge_replications_stopped_total{reason=publisher stream unreadable} = %v, want none", v)
	}
	n1.WaitStat(t, "big on media01 again", func(st *harness.Stat) bool { return st.Stream("big") != nil && len(st.Stream("big").Publishers) == 1 }, 10*time.Second)

	// The publisher goes on: more messages reach its server, its session
	// still relays.
	before := gatherValue(t, e.reg, "rtmp_edge_server_bytes_total", map[string]string{"server": "media03", "direction": "in"})
	for i := range 10 {
		if err := bounded(c, func() error {
			return s.Write(6, uint32(i*40), &rtmpmsg.VideoMessage{Payload: bytes.NewReader(make([]byte, 1000))})
		}); err != nil {
			t.Fatalf("writing after the stop: %v", err)
		}
	}
	for deadline := time.Now().Add(10 * time.Second); gatherValue(t, e.reg, "rtmp_edge_server_bytes_total", map[string]string{"server": "media03", "direction": "in"}) < before+10000; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the publisher's bytes stopped reaching media03")
		}
	}
	sessions := adminSource{e.Edge}.Sessions()
	if len(sessions) != 1 || sessions[0].Phase != phaseRelay || len(sessions[0].Replicas) != 1 || sessions[0].Replicas[0].State != "live" {
		t.Fatalf("sessions %+v", sessions)
	}
	if st := n3.Stat(t).Stream("big"); st == nil || len(st.Publishers) != 1 {
		t.Errorf("media03 lost the publisher: %v", n3.Stat(t))
	}
}
