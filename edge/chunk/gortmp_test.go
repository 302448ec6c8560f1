package chunk_test

import (
	"bufio"
	"net"
	"testing"
	"time"

	rtmp "github.com/yutopp/go-rtmp"
	rtmpmsg "github.com/yutopp/go-rtmp/message"

	"github.com/rtmp-edge/rtmp-edge/edge/amf0"
	"github.com/rtmp-edge/rtmp-edge/edge/chunk"
	"github.com/rtmp-edge/rtmp-edge/edge/handshake"
)

// A third client lineage, go-rtmp (what the project's own test and bench
// clients use): its handshake and its connect (a 128-byte-chunked message
// with every player field) go through the three packages the way the edge
// chains them: handshake.Serve, Scanner until connect, ParseConnect.
func TestGoRTMPClientConnect(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()

	type result struct {
		connect amf0.Connect
		err     error
	}
	done := make(chan result, 1)
	go func() {
		var res result
		defer func() { done <- res }()
		conn, err := ln.Accept()
		if err != nil {
			res.err = err
			return
		}
		defer conn.Close()
		conn.SetDeadline(time.Now().Add(5 * time.Second))
		r := bufio.NewReader(conn)
		if _, res.err = handshake.Serve(r, conn); res.err != nil {
			return
		}
		s := chunk.NewScanner(chunk.Limits{})
		found := false
		buf := make([]byte, 4096)
		for !found {
			n, err := r.Read(buf)
			if ferr := s.Feed(buf[:n], func(m chunk.Message) error {
				if m.Type != chunk.TypeCommandAMF0 && m.Type != chunk.TypeCommandAMF3 {
					return nil
				}
				cmd, err := amf0.ParseCommand(m.Payload, m.Type)
				if err != nil {
					return err
				}
				res.connect, err = amf0.ParseConnect(cmd)
				found = true
				return err
			}); ferr != nil {
				res.err = ferr
				return
			}
			if err != nil {
				res.err = err
				return
			}
		}
	}()

	client, err := rtmp.Dial("rtmp", ln.Addr().String(), &rtmp.ConnConfig{})
	if err != nil {
		t.Fatalf("go-rtmp Dial: %v", err)
	}
	defer client.Close()
	tcURL := "rtmp://" + ln.Addr().String() + "/live-app-with-a-long-name?token=0123456789abcdef0123456789abcdef"
	go client.Connect(&rtmpmsg.NetConnectionConnect{Command: rtmpmsg.NetConnectionConnectCommand{
		App: "live-app-with-a-long-name", FlashVer: "LNX 9,0,124,2", TCURL: tcURL, Fpad: false,
		Capabilities: 15, AudioCodecs: 4071, VideoCodecs: 252, VideoFunction: 1, ObjectEncoding: 0,
	}}) // returns an error once the test server closes; only the bytes it sent matter

	select {
	case res := <-done:
		if res.err != nil {
			t.Fatal(res.err)
		}
		want := amf0.Connect{App: "live-app-with-a-long-name", TcURL: tcURL, FlashVer: "LNX 9,0,124,2", TxID: 1}
		if res.connect != want {
			t.Errorf("connect = %+v\nwant      %+v", res.connect, want)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no connect from the go-rtmp client within 10 s")
	}
}
