package mediaserver

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/yutopp/go-rtmp"
	"github.com/yutopp/go-rtmp/handshake"
	"github.com/yutopp/go-rtmp/message"
)

var quietLog = slog.New(slog.DiscardHandler)

// dialFrom connects a go-rtmp client from a chosen 127.x source address.
func dialFrom(t *testing.T, src, addr string) *rtmp.ClientConn {
	t.Helper()
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 5 * time.Second}
	cc, err := rtmp.DialWithDialer(d, "rtmp", addr, &rtmp.ConnConfig{})
	if err != nil {
		t.Fatalf("dial from %s: %v", src, err)
	}
	t.Cleanup(func() { _ = cc.Close() })
	return cc
}

// publishFrom connects from src and publishes app/stream with go-rtmp.
func publishFrom(t *testing.T, src, addr, app, stream string) *rtmp.ClientConn {
	t.Helper()
	cc := dialFrom(t, src, addr)
	if err := cc.Connect(&message.NetConnectionConnect{Command: message.NetConnectionConnectCommand{
		App: app, TCURL: "rtmp://" + addr + "/" + app, FlashVer: "FMLE/3.0",
	}}); err != nil {
		t.Fatalf("connect: %v", err)
	}
	st, err := cc.CreateStream(nil, 0)
	if err != nil {
		t.Fatalf("createStream: %v", err)
	}
	if err := st.Publish(&message.NetStreamPublish{PublishingName: stream, PublishingType: "live"}); err != nil {
		t.Fatalf("publish: %v", err)
	}
	return cc
}

func TestClientsShowAddressAppAndStream(t *testing.T) {
	s, addr := startServer(t, Config{Logger: quietLog})
	idle, err := net.DialTCP("tcp", &net.TCPAddr{IP: net.ParseIP("127.0.0.7")}, mustResolve(t, addr))
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	pub := publishFrom(t, "127.0.0.5", addr, "live", "cam?token=1")
	waitFor(t, "the publisher", publisherOn(s, "live", "cam"))

	got := s.Clients()
	if len(got) != 2 {
		t.Fatalf("Clients() = %+v, want 2 clients", got)
	}
	if h, _, _ := net.SplitHostPort(got[0].Addr); h != "127.0.0.5" || got[0].App != "live" || got[0].Stream != "cam" || !got[0].Publishing {
		t.Errorf("publisher = %+v, want 127.0.0.5 live/cam publishing", got[0])
	}
	if h, _, _ := net.SplitHostPort(got[1].Addr); h != "127.0.0.7" || got[1].App != "" || got[1].Publishing {
		t.Errorf("idle client = %+v, want 127.0.0.7 without app", got[1])
	}

	_ = pub.Close()
	_ = idle.Close()
	waitFor(t, "both clients to be gone", func() bool { return len(s.Clients()) == 0 })
}

func TestSecondPublisherIsRefused(t *testing.T) {
	s, addr := startServer(t, Config{Logger: quietLog})
	publishFrom(t, "127.0.0.5", addr, "live", "one")
	waitFor(t, "the first publisher", publisherOn(s, "live", "one"))
	second := publishFrom(t, "127.0.0.6", addr, "live", "one")
	// go-rtmp answers Publish.Failed and closes the second connection.
	waitFor(t, "the second publisher to be dropped", func() bool {
		for _, c := range s.Clients() {
			if strings.HasPrefix(c.Addr, "127.0.0.6:") {
				return false
			}
		}
		return true
	})
	_ = second
	if !publisherOn(s, "live", "one")() {
		t.Error("the first publisher was dropped too")
	}
}

func mustResolve(t *testing.T, addr string) *net.TCPAddr {
	t.Helper()
	a, err := net.ResolveTCPAddr("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// A zero-length message makes go-rtmp panic("invalid state"); the server must
// drop that one connection and go on serving the others.
func TestZeroLengthMessageDropsOnlyThatClient(t *testing.T) {
	s, addr := startServer(t, Config{Logger: quietLog})
	publishFrom(t, "127.0.0.5", addr, "live", "keep")
	waitFor(t, "the publisher", publisherOn(s, "live", "keep"))

	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := handshake.HandshakeWithServer(c, c, &handshake.Config{}); err != nil {
		t.Fatalf("handshake: %v", err)
	}
	// fmt 0, csid 3, timestamp 0, length 0, type 20 (AMF0 command), stream 0.
	if _, err := c.Write([]byte{0x03, 0, 0, 0, 0, 0, 0, 20, 0, 0, 0, 0}); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.Copy(io.Discard, c); err != nil {
		t.Fatalf("server did not close the hostile connection: %v", err)
	}
	if !publisherOn(s, "live", "keep")() {
		t.Error("the other client was dropped too")
	}
	publishFrom(t, "127.0.0.6", addr, "live", "after")
	waitFor(t, "a new publisher after the hostile client", publisherOn(s, "live", "after"))
}

// flakyListener fails Accept with a temporary error a few times, then reports
// itself closed, counting the calls.
type flakyListener struct {
	net.Listener
	failures int
	calls    atomic.Int32
}

type tempErr struct{}

func (tempErr) Error() string   { return "accept: too many open files" }
func (tempErr) Timeout() bool   { return false }
func (tempErr) Temporary() bool { return true }

func (l *flakyListener) Accept() (net.Conn, error) {
	if int(l.calls.Add(1)) <= l.failures {
		return nil, tempErr{}
	}
	return nil, net.ErrClosed
}

func TestServeRetriesAcceptErrorsThenStops(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	fl := &flakyListener{Listener: ln, failures: 3}
	s := New(Config{Logger: quietLog})
	defer s.Close()
	done := make(chan error, 1)
	go func() { done <- s.Serve(fl) }()
	select {
	case err := <-done:
		if !errors.Is(err, net.ErrClosed) {
			t.Errorf("Serve = %v, want net.ErrClosed", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return when its listener was closed under it")
	}
	if n := fl.calls.Load(); n != 4 {
		t.Errorf("Accept called %d times, want 4 (3 retried errors, then closed)", n)
	}
}

func TestCloseBeforeServe(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := New(Config{Logger: quietLog})
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(ln) }()
	// Serve must not hang on a closed server: a connection attempt wakes Accept.
	if c, err := net.Dial("tcp", ln.Addr().String()); err == nil {
		c.Close()
	}
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Serve after Close = %v, want nil", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return on a closed server")
	}
}

// startServerWith runs a Server with shortened client timeouts.
func startServerWith(t *testing.T, to timeouts) (*Server, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := New(Config{Logger: quietLog})
	s.to = to
	go func() { _ = s.Serve(ln) }()
	t.Cleanup(func() { _ = s.Close() })
	return s, ln.Addr().String()
}

func TestSilentClientsAreDropped(t *testing.T) {
	short := 300 * time.Millisecond
	t.Run("no handshake", func(t *testing.T) {
		_, addr := startServerWith(t, timeouts{handshake: short, publishIdle: time.Minute, write: time.Minute})
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, err := io.Copy(io.Discard, c); err != nil {
			t.Fatalf("silent client was not dropped: %v", err)
		}
	})
	t.Run("publisher that sends nothing", func(t *testing.T) {
		s, addr := startServerWith(t, timeouts{handshake: time.Minute, publishIdle: short, write: time.Minute})
		publishFrom(t, "127.0.0.5", addr, "live", "quiet")
		waitFor(t, "the publisher", publisherOn(s, "live", "quiet"))
		waitFor(t, "the idle publisher to be dropped", func() bool { return len(s.Clients()) == 0 })
	})
}

// A client that never publishes cannot make go-rtmp buffer without bound: it
// starts a 16 MiB message and streams its body; the server must drop it.
func TestNonPublisherReadBudget(t *testing.T) {
	// The handshake deadline must not be what ends the client.
	_, addr := startServerWith(t, timeouts{handshake: time.Minute, publishIdle: time.Minute, write: time.Minute})
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := handshake.HandshakeWithServer(c, c, &handshake.Config{}); err != nil {
		t.Fatalf("handshake: %v", err)
	}
	// fmt 0, csid 4, length 0xffffff, type 18 (data), stream 0; then 128-byte chunks.
	first := append([]byte{0x04, 0, 0, 0, 0xff, 0xff, 0xff, 18, 0, 0, 0, 0}, make([]byte, 128)...)
	if _, err := c.Write(first); err != nil {
		t.Fatal(err)
	}
	chunk := append([]byte{0xc4}, make([]byte, 128)...)
	burst := bytes.Repeat(chunk, 1024) // 129 KiB
	dropped := false
	for sent := 0; sent < 2*nonPublisherBudget; sent += len(burst) {
		_ = c.SetWriteDeadline(time.Now().Add(10 * time.Second))
		if _, err := c.Write(burst); err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatal("server stopped reading but kept the client")
			}
			dropped = true
			break
		}
	}
	if !dropped {
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		_, err := io.Copy(io.Discard, c) // EOF (nil) or a reset: closed; a timeout: kept
		if errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("server kept a client that sent %d bytes without publishing", 2*nonPublisherBudget)
		}
	}
}
