package integration

import (
	"crypto/rand"
	"errors"
	"io"
	"net"
	"os"
	"regexp"
	"testing"
	"time"

	"github.com/rtmp-edge/rtmp-edge/integration/harness"
)

// hostileCase is one bad client. send misbehaves on an open connection; reason is
// what the edge's "session rejected" line must say (case-insensitive regexp on
// its "reason" field).
type hostileCase struct {
	name   string
	send   func(t *testing.T, conn *net.TCPConn)
	reason string
}

// TestHostileClients runs each bad client against one running edge (handshake
// timeout 2s) while a good Go player streams through it. Each bad client must be
// closed by the edge with a "session rejected" line naming the reason, and the
// good player must keep receiving.
func TestHostileClients(t *testing.T) {
	t.Parallel()
	c := startCluster(t, clusterOptions{servers: 1, handshakeTimeout: "2s"})
	flv := harness.MakeTestStream(t, 4)
	harness.Publish(t, url("rtmp", c.media["media03"].Opts.RTMPAddr, "good"), flv)
	c.media["media03"].WaitStat(t, "publisher of good", hasPublisher("good"), 20*time.Second)
	good := harness.StartPlayer(t, harness.PlayerOptions{Addr: c.rtmp, LocalIP: harness.ClientIP(50, 1), Stream: "good"})
	if err := good.WaitPackets(20, 15*time.Second); err != nil {
		t.Fatal(err)
	}

	cases := []hostileCase{
		{"WrongC0", func(t *testing.T, conn *net.TCPConn) {
			write(t, conn, append([]byte{0x01}, randomBytes(1536)...))
		}, `version`},
		{"TruncatedC0C1", func(t *testing.T, conn *net.TCPConn) {
			write(t, conn, harness.C0C1()[:700])
			_ = conn.CloseWrite()
		}, `eof|truncat|short`},
		{"StallMidHandshake", func(t *testing.T, conn *net.TCPConn) {
			write(t, conn, harness.C0C1())
			readN(t, conn, 1+2*1536) // S0S1S2, then never C2
		}, `timeout|deadline`},
		{"ChunkSizeZero", func(t *testing.T, conn *net.TCPConn) {
			handshake(t, conn)
			write(t, conn, harness.SetChunkSizeMsg(0))
		}, `chunk size`},
		{"ChunkSize2pow31", func(t *testing.T, conn *net.TCPConn) {
			handshake(t, conn)
			write(t, conn, harness.SetChunkSizeMsg(0x80000000))
		}, `chunk size`},
		{"ConnectOverSizeLimit", func(t *testing.T, conn *net.TCPConn) {
			handshake(t, conn)
			big := harness.AMF0("connect", 1.0, harness.AMFObject{
				"app": "live", "a": string(make([]byte, 60000)), "b": string(make([]byte, 60000)),
			})
			// The edge may close as soon as it sees the length: later writes may fail.
			writeLoose(conn, append(harness.SetChunkSizeMsg(4096), harness.Chunk(3, harness.TypeCommandAMF0, 0, big, 4096, -1)...))
		}, `too large|too long|too many|limit`},
		{"MalformedAMF0", func(t *testing.T, conn *net.TCPConn) {
			handshake(t, conn)
			// "connect", 1.0, then an object whose first key claims 255 bytes and has 1.
			body := append(harness.AMF0("connect", 1.0), 0x03, 0x00, 0xff, 'a')
			write(t, conn, harness.Chunk(3, harness.TypeCommandAMF0, 0, body, 128, -1))
		}, `malformed|amf|decode|invalid`},
		{"FirstCommandNotConnect", func(t *testing.T, conn *net.TCPConn) {
			handshake(t, conn)
			write(t, conn, append(harness.SetChunkSizeMsg(4096), harness.Command(0, 4096, "createStream", 2, nil)...))
		}, `not connect|expected connect`},
		{"RTMPE", func(t *testing.T, conn *net.TCPConn) {
			write(t, conn, append([]byte{0x06}, randomBytes(1536)...))
		}, `rtmpe|encrypt`},
	}
	for i, hc := range cases {
		t.Run(hc.name, func(t *testing.T) {
			conn := dialFrom(t, harness.ClientIP(51, i+1), c.rtmp)
			hc.send(t, conn)
			waitClosed(t, conn, 15*time.Second)
			l := c.edge.WaitLog(t, func(l harness.LogLine) bool {
				return l.Msg() == "session rejected" && l.Str("client") == conn.LocalAddr().String()
			}, 10*time.Second)
			t.Logf("rejected: reason %q, label %q", l.Str("reason"), l.Str("label"))
			if !regexp.MustCompile(`(?i)` + hc.reason).MatchString(l.Str("reason")) {
				t.Errorf("reason %q (label %q) does not match /%s/", l.Str("reason"), l.Str("label"), hc.reason)
			}
		})
	}

	rejected, err := c.edge.MetricSum("rtmp_edge_rejected_total", map[string]string{"listener": "rtmp"})
	if err != nil {
		t.Fatal(err)
	}
	// StartEdge's readiness probes are rejected too, hence "at least".
	if rejected < float64(len(cases)) {
		t.Errorf("rtmp_edge_rejected_total{listener=\"rtmp\"} = %v, want at least %d", rejected, len(cases))
	}

	if err := good.WaitPackets(25, 15*time.Second); err != nil {
		t.Fatalf("good player during the hostile clients: %v", err)
	}
	if err := good.Err(); err != nil {
		t.Fatalf("good player ended: %v", err)
	}
	// And the edge still takes new clients.
	fresh := harness.StartPlayer(t, harness.PlayerOptions{Addr: c.rtmp, LocalIP: harness.ClientIP(50, 2), Stream: "good"})
	if err := fresh.WaitPackets(10, 15*time.Second); err != nil {
		t.Fatalf("new player after the hostile clients: %v", err)
	}
}

func dialFrom(t *testing.T, ip, addr string) *net.TCPConn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial %s from %s: %v", addr, ip, err)
	}
	t.Cleanup(func() { c.Close() })
	return c.(*net.TCPConn)
}

func write(t *testing.T, conn net.Conn, b []byte) {
	t.Helper()
	_ = conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if _, err := conn.Write(b); err != nil {
		t.Fatalf("write %d bytes: %v", len(b), err)
	}
}

func writeLoose(conn net.Conn, b []byte) {
	_ = conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
	_, _ = conn.Write(b)
}

func readN(t *testing.T, conn net.Conn, n int) {
	t.Helper()
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(conn, make([]byte, n)); err != nil {
		t.Fatalf("read %d bytes: %v", n, err)
	}
}

func handshake(t *testing.T, conn net.Conn) {
	t.Helper()
	if err := harness.ClientHandshake(conn, time.Now().Add(5*time.Second)); err != nil {
		t.Fatal(err)
	}
}

// waitClosed reads (and drops) until the edge closes the connection; it fails
// the test if the connection is still open after timeout.
func waitClosed(t *testing.T, conn net.Conn, timeout time.Duration) {
	t.Helper()
	_ = conn.SetReadDeadline(time.Now().Add(timeout))
	buf := make([]byte, 4096)
	for {
		_, err := conn.Read(buf)
		if err == nil {
			continue
		}
		if errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("the edge did not close the connection within %s", timeout)
		}
		return // EOF or reset: closed
	}
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

// Address blocks of TestHostileCommandClients.
const (
	blockHostileCmdGood = 190
	blockHostileCmd     = 191
)

// TestHostileCommandClients: with route: command the edge itself answers a
// client from its connect until its publish or play, so a client that never
// gets there is the edge's to bound. Each bad client below must be closed by
// the edge with a "session rejected" line naming the limit it hit, counted in
// rtmp_edge_rejected_total by that label, while a good player routed on its
// play goes on receiving.
func TestHostileCommandClients(t *testing.T) {
	t.Parallel()
	c := startFaultCluster(t, faultOptions{upload: true, backend: "route: command", listener: ", inspect_time: 3s"})
	flv := harness.MakeTestStream(t, 4)
	harness.Publish(t, url("rtmp", c.media["media01"].Opts.RTMPAddr, "good"), flv)
	for _, n := range c.media {
		n.WaitStat(t, "publisher of good", hasPublisher("good"), 20*time.Second)
	}
	good := harness.StartPlayer(t, harness.PlayerOptions{Addr: c.rtmp, LocalIP: harness.ClientIP(blockHostileCmdGood, 1), Stream: "good"})
	if err := good.WaitPackets(20, 15*time.Second); err != nil {
		t.Fatal(err)
	}
	connect := func(t *testing.T, conn *net.TCPConn) {
		handshake(t, conn)
		write(t, conn, append(harness.SetChunkSizeMsg(4096), harness.ConnectCommand(4096, "live", "rtmp://"+c.rtmp+"/live", "LNX 9,0,124,2")...))
	}
	type cmdCase struct {
		hostileCase
		label string // the rejection's metric label
	}
	cases := []cmdCase{
		// Connected, answered, and then nothing: the slot is held until
		// inspect_time, not for ever.
		{hostileCase{"ConnectThenSilence", func(t *testing.T, conn *net.TCPConn) {
			connect(t, conn)
		}, `no publish or play|timeout`}, "command_timeout"},
		// A command that never completes: its declared length is not waited for.
		{hostileCase{"ConnectThenPartialCommand", func(t *testing.T, conn *net.TCPConn) {
			connect(t, conn)
			body := harness.AMF0("createStream", 2.0, nil, string(make([]byte, 3000)))
			write(t, conn, harness.Chunk(3, harness.TypeCommandAMF0, 0, body, 4096, -1)[:40])
		}, `no publish or play|timeout`}, "command_timeout"},
		// Many small commands, each of which the edge would answer.
		{hostileCase{"CommandFlood", func(t *testing.T, conn *net.TCPConn) {
			connect(t, conn)
			var b []byte
			for i := range 200 {
				b = append(b, harness.Command(0, 4096, "createStream", float64(i+2), nil)...)
			}
			writeLoose(conn, b)
		}, `too many`}, "command_too_long"},
		// Few messages but many bytes: every recorded byte is replayed later,
		// so the record is bounded too.
		{hostileCase{"CommandBytesFlood", func(t *testing.T, conn *net.TCPConn) {
			connect(t, conn)
			var b []byte
			for i := range 20 {
				b = append(b, harness.Command(0, 4096, "FCPublish", float64(i+2), nil, string(make([]byte, 4000)))...)
			}
			writeLoose(conn, b)
		}, `more than|too large|too long`}, "command_too_long"},
		// Media before any publish: nothing to route on. Media messages are
		// not commands (the message count leaves them out), but their bytes
		// are recorded for the replay, so the byte bound ends them.
		{hostileCase{"MediaBeforePublish", func(t *testing.T, conn *net.TCPConn) {
			connect(t, conn)
			var b []byte
			for range 5000 {
				b = append(b, harness.Chunk(6, 8, 1, []byte{0xaf, 0x01, 0x21, 0x10}, 4096, -1)...)
			}
			writeLoose(conn, b)
		}, `more than|too large|too long`}, "command_too_long"},
		// Play before connect.
		{hostileCase{"PlayBeforeConnect", func(t *testing.T, conn *net.TCPConn) {
			handshake(t, conn)
			write(t, conn, harness.Command(1, 128, "play", 2, nil, "good"))
		}, `not connect|expected connect`}, "not_connect"},
	}
	before := map[string]float64{}
	for _, hc := range cases {
		if _, ok := before[hc.label]; !ok {
			v, err := c.edge.MetricSum("rtmp_edge_rejected_total", map[string]string{"listener": "rtmp", "reason": hc.label})
			if err != nil {
				t.Fatal(err)
			}
			before[hc.label] = v
		}
	}
	want := map[string]float64{}
	for i, hc := range cases {
		t.Run(hc.name, func(t *testing.T) {
			conn := dialFrom(t, harness.ClientIP(blockHostileCmd, i+1), c.rtmp)
			hc.send(t, conn)
			waitClosed(t, conn, 15*time.Second)
			l := c.edge.WaitLog(t, func(l harness.LogLine) bool {
				return l.Msg() == "session rejected" && l.Str("client") == conn.LocalAddr().String()
			}, 10*time.Second)
			t.Logf("rejected: reason %q, label %q", l.Str("reason"), l.Str("label"))
			if !regexp.MustCompile(`(?i)` + hc.reason).MatchString(l.Str("reason")) {
				t.Errorf("reason %q (label %q) does not match /%s/", l.Str("reason"), l.Str("label"), hc.reason)
			}
		})
		want[hc.label]++
	}
	for label, n := range want {
		after, err := c.edge.MetricSum("rtmp_edge_rejected_total", map[string]string{"listener": "rtmp", "reason": label})
		if err != nil {
			t.Fatal(err)
		}
		if after-before[label] < n {
			t.Errorf("rtmp_edge_rejected_total{reason=%q} grew by %v, want at least %v", label, after-before[label], n)
		}
	}
	if err := good.Mark().Wait(10, 15*time.Second); err != nil {
		t.Fatalf("good player during the hostile clients: %v", err)
	}
	if err := good.Err(); err != nil {
		t.Fatalf("good player ended: %v", err)
	}
}
