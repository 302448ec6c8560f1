package rtmpraw

import (
	"errors"
	"net"
	"testing"
	"time"
)

// serveOne accepts one connection and runs the server side of a session.
func serveOne(t *testing.T, ln net.Listener, chunkSize int) <-chan Request {
	t.Helper()
	out := make(chan Request, 1)
	go func() {
		defer close(out)
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		sc := NewConn(c)
		sc.ChunkSize = chunkSize
		if err := sc.ServerHandshake(); err != nil {
			t.Errorf("server handshake: %v", err)
			return
		}
		req, err := sc.AcceptSession()
		if err != nil {
			t.Errorf("accept session: %v", err)
			return
		}
		out <- req
		if !req.Publish { // a player gets one video message
			_ = sc.WriteMedia(TypeVideo, 0, req.StreamID, []byte{0x17, 1, 0, 0, 0})
		}
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		for {
			if _, err := sc.ReadMessage(); err != nil {
				return
			}
		}
	}()
	return out
}

func TestClientServerSession(t *testing.T) {
	for _, tt := range []struct {
		name                  string
		publish               bool
		clientChunk, srvChunk int
	}{
		{"publish, big chunks both ways", true, 60000, 4096},
		{"play, default chunks", false, 128, 128},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			reqs := serveOne(t, ln, tt.srvChunk)
			nc, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			c := NewConn(nc)
			defer c.Close()
			c.ChunkSize = tt.clientChunk
			c.Timeout = 5 * time.Second
			if err := c.ClientHandshake(); err != nil {
				t.Fatal(err)
			}
			if err := c.Connect(ConnectParams{App: "live", TCURL: "rtmp://x/live", FlashVer: "FMLE/3.0"}); err != nil {
				t.Fatal(err)
			}
			sid, err := c.CreateStream()
			if err != nil || sid != 1 {
				t.Fatalf("createStream = %d, %v", sid, err)
			}
			if tt.publish {
				err = c.Publish(sid, "demo?key=1")
			} else {
				err = c.Play(sid, "demo")
			}
			if err != nil {
				t.Fatal(err)
			}
			req := <-reqs
			if req.Publish != tt.publish || req.App != "live" || req.Stream != "demo" || req.StreamID != sid {
				t.Errorf("server saw %+v", req)
			}
			if !tt.publish {
				_ = nc.SetReadDeadline(time.Now().Add(5 * time.Second))
				for c.MediaMessages == 0 {
					if _, err := c.ReadMessage(); err != nil {
						t.Fatalf("player read: %v", err)
					}
				}
			}
		})
	}
}

// A server that answers connect with _error makes Connect fail with ErrConnectRejected.
func TestConnectRejected(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		sc := NewConn(c)
		if sc.ServerHandshake() != nil {
			return
		}
		_ = sc.await(func(m Message) (bool, error) {
			cmd, ok := parseCommand(m)
			if ok && cmd.name == "connect" {
				return true, sc.writeCommand(CSIDCommand, 0, "_error", cmd.tid, nil,
					[]Prop{{"level", "error"}, {"code", "NetConnection.Connect.Rejected"}})
			}
			return false, nil
		})
		time.Sleep(100 * time.Millisecond)
	}()
	nc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c := NewConn(nc)
	defer c.Close()
	if err := c.ClientHandshake(); err != nil {
		t.Fatal(err)
	}
	if err := c.Connect(ConnectParams{App: "live"}); !errors.Is(err, ErrConnectRejected) {
		t.Errorf("Connect = %v, want ErrConnectRejected", err)
	}
}

func TestHandshakeRejectsBadVersion(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	go func() { _, _ = a.Write(make([]byte, 1+handshakeSize)) }() // version 0
	if err := ServerHandshake(b); !errors.Is(err, ErrBadVersion) {
		t.Errorf("err = %v, want ErrBadVersion", err)
	}
}
