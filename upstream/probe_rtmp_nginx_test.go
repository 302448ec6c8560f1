package upstream_test

import (
	"context"
	"testing"
	"time"

	"github.com/rtmp-edge/rtmp-edge/edge/amf0"
	"github.com/rtmp-edge/rtmp-edge/integration/harness"
	"github.com/rtmp-edge/rtmp-edge/upstream"
)

// The rtmp check against a real nginx-rtmp hands its connect reply to OnConnectResult:
// nginx's fmsVer and capabilities, the success code, and the raw reply with the control
// messages nginx sends before _result.
func TestRTMPCheckConnectResultNginx(t *testing.T) {
	n := harness.StartNginx(t, harness.NginxOptions{Name: "media-probe", RTMPAddr: harness.FreeAddr(t), HTTPAddr: harness.FreeAddr(t)})
	results := make(chan upstream.ConnectResult, 4)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	h := &upstream.HealthCheck{
		Config:  upstream.CheckConfig{Type: upstream.CheckRTMP, Interval: time.Hour, Timeout: 5 * time.Second, App: "live"},
		Address: n.Opts.RTMPAddr,
		OnConnectResult: func(r upstream.ConnectResult) {
			select {
			case results <- r:
			default:
			}
		},
	}
	go func() { h.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	var res upstream.ConnectResult
	select {
	case res = <-results:
	case <-time.After(10 * time.Second):
		t.Fatal("no connect result from nginx within 10 s")
	}
	if v, _ := res.Properties.String("fmsVer"); v != "FMS/3,0,1,123" {
		t.Errorf("fmsVer %q; properties %#v", v, res.Properties)
	}
	if v, _ := res.Properties.Number("capabilities"); v != 31 {
		t.Errorf("capabilities %v", v)
	}
	want := map[string]amf0.Value{"level": "status", "code": "NetConnection.Connect.Success", "objectEncoding": 0.0}
	for k, w := range want {
		if v, _ := res.Information.Get(k); v != w {
			t.Errorf("information %s = %#v, want %#v (all: %#v)", k, v, w, res.Information)
		}
	}
	// Window Ack Size, Set Peer Bandwidth, Set Chunk Size (16+17+16 bytes), then _result.
	if len(res.Reply) < 49+12 || res.Reply[0] != 0x02 || res.Reply[7] != 5 || res.Reply[16+7] != 6 || res.Reply[33+7] != 1 {
		t.Errorf("reply does not start with nginx's control messages: % x", res.Reply[:min(len(res.Reply), 64)])
	}
}
