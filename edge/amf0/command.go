package amf0

import "fmt"

// RTMP command message types.
const (
	TypeCommandAMF3 uint8 = 17
	TypeCommandAMF0 uint8 = 20
)

// Command is a decoded command message: name, transaction ID, command
// object and the remaining arguments.
type Command struct {
	Name string
	TxID float64
	// Object is the command object: the third value when it is an object
	// or an ECMA array (as properties), nil when it is null, absent or of
	// another type.
	Object Object
	// Args are the values after the command object (user arguments of
	// connect; the stream name and type of publish/play).
	Args []Value
}

// ParseCommand decodes a command message payload with the default Limits.
// msgType 20 is AMF0; 17 (AMF3 command) is one leading byte (0x00), skipped
// whatever its value as nginx-rtmp and Red5 do, then AMF0 values.
func ParseCommand(payload []byte, msgType uint8) (Command, error) {
	switch msgType {
	case TypeCommandAMF0:
	case TypeCommandAMF3:
		if len(payload) == 0 {
			return Command{}, fmt.Errorf("%w: empty AMF3 command", ErrMalformed)
		}
		payload = payload[1:]
	default:
		return Command{}, fmt.Errorf("%w: message type %d is not a command", ErrMalformed, msgType)
	}
	vals, err := Decode(payload, Limits{})
	if err != nil {
		return Command{}, fmt.Errorf("decoding command: %w", err)
	}
	var cmd Command
	if len(vals) < 2 {
		return Command{}, fmt.Errorf("%w: command has %d values, want a name and a transaction ID", ErrMalformed, len(vals))
	}
	var ok bool
	if cmd.Name, ok = vals[0].(string); !ok {
		return Command{}, fmt.Errorf("%w: command name is a %T, not a string", ErrMalformed, vals[0])
	}
	if cmd.TxID, ok = vals[1].(float64); !ok {
		return Command{}, fmt.Errorf("%w: transaction ID of %q is a %T, not a number", ErrMalformed, cmd.Name, vals[1])
	}
	if len(vals) > 2 {
		switch o := vals[2].(type) {
		case Object:
			cmd.Object = o
		case ECMAArray:
			cmd.Object = Object(o)
		}
	}
	if len(vals) > 3 {
		cmd.Args = vals[3:]
	}
	return cmd, nil
}

// Connect holds the connect command fields the edge routes and logs on.
type Connect struct {
	App, TcURL, FlashVer, Type, SwfURL, PageURL string
	ObjectEncoding                              float64
	TxID                                        float64
}

// ParseConnect reads the connect command's object. Property names are
// case-sensitive, as clients send them and nginx-rtmp reads them (app,
// tcUrl, flashVer, type, swfUrl, pageUrl, objectEncoding); values of
// another type than expected (e.g. swfUrl: null) are ignored.
func ParseConnect(cmd Command) (Connect, error) {
	if cmd.Name != "connect" {
		return Connect{}, fmt.Errorf("%w: got %q", ErrNotConnect, truncate(cmd.Name, 32))
	}
	if cmd.Object == nil {
		return Connect{}, fmt.Errorf("%w: connect without a command object", ErrMalformed)
	}
	o := cmd.Object
	c := Connect{TxID: cmd.TxID}
	c.App, _ = o.String("app")
	c.TcURL, _ = o.String("tcUrl")
	c.FlashVer, _ = o.String("flashVer")
	c.Type, _ = o.String("type")
	c.SwfURL, _ = o.String("swfUrl")
	c.PageURL, _ = o.String("pageUrl")
	c.ObjectEncoding, _ = o.Number("objectEncoding")
	return c, nil
}

// StreamCommand is a publish or play command.
type StreamCommand struct {
	Name        string // "publish" or "play"
	TxID        float64
	Stream      string // the stream name as sent, query string included
	PublishType string // publish only: "live", "record", "append" (empty if absent)
}

// ParseStreamCommand recognises publish and play: it reports false for
// other commands and for a publish/play without a string stream name.
func ParseStreamCommand(cmd Command) (StreamCommand, bool) {
	if cmd.Name != "publish" && cmd.Name != "play" {
		return StreamCommand{}, false
	}
	if len(cmd.Args) == 0 {
		return StreamCommand{}, false
	}
	name, ok := cmd.Args[0].(string)
	if !ok {
		return StreamCommand{}, false
	}
	sc := StreamCommand{Name: cmd.Name, TxID: cmd.TxID, Stream: name}
	if cmd.Name == "publish" && len(cmd.Args) > 1 {
		sc.PublishType, _ = cmd.Args[1].(string)
	}
	return sc, true
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
