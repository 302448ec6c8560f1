package harness

import (
	"testing"
	"time"
)

func TestMain(m *testing.M) { Main(m) }

// TestSelfPeers checks the harness against real peers without the edge: ffmpeg
// publishes to nginx "upload", which pushes to nginx "mirror"; ffmpeg, rtmpdump
// and the Go player play from the mirror and receive packets of the published
// stream; /stat shows the publisher and the Go player's own source address.
func TestSelfPeers(t *testing.T) {
	t.Parallel()
	flv := MakeTestStream(t, 4)
	published := MustFrameMD5(t, flv)
	mirror := StartNginx(t, NginxOptions{Name: "mirror", RTMPAddr: FreeAddr(t), HTTPAddr: FreeAddr(t)})
	upload := StartNginx(t, NginxOptions{Name: "upload", RTMPAddr: FreeAddr(t), HTTPAddr: FreeAddr(t),
		Push: []string{"rtmp://" + mirror.Opts.RTMPAddr + "/live"}})

	Publish(t, "rtmp://"+upload.Opts.RTMPAddr+"/live/self", flv)
	upload.WaitStat(t, "a publisher of self", func(s *Stat) bool { return len(s.Stream("self").Publishers) == 1 }, 15*time.Second)
	mirror.WaitStat(t, "the pushed self", func(s *Stat) bool { return len(s.Stream("self").Publishers) == 1 }, 15*time.Second)

	url := "rtmp://" + mirror.Opts.RTMPAddr + "/live/self"
	t.Run("ffmpeg", func(t *testing.T) {
		got, err := PlayFFmpeg(url, 3*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if err := got.CheckSubsetOf(published, 20); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("rtmpdump", func(t *testing.T) {
		got, err := PlayRTMPDump(t, url, 3*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if err := got.CheckSubsetOf(published, 20); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("go-player", func(t *testing.T) {
		p := StartPlayer(t, PlayerOptions{Addr: mirror.Opts.RTMPAddr, LocalIP: ClientIP(250, 5), Stream: "self"})
		if err := p.WaitPackets(25, 15*time.Second); err != nil {
			t.Fatal(err)
		}
		if err := p.Packets().CheckSubsetOf(published, 10); err != nil {
			t.Fatal(err)
		}
		mirror.WaitStat(t, "the Go player at 127.0.250.5", func(s *Stat) bool {
			for _, c := range s.Stream("self").Players {
				if c.Address == "127.0.250.5" {
					return true
				}
			}
			return false
		}, 10*time.Second)
	})
	t.Run("go-player-amf3-connect", func(t *testing.T) {
		p := StartPlayer(t, PlayerOptions{Addr: mirror.Opts.RTMPAddr, Stream: "self", ConnectAMF3: true})
		if err := p.WaitPackets(10, 15*time.Second); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("go-player-no-publisher", func(t *testing.T) {
		// nginx-rtmp starts a live play before anyone publishes; the balance tests
		// rely on that to hold many idle players.
		p := StartPlayer(t, PlayerOptions{Addr: mirror.Opts.RTMPAddr, LocalIP: ClientIP(250, 6), Stream: "nobody"})
		mirror.WaitStat(t, "an idle player", func(s *Stat) bool { return len(s.Stream("nobody").Players) == 1 }, 10*time.Second)
		p.Close()
	})
	t.Run("restart", func(t *testing.T) {
		mirror.Stop()
		if err := WaitAccept(mirror.Opts.RTMPAddr, 300*time.Millisecond); err == nil {
			t.Fatal("stopped nginx still accepts")
		}
		mirror.Start()
	})
}
