package load

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/rtmp-edge/rtmp-edge/cmd/internal/mediaserver"
	"github.com/rtmp-edge/rtmp-edge/cmd/rtmp-bench/internal/benchserver"
	"github.com/rtmp-edge/rtmp-edge/cmd/rtmp-bench/internal/rtmpraw"
	"github.com/rtmp-edge/rtmp-edge/rtmpt"
)

var quiet = slog.New(slog.DiscardHandler)

func TestParseTarget(t *testing.T) {
	tests := []struct {
		in     string
		want   Target
		stream string
		err    bool
	}{
		{"rtmp://127.0.0.1/live", Target{"rtmp", "127.0.0.1:1935", "live", "rtmp://127.0.0.1/live"}, "", false},
		{"rtmp://127.0.0.1:19350/live/demo", Target{"rtmp", "127.0.0.1:19350", "live", "rtmp://127.0.0.1:19350/live"}, "demo", false},
		{"rtmpt://127.0.0.1/live/a/b", Target{"rtmpt", "127.0.0.1:80", "live", "rtmpt://127.0.0.1/live"}, "a/b", false},
		{"rtmpt://[::1]:8080/live", Target{"rtmpt", "[::1]:8080", "live", "rtmpt://[::1]:8080/live"}, "", false},
		{"http://127.0.0.1/live", Target{}, "", true},
		{"rtmp://127.0.0.1", Target{}, "", true},
		{"rtmp:///live", Target{}, "", true},
		{"::", Target{}, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, stream, err := ParseTarget(tt.in)
			if (err != nil) != tt.err || got != tt.want || stream != tt.stream {
				t.Errorf("ParseTarget = %+v, %q, %v; want %+v, %q, err %v", got, stream, err, tt.want, tt.stream, tt.err)
			}
			if err != nil && !errors.Is(err, ErrBadURL) {
				t.Errorf("err = %v, want ErrBadURL", err)
			}
		})
	}
}

func TestParseSources(t *testing.T) {
	tests := []struct {
		in          string
		n           int
		first, last string
		err         bool
	}{
		{"127.0.1.0/24", 254, "127.0.1.1", "127.0.1.254", false},
		{"127.0.1.7", 1, "127.0.1.7", "127.0.1.7", false},
		{"127.0.1.8/31", 2, "127.0.1.8", "127.0.1.9", false},
		{"127.0.1.8/32", 1, "127.0.1.8", "127.0.1.8", false},
		{"127.0.0.0/8", maxSources, "127.0.0.1", "127.1.0.0", false},
		{"nonsense", 0, "", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseSources(tt.in)
			if (err != nil) != tt.err {
				t.Fatalf("err = %v", err)
			}
			if err != nil {
				return
			}
			if len(got) != tt.n || got[0] != netip.MustParseAddr(tt.first) || got[len(got)-1] != netip.MustParseAddr(tt.last) {
				t.Errorf("got %d addresses %v..%v, want %d %s..%s", len(got), got[0], got[len(got)-1], tt.n, tt.first, tt.last)
			}
		})
	}
}

func TestConfigValidate(t *testing.T) {
	tg := []Target{{Proto: "rtmp", Addr: "127.0.0.1:1", App: "live"}}
	tests := []struct {
		name string
		cfg  Config
		ok   bool
	}{
		{"publishers only", Config{PublishTargets: tg, Publishers: 2, Duration: time.Second}, true},
		{"players of an existing stream", Config{PublishTargets: tg, Players: 3, Duration: time.Second}, true},
		{"no clients", Config{PublishTargets: tg, Duration: time.Second}, false},
		{"no duration", Config{PublishTargets: tg, Publishers: 1}, false},
		{"too long", Config{PublishTargets: tg, Publishers: 1, Duration: MaxDuration + 1}, false},
		{"too many clients", Config{PublishTargets: tg, Streams: 1000, Players: MaxClients, Duration: time.Second}, false},
		{"more publishers than streams", Config{PublishTargets: tg, Publishers: 3, Streams: 2, Duration: time.Second}, false},
		{"no target", Config{Publishers: 1, Duration: time.Second}, false},
		{"negative bitrate", Config{PublishTargets: tg, Publishers: 1, Bitrate: -1, Duration: time.Second}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if (err == nil) != tt.ok {
				t.Errorf("Validate = %v, want ok %v", err, tt.ok)
			}
			if err != nil && !errors.Is(err, ErrBadConfig) {
				t.Errorf("err = %v, want ErrBadConfig", err)
			}
		})
	}
}

func TestErrorKind(t *testing.T) {
	tests := []struct {
		err  error
		want string
	}{
		{fmt.Errorf("x: %w", rtmpraw.ErrConnectRejected), ErrKindConnectRejected},
		{fmt.Errorf("x: %w", rtmpraw.ErrPublishRejected), ErrKindPublishRejected},
		{fmt.Errorf("x: %w", rtmpraw.ErrPlayRejected), ErrKindPlayRejected},
		{fmt.Errorf("%w: %w", errDial, syscall.ECONNREFUSED), ErrKindRefused},
		{fmt.Errorf("%w: %w", errDial, errors.New("no route")), ErrKindDial},
		{fmt.Errorf("%w: %w", errHandshake, os.ErrDeadlineExceeded), ErrKindTimeout},
		{fmt.Errorf("%w: %w", errHandshake, rtmpraw.ErrBadVersion), ErrKindHandshake},
		{fmt.Errorf("read: %w", syscall.ECONNRESET), ErrKindClosed},
		{fmt.Errorf("read: %w", rtmpraw.ErrBadChunkSize), ErrKindProtocol},
		{fmt.Errorf("%w: index out of range", ErrPanic), ErrKindPanic},
		{errors.New("mystery"), ErrKindOther},
	}
	for _, tt := range tests {
		if got := ErrorKind(tt.err); got != tt.want {
			t.Errorf("ErrorKind(%v) = %s, want %s", tt.err, got, tt.want)
		}
	}
}

// startBenchServer runs a sink or source on 127.0.0.1 for the test.
func startBenchServer(t *testing.T, source bool) (*benchserver.Server, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := benchserver.New(benchserver.Config{Source: source, Logger: quiet})
	go func() { _ = s.Serve(ln) }()
	t.Cleanup(func() { _ = s.Close() })
	return s, ln.Addr().String()
}

func targets(t *testing.T, url string) []Target {
	t.Helper()
	tg, _, err := ParseTargets(url)
	if err != nil {
		t.Fatal(err)
	}
	return tg
}

func runLoad(t *testing.T, cfg Config) *Summary {
	t.Helper()
	if cfg.Duration == 0 {
		cfg.Duration = 2 * time.Second
	}
	cfg.ConnectTimeout = 5 * time.Second
	sum, err := Run(context.Background(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if sum.ErrorsTotal != 0 {
		for _, c := range sum.Clients {
			if c.LastError != "" {
				t.Logf("client %d (%s): %s", c.ID, c.Role, c.LastError)
			}
		}
		t.Errorf("errors: %v", sum.Errors)
	}
	return sum
}

func TestRunPublishersAgainstSink(t *testing.T) {
	sink, addr := startBenchServer(t, false)
	sum := runLoad(t, Config{PublishTargets: targets(t, "rtmp://"+addr+"/live"), Publishers: 3, Bitrate: 0,
		Sources: []netip.Addr{netip.MustParseAddr("127.0.1.1"), netip.MustParseAddr("127.0.1.2")}})
	if sum.Publishers != 3 || sum.PublishersUp != 3 || sum.Sessions != 3 {
		t.Errorf("publishers %d, up %d, sessions %d; want 3, 3, 3", sum.Publishers, sum.PublishersUp, sum.Sessions)
	}
	if sum.BytesOut == 0 || sum.Connect.N != 3 {
		t.Errorf("bytes out %d, connect samples %d", sum.BytesOut, sum.Connect.N)
	}
	if sink.Stats().BytesIn < sum.BytesOut/2 {
		t.Errorf("the sink got %d bytes of %d sent", sink.Stats().BytesIn, sum.BytesOut)
	}
	if sum.Clients[0].Source != "127.0.1.1" || sum.Clients[1].Source != "127.0.1.2" || sum.Clients[2].Source != "127.0.1.1" {
		t.Errorf("sources not cycled: %s %s %s", sum.Clients[0].Source, sum.Clients[1].Source, sum.Clients[2].Source)
	}
}

func TestRunPlayersAgainstSource(t *testing.T) {
	_, addr := startBenchServer(t, true)
	sum := runLoad(t, Config{PublishTargets: targets(t, "rtmp://"+addr+"/live"), Streams: 2, Players: 2})
	if sum.Players != 4 || sum.PlayersMedia != 4 || sum.FirstPacket.N != 4 || sum.BytesIn == 0 {
		t.Errorf("players %d, with media %d, first-packet samples %d, bytes in %d; want 4, 4, 4, >0",
			sum.Players, sum.PlayersMedia, sum.FirstPacket.N, sum.BytesIn)
	}
}

// Players with a small read buffer (the 10k-player load's) still read the
// stream, and are counted as fed at the end of the run; players that never
// get media (the sink sends Play.Start and nothing) are not.
func TestPlayersAtEnd(t *testing.T) {
	_, addr := startBenchServer(t, true)
	sum := runLoad(t, Config{PublishTargets: targets(t, "rtmp://"+addr+"/live"), Streams: 2, Players: 2,
		ReadBuffer: 4096, Duration: 3 * time.Second})
	if sum.PlayersMedia != 4 || sum.PlayersAtEnd != 4 {
		t.Errorf("source: players with media %d, at the end %d; want 4, 4", sum.PlayersMedia, sum.PlayersAtEnd)
	}
	// Players that pause 50 ms after parsing what they read get the same stream.
	sum = runLoad(t, Config{PublishTargets: targets(t, "rtmp://"+addr+"/live"), Streams: 1, Players: 3,
		ReadBuffer: 8192, ReadPause: 50 * time.Millisecond, Duration: 3 * time.Second})
	if sum.PlayersAtEnd != 3 || sum.InMbps < 2*2.5*0.8 {
		t.Errorf("pausing players: at the end %d, received %.2f Mbit/s; want 3 and about 3 × 2.5", sum.PlayersAtEnd, sum.InMbps)
	}
	_, addr = startBenchServer(t, false)
	sum = runLoad(t, Config{PublishTargets: targets(t, "rtmp://"+addr+"/live"), Streams: 1, Players: 2})
	if sum.PlayersUp != 2 || sum.PlayersMedia != 0 || sum.PlayersAtEnd != 0 {
		t.Errorf("sink: players up %d, with media %d, at the end %d; want 2, 0, 0", sum.PlayersUp, sum.PlayersMedia, sum.PlayersAtEnd)
	}
	if err := (&Config{PublishTargets: targets(t, "rtmp://"+addr+"/live"), Players: 1, Duration: time.Second, ReadBuffer: -1}).Validate(); !errors.Is(err, ErrBadConfig) {
		t.Errorf("negative read buffer: err = %v, want ErrBadConfig", err)
	}
}

// Publishers and players through a real media server (go-rtmp underneath):
// a second implementation reading this package's chunks.
func TestRunThroughMediaServer(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ms := mediaserver.New(mediaserver.Config{Logger: quiet})
	go func() { _ = ms.Serve(ln) }()
	defer ms.Close()
	sum := runLoad(t, Config{PublishTargets: targets(t, "rtmp://"+ln.Addr().String()+"/live"),
		Publishers: 2, Players: 2, Bitrate: 2_000_000, ChunkSize: 4096, Duration: 3 * time.Second})
	if sum.PublishersUp != 2 || sum.PlayersMedia != 4 {
		t.Errorf("publishers up %d, players with media %d; want 2, 4", sum.PublishersUp, sum.PlayersMedia)
	}
}

func TestRunOverRTMPT(t *testing.T) {
	sink, addr := startBenchServer(t, true)
	ts, err := rtmpt.New(rtmpt.Config{}, func(c *rtmpt.Conn) { sink.ServeConn(c) })
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = ts.Serve(ln) }()
	defer ts.Close()
	// Publishers over RTMPT, players over both.
	sum := runLoad(t, Config{
		PublishTargets: targets(t, "rtmpt://"+ln.Addr().String()+"/live"),
		PlayTargets:    targets(t, "rtmpt://"+ln.Addr().String()+"/live,rtmp://"+addr+"/live"),
		Publishers:     1, Players: 2, Bitrate: 1_000_000,
	})
	if sum.PublishersUp != 1 || sum.PlayersMedia != 2 || sum.BytesOut == 0 {
		t.Errorf("publishers up %d, players with media %d, bytes out %d", sum.PublishersUp, sum.PlayersMedia, sum.BytesOut)
	}
}

func TestRunReconnectCountsSessions(t *testing.T) {
	_, addr := startBenchServer(t, false)
	sum := runLoad(t, Config{PublishTargets: targets(t, "rtmp://"+addr+"/live"), Publishers: 2, Idle: true,
		Reconnect: true, Hold: 10 * time.Millisecond, Duration: time.Second})
	if sum.Sessions <= 2 || sum.Connect.N < int(sum.Sessions) {
		t.Errorf("sessions %d, connect samples %d; want more than one session per client", sum.Sessions, sum.Connect.N)
	}
}

func TestRunCountsRefusedConnections(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	sum, err := Run(context.Background(), Config{PublishTargets: targets(t, "rtmp://"+addr+"/live"), Publishers: 1,
		Duration: 500 * time.Millisecond}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Errors[ErrKindRefused] == 0 || sum.PublishersUp != 0 {
		t.Errorf("errors %v, publishers up %d; want refused > 0, 0 up", sum.Errors, sum.PublishersUp)
	}
}
