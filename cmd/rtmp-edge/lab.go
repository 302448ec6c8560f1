package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/rtmp-edge/rtmp-edge/cmd/internal/mediaserver"
	"github.com/rtmp-edge/rtmp-edge/edge"
	"github.com/rtmp-edge/rtmp-edge/routing"
	"github.com/rtmp-edge/rtmp-edge/upstream"
)

// runLab is the quick start: three in-process media servers on loopback
// (media03 takes the uploads and pushes each stream to media01 and media02,
// as the seed set-up's upload server does) behind an edge with the seed's
// routing. Nothing else needs to be installed.
func runLab(ctx context.Context, log *slog.Logger, rtmpAddr, rtmptAddr, adminAddr string, grace time.Duration) error {
	var lns [3]net.Listener
	for i := range lns {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return fmt.Errorf("lab media server: %w", err)
		}
		lns[i] = ln
	}
	addr := func(i int) string { return lns[i].Addr().String() }
	names := []string{"media01", "media02", "media03"}
	servers := make([]*mediaserver.Server, 3)
	for i, name := range names {
		cfg := mediaserver.Config{Name: name, Logger: log.With("media", name)}
		if name == "media03" {
			cfg.Push = []string{addr(0), addr(1)}
		}
		servers[i] = mediaserver.New(cfg)
		go func() { _ = servers[i].Serve(lns[i]) }()
	}
	defer func() {
		for _, s := range servers {
			_ = s.Close()
		}
	}()

	cfg := labConfig(rtmpAddr, rtmptAddr, addr(0), addr(1), addr(2))
	cfg.Admin.Address = adminAddr
	e, err := edge.New(cfg, edge.Options{Logger: log})
	if err != nil {
		return err
	}
	if err := e.Listen(); err != nil {
		return err
	}
	rtmp, rtmpt := e.Addr("rtmp").String(), e.Addr("rtmpt").String()
	stats := "(no admin endpoint)"
	if a := e.AdminAddr(); a != nil {
		stats = "http://" + a.String() + "/   (API under /api/v1/, Prometheus at /metrics)"
	}
	fmt.Printf(`rtmp-edge lab is running: an edge in front of three in-process media servers
  media01 %s, media02 %s, media03 %s (takes the uploads, pushes them to media01 and media02)
publish:  ffmpeg -re -i x.flv -c copy -f flv rtmp://%s/live/demo
play:     ffplay rtmp://%s/live/demo
RTMPT:    ffplay rtmpt://%s/live/demo      (this port also takes plain rtmp://)
stats:    %s
Ctrl-C stops it.
`, addr(0), addr(1), addr(2), rtmp, rtmp, rtmpt, stats)
	return e.Serve(ctx, grace)
}

// labConfig is the seed's HAProxy set-up, translated, in front of the lab's
// media servers.
func labConfig(rtmpAddr, rtmptAddr, media01, media02, media03 string) edge.Config {
	return edge.Config{
		Listeners: []edge.ListenerConfig{
			{Name: "rtmp", Address: rtmpAddr, Protocols: []string{edge.ProtoRTMP}, MaxConn: 600, Backend: "media"},
			{Name: "rtmpt", Address: rtmptAddr, Protocols: []string{edge.ProtoRTMPT, edge.ProtoRTMP}, MaxConn: 600, Backend: "media"},
		},
		Backends: []edge.BackendConfig{{
			PoolConfig: routing.PoolConfig{
				Name:    "media",
				Balance: "roundrobin",
				Stick:   routing.StickConfig{Size: 200000, Expire: 20 * time.Minute},
				Servers: []routing.ServerConfig{
					{Name: "media01", Address: media01, Weight: new(10), MaxConn: 200},
					{Name: "media02", Address: media02, Weight: new(10), MaxConn: 200},
					// media03 pushes every upload to the others: its streams
					// are live there too, so their players spread over all three.
					{Name: "media03", Address: media03, Weight: new(8), MaxConn: 200, Upload: true, ReplicatesTo: []string{"media01", "media02"}},
				},
			},
			Check: upstream.CheckConfig{Type: "rtmp", Interval: 2 * time.Second, Rise: 2, Fall: 3, Timeout: 2 * time.Second},
		}},
	}
}
