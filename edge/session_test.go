package edge

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/yutopp/go-rtmp"
	rtmpmsg "github.com/yutopp/go-rtmp/message"

	"github.com/rtmp-edge/rtmp-edge/routing"
)

func threeServers(t *testing.T) ([]*testBackend, []routing.ServerConfig) {
	b := []*testBackend{startBackend(t, "media01"), startBackend(t, "media02"), startBackend(t, "media03")}
	return b, []routing.ServerConfig{
		{Name: "media01", Address: b[0].addr, Weight: new(10), MaxConn: 200},
		{Name: "media02", Address: b[1].addr, Weight: new(10), MaxConn: 200},
		{Name: "media03", Address: b[2].addr, Weight: new(8), MaxConn: 200, Upload: true},
	}
}

// goClient connects through the edge with go-rtmp, as an encoder or a player would.
func goClient(t *testing.T, addr string, connect rtmpmsg.NetConnectionConnectCommand) *rtmp.ClientConn {
	t.Helper()
	c, err := dialClient(&net.Dialer{Timeout: 5 * time.Second}, addr)
	if err != nil {
		t.Fatalf("dial edge: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	if err := bounded(c, func() error { return c.Connect(&rtmpmsg.NetConnectionConnect{Command: connect}) }); err != nil {
		t.Fatalf("connect through the edge: %v", err)
	}
	return c
}

// clientStep bounds one go-rtmp client step (connect, createStream,
// publish): go-rtmp waits for the server's answer without any timeout, so a
// relay that loses the answer would hang the package until go test's own
// timeout instead of failing the test.
const clientStep = 10 * time.Second

// dialClient dials addr with go-rtmp, whose handshake has no timeout either,
// bounded by clientStep. On timeout the dial's goroutine is left to the
// edge's own handshake timeout, which closes the connection.
func dialClient(d *net.Dialer, addr string) (*rtmp.ClientConn, error) {
	type result struct {
		c   *rtmp.ClientConn
		err error
	}
	done := make(chan result, 1)
	go func() {
		c, err := rtmp.DialWithDialer(d, "rtmp", addr, &rtmp.ConnConfig{})
		done <- result{c, err}
	}()
	select {
	case r := <-done:
		return r.c, r.err
	case <-time.After(clientStep):
		go func() {
			if r := <-done; r.c != nil {
				_ = r.c.Close()
			}
		}()
		return nil, fmt.Errorf("dial and handshake: %w (%s)", errClientStep, clientStep)
	}
}

// errClientStep is returned when a go-rtmp client step got no answer in time.
var errClientStep = errors.New("no answer through the edge in time")

// bounded runs one go-rtmp client step; after clientStep it closes the client
// and returns errClientStep. The step's goroutine may stay blocked inside
// go-rtmp (it has no way to cancel a wait), but the test goes on and fails.
func bounded(c *rtmp.ClientConn, step func() error) error {
	done := make(chan error, 1)
	go func() { done <- step() }()
	select {
	case err := <-done:
		return err
	case <-time.After(clientStep):
		_ = c.Close()
		return fmt.Errorf("%w (%s)", errClientStep, clientStep)
	}
}

var (
	encoderConnect = rtmpmsg.NetConnectionConnectCommand{App: "live", Type: "nonprivate", FlashVer: "FMLE/3.0 (compatible; FMSc/1.0)", TCURL: "rtmp://edge/live"}
	playerConnect  = rtmpmsg.NetConnectionConnectCommand{App: "live", FlashVer: "LNX 9,0,124,2", TCURL: "rtmp://edge/live"}
)

func publish(t *testing.T, c *rtmp.ClientConn, name string) {
	t.Helper()
	var s *rtmp.Stream
	err := bounded(c, func() (err error) {
		s, err = c.CreateStream(nil, 128)
		return err
	})
	if err != nil {
		t.Fatalf("createStream: %v", err)
	}
	if err := bounded(c, func() error {
		return s.Publish(&rtmpmsg.NetStreamPublish{PublishingName: name, PublishingType: "live"})
	}); err != nil {
		t.Fatalf("publish: %v", err)
	}
}

func TestPublishGoesToUploadServerAndIsLogged(t *testing.T) {
	backends, servers := threeServers(t)
	e := startEdge(t, testConfig(servers...))

	c := goClient(t, e.addr, encoderConnect)
	publish(t, c, "demo")
	ev := waitEvent(t, "publish", backends...)
	if ev.server != "media03" || ev.value != "demo" {
		t.Fatalf("publish of demo reached %s (%q), want media03", ev.server, ev.value)
	}
	_ = c.Close()
	rec := e.log.wait(t, "session end", nil)
	want := map[string]any{
		"server": "media03", "kind": "publish", "command": "publish", "stream": "demo",
		"app": "live", "proto": "rtmp", "misrouted": false, "listener": "rtmp",
	}
	for k, v := range want {
		if rec[k] != v {
			t.Errorf("session end %s = %v, want %v (record %v)", k, rec[k], v, rec)
		}
	}
	if n, _ := rec["bytes_in"].(float64); n <= 0 {
		t.Errorf("bytes_in = %v, want > 0", rec["bytes_in"])
	}
}

func TestPublishWithPlayerConnectIsMisrouted(t *testing.T) {
	backends, servers := threeServers(t)
	// The upload server drains, so the player-classified session surely
	// lands on media01.
	servers[2].Drain = true
	e := startEdge(t, testConfig(servers[0], servers[2]))

	c := goClient(t, e.addr, playerConnect) // Flash Player publishes with a player's connect
	publish(t, c, "cam")
	ev := waitEvent(t, "publish", backends...)
	_ = c.Close()
	rec := e.log.wait(t, "session end", nil)
	if ev.server != "media01" {
		t.Fatalf("the publish reached %s, want media01", ev.server)
	}
	if rec["misrouted"] != true || rec["command"] != "publish" || rec["kind"] != "play" {
		t.Fatalf("want a misrouted publish classified as play, got %v", rec)
	}
}

func TestDeadServerIsRetriedInvisibly(t *testing.T) {
	backends, servers := threeServers(t)
	// A port that refuses: listen, take the port, close.
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := ln.Addr().String()
	ln.Close()
	servers[2].Address = dead // the upload server is dead
	e := startEdge(t, testConfig(servers...))

	c := goClient(t, e.addr, encoderConnect)
	publish(t, c, "demo")
	ev := waitEvent(t, "publish", backends[0], backends[1])
	_ = c.Close()
	rec := e.log.wait(t, "session end", nil)
	if rec["server"] != ev.server || rec["attempts"] != float64(2) {
		t.Fatalf("want the publish on %s after 2 attempts, got %v", ev.server, rec)
	}
	e.log.wait(t, "media server failed, trying another", func(r map[string]any) bool { return r["server"] == "media03" })
}

func TestStickySourceAddress(t *testing.T) {
	_, servers := threeServers(t)
	e := startEdge(t, testConfig(servers...))
	for i := 1; i <= 6; i++ {
		src := net.IPv4(127, 0, 3, byte(i))
		var first string
		for round := 0; round < 2; round++ {
			c, err := dialClient(&net.Dialer{LocalAddr: &net.TCPAddr{IP: src}}, e.addr)
			if err != nil {
				t.Fatal(err)
			}
			if err := bounded(c, func() error { return c.Connect(&rtmpmsg.NetConnectionConnect{Command: playerConnect}) }); err != nil {
				t.Fatal(err)
			}
			_ = c.Close()
			rec := e.log.wait(t, "session end", func(r map[string]any) bool {
				return strings.HasPrefix(r["client"].(string), src.String()+":")
			})
			server := rec["server"].(string)
			if round == 0 {
				first = server
			} else if server != first {
				t.Errorf("client %s went to %s, then %s: affinity lost", src, first, server)
			}
		}
	}
}

// ---- hostile clients: each is closed with a reason, a good session goes on ----

// rawHandshake does a simple client handshake by hand and returns the conn
// ready for chunks.
func rawHandshake(t *testing.T, addr string) net.Conn {
	t.Helper()
	c := startHandshake(t, addr)
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	s := make([]byte, 3073)
	if _, err := io.ReadFull(c, s); err != nil {
		t.Fatalf("reading S0S1S2: %v", err)
	}
	if _, err := c.Write(make([]byte, 1536)); err != nil { // C2
		t.Fatal(err)
	}
	return c
}

// chunk0 builds one fmt-0 chunk (the message must fit in 128 bytes).
func chunk0(csid byte, msgType byte, payload []byte) []byte {
	h := []byte{csid & 0x3f, 0, 0, 0, byte(len(payload) >> 16), byte(len(payload) >> 8), byte(len(payload)), msgType, 0, 0, 0, 0}
	return append(h, payload...)
}

func setChunkSize(n uint32) []byte {
	p := make([]byte, 4)
	binary.BigEndian.PutUint32(p, n)
	return chunk0(2, typeSetChunkSize, p)
}

func amfString(s string) []byte {
	b := []byte{2, byte(len(s) >> 8), byte(len(s))}
	return append(b, s...)
}

func amfNumber(f float64) []byte {
	b := make([]byte, 9)
	b[0] = 0
	binary.BigEndian.PutUint64(b[1:], math.Float64bits(f))
	return b
}

func command(name string, obj []byte) []byte {
	var p bytes.Buffer
	p.Write(amfString(name))
	p.Write(amfNumber(1))
	p.Write(obj)
	return chunk0(3, typeCommandAMF0, p.Bytes())
}

// connectObject: {app: "live"}
var connectObject = append(append([]byte{3, 0, 3}, "app"...), append(amfString("live"), 0, 0, 9)...)

func TestHostileClients(t *testing.T) {
	backends, servers := threeServers(t)
	cfg := testConfig(servers...)
	cfg.Listeners[0].HandshakeTimeout = 500 * time.Millisecond
	cfg.Listeners[0].MaxConnect = 4096
	e := startEdge(t, cfg)

	// A good session that must not notice anything.
	good := goClient(t, e.addr, encoderConnect)
	publish(t, good, "good")
	waitEvent(t, "publish", backends...)

	cases := []struct {
		name  string
		label string // the metric label, also in the log line
		send  func(t *testing.T) net.Conn
	}{
		{"wrong C0", "bad_version", func(t *testing.T) net.Conn {
			c, _ := net.Dial("tcp", e.addr)
			c.Write(append([]byte{0x03 + 0x10}, make([]byte, 1536)...))
			return c
		}},
		{"TLS ClientHello", "tls", func(t *testing.T) net.Conn {
			c, _ := net.Dial("tcp", e.addr)
			c.Write([]byte{0x16, 0x03, 0x01, 0x00, 0x10})
			return c
		}},
		{"HTTP on an RTMP-only listener", "not_rtmp", func(t *testing.T) net.Conn {
			c, _ := net.Dial("tcp", e.addr)
			c.Write([]byte("GET / HTTP/1.1\r\n\r\n"))
			return c
		}},
		{"RTMPE C0", "rtmpe", func(t *testing.T) net.Conn {
			c, _ := net.Dial("tcp", e.addr)
			c.Write(append([]byte{0x06}, make([]byte, 1536)...))
			return c
		}},
		{"truncated C0C1", "handshake_eof", func(t *testing.T) net.Conn {
			c, _ := net.Dial("tcp", e.addr)
			c.Write(append([]byte{0x03}, make([]byte, 100)...))
			c.(*net.TCPConn).CloseWrite()
			return c
		}},
		{"stops mid-handshake", "handshake_timeout", func(t *testing.T) net.Conn {
			c, _ := net.Dial("tcp", e.addr)
			c.Write(append([]byte{0x03}, make([]byte, 1000)...))
			return c
		}},
		{"chunk size 0", "bad_chunk_size", func(t *testing.T) net.Conn {
			c := rawHandshake(t, e.addr)
			c.Write(setChunkSize(0))
			return c
		}},
		{"chunk size 0x80000000", "bad_chunk_size", func(t *testing.T) net.Conn {
			c := rawHandshake(t, e.addr)
			c.Write(setChunkSize(0x80000000))
			return c
		}},
		{"connect over the size limit", "connect_too_large", func(t *testing.T) net.Conn {
			c := rawHandshake(t, e.addr)
			c.Write(setChunkSize(65536))
			big := bytes.Repeat([]byte{'x'}, 60000)
			obj := append(append([]byte{3, 0, 3}, "app"...), append(append([]byte{0x0c, 0, 0, 0xea, 0x60}, big...), 0, 0, 9)...)
			var p bytes.Buffer
			p.Write(amfString("connect"))
			p.Write(amfNumber(1))
			p.Write(obj)
			h := []byte{3, 0, 0, 0, byte(p.Len() >> 16), byte(p.Len() >> 8), byte(p.Len()), typeCommandAMF0, 0, 0, 0, 0}
			c.Write(append(h, p.Bytes()...))
			return c
		}},
		{"malformed AMF0", "malformed", func(t *testing.T) net.Conn {
			c := rawHandshake(t, e.addr)
			c.Write(chunk0(3, typeCommandAMF0, []byte{2, 0, 7, 'c', 'o', 'n', 'n', 'e', 'c', 't', 0, 1, 2}))
			return c
		}},
		{"first command is not connect", "not_connect", func(t *testing.T) net.Conn {
			c := rawHandshake(t, e.addr)
			c.Write(setChunkSize(4096)) // protocol control first is fine
			c.Write(command("play", []byte{5}))
			return c
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := tc.send(t)
			defer c.Close()
			rec := e.log.wait(t, "session rejected", func(r map[string]any) bool {
				return r["label"] == tc.label && r["client"] == c.LocalAddr().String()
			})
			if rec["reason"] == "" {
				t.Errorf("no reason in %v", rec)
			}
			// The edge closed the connection.
			// The edge closed the connection (a reset counts: the client's
			// unread bytes make the kernel send one).
			_ = c.SetReadDeadline(time.Now().Add(3 * time.Second))
			if _, err := io.Copy(io.Discard, c); errors.Is(err, os.ErrDeadlineExceeded) {
				t.Errorf("edge did not close the hostile connection: %v", err)
			}
		})
	}
	// The good session is still relayed: a second stream on it goes through.
	publish(t, good, "good2")
	ev := waitEvent(t, "publish", backends...)
	if ev.value != "good2" {
		t.Fatalf("the good session stopped working: got %v", ev)
	}
	if err := good.LastError(); err != nil {
		t.Fatalf("the good session saw an error: %v", err)
	}
}
