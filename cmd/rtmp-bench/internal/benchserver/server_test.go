package benchserver

import (
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/rtmp-edge/rtmp-edge/cmd/rtmp-bench/internal/rtmpraw"
)

func start(t *testing.T, cfg Config) (*Server, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Logger = slog.New(slog.DiscardHandler)
	s := New(cfg)
	served := make(chan error, 1)
	go func() { served <- s.Serve(ln) }()
	t.Cleanup(func() {
		_ = s.Close()
		if err := <-served; err != nil {
			t.Errorf("Serve after Close = %v, want nil", err)
		}
	})
	return s, ln.Addr().String()
}

// expectClosed waits for the server to close c.
func expectClosed(t *testing.T, c net.Conn) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.Copy(io.Discard, c); err != nil {
		t.Fatalf("server did not close the connection: %v", err)
	}
}

func TestHostileClientsAreClosed(t *testing.T) {
	for _, tt := range []struct {
		name string
		send []byte
	}{
		{"silent client times out", nil},
		{"wrong version", append([]byte{6}, make([]byte, 1536)...)},
		{"HTTP instead of RTMP", []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n")},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s, addr := start(t, Config{Timeout: 300 * time.Millisecond})
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if _, err := c.Write(tt.send); err != nil {
				t.Fatal(err)
			}
			expectClosed(t, c)
			// The server still serves.
			pub := dialSession(t, addr)
			if err := pub.Publish(1, "after"); err != nil {
				t.Fatalf("publish after the hostile client: %v", err)
			}
			deadline := time.Now().Add(5 * time.Second)
			for s.Stats().Sessions != 1 {
				if time.Now().After(deadline) {
					t.Fatalf("sessions = %d, want 1", s.Stats().Sessions)
				}
				time.Sleep(10 * time.Millisecond)
			}
		})
	}
}

func dialSession(t *testing.T, addr string) *rtmpraw.Conn {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c := rtmpraw.NewConn(nc)
	t.Cleanup(func() { _ = c.Close() })
	if err := c.ClientHandshake(); err != nil {
		t.Fatal(err)
	}
	if err := c.Connect(rtmpraw.ConnectParams{App: "live"}); err != nil {
		t.Fatal(err)
	}
	if sid, err := c.CreateStream(); err != nil || sid != 1 {
		t.Fatalf("createStream = %d, %v", sid, err)
	}
	return c
}

func TestMaxConnsRefusesExtraConnections(t *testing.T) {
	s, addr := start(t, Config{MaxConns: 1})
	first := dialSession(t, addr)
	if err := first.Publish(1, "one"); err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	expectClosed(t, c)
	// The server counts the session once its Publish.Start is written, a moment after the client read it.
	deadline := time.Now().Add(5 * time.Second)
	for st := s.Stats(); st.Conns != 1 || st.Publishing != 1; st = s.Stats() {
		if time.Now().After(deadline) {
			t.Fatalf("stats %+v, want 1 connection publishing", st)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestSinkPlayersGetNothingSourcePlayersGetMedia(t *testing.T) {
	for _, source := range []bool{false, true} {
		_, addr := start(t, Config{Source: source, Bitrate: 1_000_000})
		p := dialSession(t, addr)
		if err := p.Play(1, "x"); err != nil {
			t.Fatal(err)
		}
		_ = p.NetConn().SetReadDeadline(time.Now().Add(500 * time.Millisecond))
		for {
			if _, err := p.ReadMessage(); err != nil {
				break
			}
		}
		if got := p.MediaMessages > 0; got != source {
			t.Errorf("source=%v: player got %d media messages", source, p.MediaMessages)
		}
	}
}

func TestCloseClosesSessions(t *testing.T) {
	s, addr := start(t, Config{})
	p := dialSession(t, addr)
	if err := p.Publish(1, "x"); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	expectClosed(t, p.NetConn())
	if st := s.Stats(); st.Conns != 0 {
		t.Errorf("%d connections left after Close", st.Conns)
	}
}
