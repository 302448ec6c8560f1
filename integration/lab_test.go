package integration

import (
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/rtmp-edge/rtmp-edge/integration/harness"
)

// labRTMPT finds the RTMPT address in the lab's banner ("ffplay rtmpt://ADDR/live/demo").
var labRTMPT = regexp.MustCompile(`rtmpt://([0-9.]+:[0-9]+)/live/demo`)

// TestLab: `rtmp-edge -lab` (edge + three in-process media servers) takes an
// ffmpeg publish on its rtmp port and serves ffmpeg players over rtmp and over
// rtmpt (the port its banner prints) with packets of the published stream.
func TestLab(t *testing.T) {
	t.Parallel()
	bin := harness.BuildEdge(t)
	rtmpAddr, rtmptAddr, adminAddr := harness.FreeAddr(t), harness.FreeAddr(t), harness.FreeAddr(t)
	lab := harness.StartProc(t, "rtmp-edge -lab", bin, "-lab", "-lab-rtmp", rtmpAddr, "-lab-rtmpt", rtmptAddr,
		"-lab-admin", adminAddr, "-log-format", "json")
	if err := harness.WaitAccept(rtmpAddr, 15*time.Second); err != nil {
		t.Fatalf("lab rtmp port: %v\n%s", err, lab.Output())
	}
	deadline := time.Now().Add(10 * time.Second)
	var printed string
	for printed == "" {
		if m := labRTMPT.FindStringSubmatch(lab.Output()); m != nil {
			printed = m[1]
		} else if time.Now().After(deadline) {
			t.Fatalf("the lab did not print an rtmpt:// address; output:\n%s", lab.Output())
		} else {
			time.Sleep(100 * time.Millisecond)
		}
	}
	if printed != rtmptAddr {
		t.Errorf("the lab printed rtmpt address %s, -lab-rtmpt was %s", printed, rtmptAddr)
	}

	// The lab has the admin endpoint: its API lists the three media servers.
	resp, err := http.Get("http://" + adminAddr + "/api/v1/backends")
	if err != nil {
		t.Fatalf("lab admin endpoint: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, name := range []string{"media01", "media02", "media03"} {
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"name":"`+name+`"`) {
			t.Errorf("lab /api/v1/backends: %s %s, want %s listed", resp.Status, body, name)
		}
	}

	flv := harness.MakeTestStream(t, 4)
	published := harness.MustFrameMD5(t, flv)
	harness.Publish(t, url("rtmp", rtmpAddr, "demo"), flv)

	// media03 pushes the stream on to media01 and media02 a moment after the
	// publish starts: a player that lands there early may see nothing, so each
	// protocol gets three tries.
	for _, u := range []string{url("rtmp", rtmpAddr, "demo"), url("rtmpt", printed, "demo")} {
		var err error
		for try := 0; try < 3; try++ {
			var got harness.Packets
			got, err = harness.PlayFFmpeg(u, 3*time.Second)
			if err == nil {
				err = got.CheckSubsetOf(published, 20)
			}
			if err == nil {
				break
			}
			t.Logf("play %s, try %d: %v", u, try+1, err)
		}
		if err != nil {
			t.Errorf("play %s: %v", u, err)
		}
	}
}
