package edge

import (
	"errors"
	"fmt"

	"github.com/rtmp-edge/rtmp-edge/edge/amf0"
	"github.com/rtmp-edge/rtmp-edge/edge/chunk"
)

// Reasons a client is closed while its connect is read.
var (
	ErrNotConnect     = errors.New("first command is not connect")
	ErrBadCommand     = errors.New("malformed command")
	ErrConnectTooLong = errors.New("client sent too many bytes before connect")
)

// RTMP message types the edge tells apart before connect.
const (
	typeSetChunkSize  = 1
	typeAbort         = 2
	typeAck           = 3
	typeUserControl   = 4
	typeWindowAckSize = 5
	typeSetPeerBW     = 6
	typeCommandAMF3   = 17
	typeCommandAMF0   = 20
)

// clientStream follows the client→server chunk stream without changing it:
// first until the connect command (the routing input), then, while the bytes
// are relayed, until the first publish or play (what the session really is).
// It sees every byte exactly once, in order.
type clientStream struct {
	scan    *chunk.Scanner
	connect *amf0.Connect
	command *amf0.StreamCommand
	// watchErr is set when the stream stopped making sense to us after
	// connect; the bytes still flow (the media server judges them), we just
	// stop watching.
	watchErr error
	fed      int64
}

func newClientStream() *clientStream {
	return &clientStream{scan: chunk.NewScanner(chunk.Limits{})}
}

// feed parses the next client bytes. Before connect an error means the client
// must be closed; after connect it only ends the watching.
func (cs *clientStream) feed(b []byte) error {
	if cs.watchErr != nil {
		return nil
	}
	cs.fed += int64(len(b))
	err := cs.scan.Feed(b, cs.onMessage)
	if err != nil && cs.connect != nil {
		cs.watchErr = err
		return nil
	}
	return err
}

// watching reports whether the edge still wants to see client bytes.
func (cs *clientStream) watching() bool { return cs.command == nil && cs.watchErr == nil }

// errWatchStopped: the edge stopped watching (publish/play seen, or the
// inspect limits reached).
var errWatchStopped = errors.New("stopped watching")

// stopWatching releases the scanner; feed ignores bytes from then on.
func (cs *clientStream) stopWatching() {
	cs.scan = nil
	if cs.watchErr == nil {
		cs.watchErr = errWatchStopped
	}
}

func (cs *clientStream) onMessage(m chunk.Message) error {
	switch m.Type {
	case typeCommandAMF0, typeCommandAMF3:
		cmd, err := amf0.ParseCommand(m.Payload, m.Type)
		if cs.connect == nil {
			if err != nil {
				return fmt.Errorf("%w: %w", ErrBadCommand, err)
			}
			if cmd.Name != "connect" {
				return fmt.Errorf("%w: got %q", ErrNotConnect, truncate(cmd.Name, 32))
			}
			c, err := amf0.ParseConnect(cmd)
			if err != nil {
				return fmt.Errorf("%w: %w", ErrBadCommand, err)
			}
			cs.connect = &c
			return nil
		}
		if err == nil && cs.command == nil {
			if sc, ok := amf0.ParseStreamCommand(cmd); ok {
				cs.command = &sc
			}
		}
		return nil
	case typeSetChunkSize, typeAbort, typeAck, typeUserControl, typeWindowAckSize, typeSetPeerBW:
		return nil
	default:
		if cs.connect == nil {
			return fmt.Errorf("%w: message type %d came first", ErrNotConnect, m.Type)
		}
		return nil
	}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
