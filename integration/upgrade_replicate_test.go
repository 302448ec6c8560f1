package integration

import (
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/rtmp-edge/rtmp-edge/integration/harness"
)

const blockUpgradeRepl = 164

// TestUpgradeKeepsReplicatedPublish: a publish the edge replicates does not
// move at an upgrade (its replicas and the publisher's chunk-stream state
// live in the old process). The old process reports it staying, keeps it and
// its replica going (a player reading the replica server directly keeps
// receiving as much as a control player on the origin), and exits once the
// publisher ends. Moving it would end the replica's stream at the upgrade.
func TestUpgradeKeepsReplicatedPublish(t *testing.T) {
	t.Parallel()
	ip := func(n int) string { return harness.ClientIP(blockUpgradeRepl, n) }
	bin := harness.EdgeBinaryCopy(t)
	rtmpAddr := harness.FreeAddr(t)
	origin := harness.StartNginx(t, harness.NginxOptions{Name: "media01", RTMPAddr: harness.FreeAddr(t), HTTPAddr: harness.FreeAddr(t)})
	replica := harness.StartNginx(t, harness.NginxOptions{Name: "media02", RTMPAddr: harness.FreeAddr(t), HTTPAddr: harness.FreeAddr(t)})
	cfg := fmt.Sprintf(`admin:
  address: %q
listeners:
  - { name: rtmp, address: %q, protocols: [rtmp], backend: media, handshake_timeout: 5s }
backends:
  - name: media
    route: command
    replicate: { to: all }
    balance: roundrobin
    check: { type: rtmp, app: live, interval: 300ms, rise: 2, fall: 3, timeout: 3s }
    connect_timeout: 2s
    handshake_timeout: 3s
    servers:
      - { name: media01, address: %q, weight: 10, maxconn: 200, upload: true }
      - { name: media02, address: %q, weight: 10, maxconn: 200 }
`, harness.FreeAddr(t), rtmpAddr, origin.Opts.RTMPAddr, replica.Opts.RTMPAddr)
	edge := harness.StartEdgeAt(t, bin, cfg)
	edge.WaitServersUp(t, "media", []string{"media01", "media02"}, 20*time.Second)
	edge.WaitLog(t, func(l harness.LogLine) bool { return l.Msg() == "connect template learned" }, 15*time.Second)
	c := &upgradeCluster{bin: bin, edge: edge, rtmp: rtmpAddr}

	flv := harness.MakeTestStream(t, 10)
	proxy := harness.StartCountingProxy(t, rtmpAddr, ip(1))
	pub := harness.StartProc(t, "ffmpeg publish urepl", "ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "warning",
		"-re", "-stream_loop", "-1", "-i", flv, "-c", "copy", "-f", "flv", url("rtmp", proxy.Addr, "urepl"))
	origin.WaitStat(t, "publisher of urepl on media01", hasPublisher("urepl"), 30*time.Second)
	replica.WaitStat(t, "the edge's replica of urepl on media02", hasPublisher("urepl"), 30*time.Second)

	onReplica := harness.StartPlayer(t, harness.PlayerOptions{Addr: replica.Opts.RTMPAddr, LocalIP: ip(10), Stream: "urepl"})
	control := harness.StartPlayer(t, harness.PlayerOptions{Addr: origin.Opts.RTMPAddr, LocalIP: ip(200), Stream: "urepl"})
	all := []*harness.Player{onReplica, control}
	if err := harness.WaitAllGrown(harness.MarkAll(all), 20, 30*time.Second); err != nil {
		t.Fatal(err)
	}

	marks := harness.MarkAll(all)
	oldPid := edge.Proc.Pid()
	sent := time.Now()
	r := c.upgrade(t, oldPid)
	if r.moved != 0 || r.staying != 1 {
		t.Errorf("sessions moved %d, staying %d; want 0 and 1 (the replicated publish stays)", r.moved, r.staying)
	}
	// A window long enough that a replica ended at the upgrade (its player
	// cut, or waiting for a rejoin nobody makes) falls far short.
	time.Sleep(time.Until(sent.Add(8 * time.Second)))
	if !harness.PidAlive(oldPid) {
		t.Fatalf("the old process %d exited while the replicated publish was live there", oldPid)
	}
	checkShare(t, "a player on the replica across the upgrade", marks, harness.MarkAll(all))

	// The publisher ends: the old process ends its replicas and exits.
	mark := edge.LogMark()
	pub.Signal(syscall.SIGTERM)
	ended := time.Now()
	waitGone(t, oldPid, 15*time.Second, ended, "the publisher's end")
	edge.WaitLogSince(t, mark, func(l harness.LogLine) bool {
		return l.Msg() == "session end" && l.Str("stream") == "urepl" && l.Str("kind") == "publish"
	}, 5*time.Second)
}
