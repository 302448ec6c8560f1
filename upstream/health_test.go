package upstream

import (
	"bytes"
	"context"
	"io"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"
)

func TestNextState(t *testing.T) {
	type state struct {
		up       bool
		ok, fail int
		changed  bool
	}
	tests := []struct {
		name       string
		rise, fall int
		start      state
		results    []bool
		want       []state // state after each result
	}{
		{
			name: "up stays up on successes", rise: 2, fall: 3,
			start:   state{up: true},
			results: []bool{true, true, true},
			want:    []state{{true, 1, 0, false}, {true, 2, 0, false}, {true, 2, 0, false}},
		},
		{
			name: "fall consecutive failures take it down", rise: 2, fall: 3,
			start:   state{up: true},
			results: []bool{false, false, false, false},
			want:    []state{{true, 0, 1, false}, {true, 0, 2, false}, {false, 0, 3, true}, {false, 0, 3, false}},
		},
		{
			name: "a success resets the failure streak", rise: 2, fall: 3,
			start:   state{up: true},
			results: []bool{false, false, true, false, false, false},
			want: []state{{true, 0, 1, false}, {true, 0, 2, false}, {true, 1, 0, false},
				{true, 0, 1, false}, {true, 0, 2, false}, {false, 0, 3, true}},
		},
		{
			name: "rise consecutive successes bring it up", rise: 2, fall: 3,
			start:   state{up: false, fail: 3},
			results: []bool{true, false, true, true},
			want:    []state{{false, 1, 0, false}, {false, 0, 1, false}, {false, 1, 0, false}, {true, 2, 0, true}},
		},
		{
			name: "rise 1 fall 1 flip on every change", rise: 1, fall: 1,
			start:   state{up: true},
			results: []bool{false, false, true, true, false},
			want:    []state{{false, 0, 1, true}, {false, 0, 1, false}, {true, 1, 0, true}, {true, 1, 0, false}, {false, 0, 1, true}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := tt.start
			for i, ok := range tt.results {
				s.up, s.ok, s.fail, s.changed = nextState(s.up, s.ok, s.fail, ok, tt.rise, tt.fall)
				if s != tt.want[i] {
					t.Fatalf("after result %d (%v): %+v, want %+v", i, ok, s, tt.want[i])
				}
			}
		})
	}
}

func TestProbe(t *testing.T) {
	rtmpAddr := rtmpServer(t, false)
	rejectAddr := rtmpServer(t, true)
	hungAddr := hungServer(t)
	closedAddr := refusedAddr(t)
	tests := []struct {
		name    string
		typ     string
		addr    string
		wantErr string // "" = healthy
	}{
		{name: "tcp rtmp server", typ: CheckTCP, addr: rtmpAddr},
		{name: "rtmp rtmp server", typ: CheckRTMP, addr: rtmpAddr},
		{name: "tcp closed port", typ: CheckTCP, addr: closedAddr, wantErr: "connection refused"},
		{name: "rtmp closed port", typ: CheckRTMP, addr: closedAddr, wantErr: "connection refused"},
		{name: "tcp hung server is up", typ: CheckTCP, addr: hungAddr},
		{name: "rtmp hung server is down", typ: CheckRTMP, addr: hungAddr, wantErr: "handshake"},
		{name: "rtmp connect rejected", typ: CheckRTMP, addr: rejectAddr, wantErr: "rejected: _error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := &HealthCheck{Address: tt.addr}
			cfg := CheckConfig{Type: tt.typ, Timeout: 300 * time.Millisecond}.WithDefaults()
			err := h.probe(context.Background(), cfg)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("probe: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("probe error %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

// transition is one OnChange call.
type transition struct {
	up     bool
	reason string
}

func runCheck(t *testing.T, cfg CheckConfig, addr string) (<-chan transition, context.CancelFunc) {
	t.Helper()
	changes := make(chan transition, 16)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	h := &HealthCheck{
		Config: cfg, Server: "media-test", Address: addr,
		OnChange: func(up bool, reason string) { changes <- transition{up, reason} },
	}
	go func() { h.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); receive(t, done) })
	return changes, cancel
}

func TestHealthCheckDownThenUp(t *testing.T) {
	ln := listen(t, "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close() // start with the port closed

	changes, _ := runCheck(t, CheckConfig{Interval: 10 * time.Millisecond, Timeout: time.Second, Rise: 2, Fall: 3}, addr)
	down := receive(t, changes)
	if down.up || !strings.Contains(down.reason, "3 consecutive failed tcp checks") || !strings.Contains(down.reason, "refused") {
		t.Fatalf("first transition %+v, want down after 3 refused checks", down)
	}
	ln2, err := net.Listen("tcp", addr) // the server comes back on the same port
	if err != nil {
		t.Skipf("SKIPPED LOUDLY: port %s was taken by someone else meanwhile: %v", addr, err)
	}
	defer ln2.Close()
	go func() {
		for {
			c, err := ln2.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	up := receive(t, changes)
	if !up.up || !strings.Contains(up.reason, "2 consecutive successful tcp checks") {
		t.Fatalf("second transition %+v, want up after 2 successes", up)
	}
	select {
	case extra := <-changes:
		t.Fatalf("unexpected extra transition %+v", extra)
	default:
	}
}

func TestHealthCheckRTMPHungServerGoesDown(t *testing.T) {
	addr := hungServer(t)
	changes, _ := runCheck(t, CheckConfig{Type: CheckRTMP, Interval: 10 * time.Millisecond, Timeout: 50 * time.Millisecond, Fall: 2}, addr)
	down := receive(t, changes)
	if down.up || !strings.Contains(down.reason, "2 consecutive failed rtmp checks") {
		t.Fatalf("transition %+v, want down after 2 failed rtmp checks", down)
	}
}

func TestHealthCheckHealthyServerNoTransition(t *testing.T) {
	addr := rtmpServer(t, false)
	changes, cancel := runCheck(t, CheckConfig{Type: CheckRTMP, Interval: 5 * time.Millisecond, Timeout: time.Second}, addr)
	// Let a number of probes run, then stop: a healthy server that starts up never transitions.
	time.Sleep(200 * time.Millisecond)
	cancel()
	select {
	case c := <-changes:
		t.Fatalf("healthy server transitioned: %+v", c)
	default:
	}
}

func TestHealthCheckNoneReturns(t *testing.T) {
	h := &HealthCheck{Config: CheckConfig{Type: CheckNone}, Address: refusedAddr(t),
		OnChange: func(bool, string) { t.Error("type none must never change state") }}
	done := make(chan struct{})
	go func() { h.Run(context.Background()); close(done) }()
	receive(t, done)
}

func TestCheckConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  CheckConfig
		want []string
	}{
		{name: "zero", cfg: CheckConfig{}},
		{name: "rtmp set", cfg: CheckConfig{Type: "rtmp", Interval: time.Second, Timeout: time.Second, Rise: 1, Fall: 1, App: "live"}},
		{name: "bad type", cfg: CheckConfig{Type: "http"}, want: []string{`type: must be tcp, rtmp or none, got "http"`}},
		{name: "negatives", cfg: CheckConfig{Interval: -1, Timeout: -1, Rise: -1, Fall: -1},
			want: []string{"interval: must not be negative", "timeout: must not be negative", "rise: must not be negative", "fall: must not be negative"}},
		{name: "bad app", cfg: CheckConfig{App: "live/x"}, want: []string{`app: must not contain '/'`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil {
				t.Fatal("Validate accepted an invalid config")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
	got := CheckConfig{}.WithDefaults()
	want := CheckConfig{Type: "tcp", Interval: 2 * time.Second, Timeout: 2 * time.Second, Rise: 2, Fall: 3, App: "live"}
	if got != want {
		t.Errorf("defaults %+v, want %+v", got, want)
	}
}

// TestConnectAppHostileReplies feeds malformed server replies to the rtmp check's reader:
// each must end in an error, never a panic or a hang.
func TestConnectAppHostileReplies(t *testing.T) {
	tests := []struct {
		name  string
		reply []byte
	}{
		{name: "empty", reply: nil},
		{name: "truncated header", reply: []byte{0x02, 0x00}},
		{name: "zero-length message", reply: []byte{0x03, 0, 0, 0, 0, 0, 0, 0x14, 0, 0, 0, 0}},
		{name: "unknown type", reply: []byte{0x03, 0, 0, 0, 0, 0, 1, 0x7f, 0, 0, 0, 0, 0xff}},
		{name: "garbage command", reply: []byte{0x03, 0, 0, 0, 0, 0, 3, 0x14, 0, 0, 0, 0, 0xff, 0xff, 0xff}},
		{name: "endless padding", reply: bytes.Repeat([]byte{0x42, 0, 0, 0, 0, 0, 0, 0x04, 0, 0, 0, 0}, 10000)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := connectApp(context.Background(), bytes.NewReader(tt.reply), io.Discard, "127.0.0.1:1935", "live")
			if err == nil {
				t.Fatal("malformed reply accepted as a successful connect")
			}
		})
	}
}

func FuzzConnectApp(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{0x03, 0, 0, 0, 0, 0, 0, 0x14, 0, 0, 0, 0})
	f.Add([]byte{0x02, 0, 0, 0, 0, 0, 4, 0x01, 0, 0, 0, 0, 0, 0, 0x10, 0})
	f.Add([]byte{0x03, 0, 0, 0, 0, 0, 3, 0x14, 0, 0, 0, 0, 0x02, 0x00, 0x07})
	f.Fuzz(func(t *testing.T, reply []byte) {
		done := make(chan error, 1)
		go func() {
			done <- connectApp(context.Background(), bytes.NewReader(reply), io.Discard, "127.0.0.1:1935", "live")
		}()
		select {
		case err := <-done:
			if err == nil && !bytes.Contains(reply, []byte("_result")) {
				t.Fatalf("success without a _result in %x", reply)
			}
		case <-time.After(waitGuard):
			t.Fatal("connectApp hung on a finite reply")
		}
	})
}

// TestRTMPProbeLeaksNothing: probing a server that accepts and never answers must not leave
// goroutines behind (go-rtmp's ClientConn.Connect would leave one per probe).
func TestRTMPProbeLeaksNothing(t *testing.T) {
	addr := hungServer(t)
	before := runtime.NumGoroutine()
	for range 20 {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		if err := probeRTMP(ctx, addr, "live", ""); err == nil {
			t.Fatal("probe of a hung server succeeded")
		}
		cancel()
	}
	deadline := time.Now().Add(waitGuard)
	for runtime.NumGoroutine() > before+2 {
		if time.Now().After(deadline) {
			t.Fatalf("goroutines %d before, %d after 20 probes", before, runtime.NumGoroutine())
		}
		time.Sleep(10 * time.Millisecond)
	}
}
