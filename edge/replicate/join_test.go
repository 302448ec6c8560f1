package replicate

import (
	"bytes"
	"context"
	"net"
	"testing"
	"time"

	"github.com/rtmp-edge/rtmp-edge/edge/amf0"
	"github.com/rtmp-edge/rtmp-edge/edge/chunk"
)

// richConnect is an Enhanced RTMP encoder's connect: the properties a
// replica built its own connect without (swfUrl, pageUrl, objectEncoding,
// fourCcList, capsEx, an encoder's flashVer) and an extra argument.
var (
	richConnect = amf0.Object{
		{Key: "app", Value: "live"},
		{Key: "type", Value: "nonprivate"},
		{Key: "flashVer", Value: "FMLE/3.0 (compatible; Lavf61.7.100)"},
		{Key: "swfUrl", Value: "rtmp://edge.example/live"},
		{Key: "tcUrl", Value: "rtmp://edge.example/live"},
		{Key: "pageUrl", Value: "https://studio.example/go"},
		{Key: "objectEncoding", Value: 0.0},
		{Key: "fourCcList", Value: amf0.StrictArray{"av01", "hvc1", "vp09"}},
		{Key: "capsEx", Value: 1.0},
	}
	richConnectArgs = []amf0.Value{"token-42", amf0.Object{{Key: "room", Value: 7.0}}}
)

// joinServer answers one replica session as a media server does (connect
// _result, createStream _result with stream id 1, Publish.Start) and hands
// back the replica's connect payload and its publish command.
func joinServer(t *testing.T, conn net.Conn) (connect chan []byte, publish chan amf0.Command) {
	connect, publish = make(chan []byte, 1), make(chan amf0.Command, 1)
	go func() {
		w := chunk.NewWriter()
		reply := func(name string, tx float64, obj amf0.Value, sid uint32, args ...amf0.Value) {
			payload, err := amf0.EncodeCommand(name, tx, obj, args...)
			if err != nil {
				t.Error(err)
				return
			}
			_, _ = conn.Write(w.Append(nil, chunk.Message{CSID: 3, Type: chunk.TypeCommandAMF0, StreamID: sid, Payload: payload}))
		}
		scan := chunk.NewScanner(chunk.Limits{})
		buf := make([]byte, 4096)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				return
			}
			_ = scan.Feed(buf[:n], func(m chunk.Message) error {
				if m.Type != chunk.TypeCommandAMF0 {
					return nil
				}
				cmd, err := amf0.ParseCommand(m.Payload, m.Type)
				if err != nil {
					t.Errorf("the replica sent a command that does not parse: %v", err)
					return nil
				}
				switch cmd.Name {
				case "connect":
					connect <- bytes.Clone(m.Payload)
					reply("_result", cmd.TxID, amf0.Object{{Key: "fmsVer", Value: "FMS/3,0,1,123"}}, 0,
						amf0.Object{{Key: "level", Value: "status"}, {Key: "code", Value: "NetConnection.Connect.Success"}})
				case "createStream":
					reply("_result", cmd.TxID, nil, 0, 1.0)
				case "publish":
					publish <- cmd
					reply("onStatus", 0, nil, m.StreamID,
						amf0.Object{{Key: "level", Value: "status"}, {Key: "code", Value: "NetStream.Publish.Start"}})
				}
				return nil
			})
		}
	}()
	return connect, publish
}

// TestReplicaConnectsAsThePublisher: the connect a replica sends is the
// publisher's own, every property and extra argument as sent (only the
// transaction id is the replica's), and it publishes with the publisher's
// publish type, whether both come from the fed bytes or from Options.
func TestReplicaConnectsAsThePublisher(t *testing.T) {
	for _, tc := range []struct {
		name     string
		opts     Options
		fedType  string
		wantType string
	}{
		{name: "from the fed bytes", fedType: "append", wantType: "append"},
		{name: "from Options", opts: Options{Connect: amf0.Command{Object: richConnect, Args: richConnectArgs}, PublishType: "record", Stream: "s"},
			fedType: "live", wantType: "record"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			client, server := net.Pipe()
			t.Cleanup(func() { client.Close(); server.Close() })
			connect, publish := joinServer(t, server)
			opts := tc.opts
			opts.Config = Config{Backoff: time.Hour}
			opts.Logger = testLogger(t)
			dialed := false
			opts.Dial = func(ctx context.Context, _ string) (net.Conn, error) {
				if dialed {
					<-ctx.Done()
					return nil, ctx.Err()
				}
				dialed = true
				return client, nil
			}
			p := New(opts)
			t.Cleanup(func() { p.Close() })

			src := &publisher{w: chunk.NewWriter()}
			src.command(t, 0, "connect", 1, richConnect, richConnectArgs...)
			src.command(t, 0, "createStream", 2, nil)
			src.command(t, 1, "publish", 3, nil, "s", tc.fedType)
			p.Feed(src.b)
			p.Add("media01")

			var got []byte
			select {
			case got = <-connect:
			case <-time.After(10 * time.Second):
				t.Fatalf("no connect from the replica: %+v", p.Replicas())
			}
			want, err := amf0.EncodeCommand("connect", txConnect, richConnect, richConnectArgs...)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				cmd, _ := amf0.ParseCommand(got, chunk.TypeCommandAMF0)
				t.Errorf("the replica's connect is not the publisher's:\n got %+v %+v\nwant %+v %+v", cmd.Object, cmd.Args, richConnect, richConnectArgs)
			}
			select {
			case cmd := <-publish:
				if sc, ok := amf0.ParseStreamCommand(cmd); !ok || sc.Stream != "s" || sc.PublishType != tc.wantType {
					t.Errorf("the replica's publish: %+v, want stream s type %q", sc, tc.wantType)
				}
			case <-time.After(10 * time.Second):
				t.Fatalf("no publish from the replica: %+v", p.Replicas())
			}
			waitReplica(t, p, "media01", "live", func(ri ReplicaInfo) bool { return ri.State == StateLive }, 10*time.Second)
		})
	}
}
