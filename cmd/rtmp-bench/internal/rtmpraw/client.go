package rtmpraw

import (
	"fmt"
)

// ConnectParams are the connect command's properties.
type ConnectParams struct {
	App      string
	TCURL    string
	FlashVer string // "FMLE/3.0 (compatible; ...)" marks a publisher
	Type     string // "nonprivate" marks a publisher for some servers; "" omits it
}

// Connect sends Set Chunk Size (when ChunkSize > 128) and connect, and waits
// for the _result.
func (c *Conn) Connect(p ConnectParams) error {
	var b []byte
	if c.ChunkSize > 128 {
		b = AppendSetChunkSize(b, uint32(c.ChunkSize))
	}
	props := []Prop{{"app", p.App}}
	if p.Type != "" {
		props = append(props, Prop{"type", p.Type})
	}
	props = append(props, Prop{"flashVer", p.FlashVer}, Prop{"tcUrl", p.TCURL},
		Prop{"fpad", false}, Prop{"capabilities", 15}, Prop{"audioCodecs", 4071},
		Prop{"videoCodecs", 252}, Prop{"videoFunction", 1})
	cmd := AppendObject(AppendNumber(AppendString(nil, "connect"), 1), props)
	// The connect itself goes at 128-byte chunks if no Set Chunk Size was sent.
	b = AppendMessage(b, c.ChunkSize, CSIDCommand, 0, TypeCommandAMF0, 0, cmd)
	if err := c.Write(b); err != nil {
		return fmt.Errorf("rtmp: write connect: %w", err)
	}
	return c.await(func(m Message) (bool, error) {
		cmd, ok := parseCommand(m)
		if !ok || cmd.tid != 1 {
			return false, nil
		}
		switch cmd.name {
		case "_result":
			return true, nil
		case "_error":
			code, _ := infoCode(cmd.args)
			return true, fmt.Errorf("%w: %s", ErrConnectRejected, code)
		}
		return false, nil
	})
}

// CreateStream sends createStream and returns the new stream id.
func (c *Conn) CreateStream() (uint32, error) {
	const tid = 2
	if err := c.writeCommand(CSIDCommand, 0, "createStream", tid, nil); err != nil {
		return 0, fmt.Errorf("rtmp: write createStream: %w", err)
	}
	var sid uint32
	err := c.await(func(m Message) (bool, error) {
		cmd, ok := parseCommand(m)
		if !ok || cmd.tid != tid {
			return false, nil
		}
		if cmd.name != "_result" {
			return true, fmt.Errorf("%w: createStream answered %s", ErrCommandRejected, cmd.name)
		}
		for _, a := range cmd.args {
			if f, ok := a.(float64); ok {
				sid = uint32(f)
				return true, nil
			}
		}
		return true, fmt.Errorf("%w: createStream _result without a stream id", ErrUnexpected)
	})
	return sid, err
}

// awaitStatus waits for an onStatus on sid whose code is ok; an error-level
// status fails with rejected.
func (c *Conn) awaitStatus(sid uint32, ok string, rejected error) error {
	return c.await(func(m Message) (bool, error) {
		if m.Type == TypeAudio || m.Type == TypeVideo {
			return true, nil // media before the status: the server is already playing
		}
		cmd, isCmd := parseCommand(m)
		if !isCmd || cmd.name != "onStatus" {
			return false, nil
		}
		code, level := infoCode(cmd.args)
		switch {
		case code == ok:
			return true, nil
		case level == "error":
			return true, fmt.Errorf("%w: %s", rejected, code)
		}
		return false, nil
	})
}

// Publish publishes name (live) on sid and waits for NetStream.Publish.Start.
func (c *Conn) Publish(sid uint32, name string) error {
	if err := c.writeCommand(CSIDData, sid, "publish", 0, nil, name, "live"); err != nil {
		return fmt.Errorf("rtmp: write publish: %w", err)
	}
	return c.awaitStatus(sid, "NetStream.Publish.Start", ErrPublishRejected)
}

// Play sends Set Buffer Length and play, and waits for NetStream.Play.Start
// (or the first media message).
func (c *Conn) Play(sid uint32, name string) error {
	b := AppendSetBufferLength(nil, sid, 3000)
	cmd := AppendString(nil, "play")
	cmd = AppendNumber(cmd, 0)
	cmd = AppendNull(cmd)
	cmd = AppendString(cmd, name)
	cmd = AppendNumber(cmd, -2000) // live or recorded, as FFmpeg asks
	b = AppendMessage(b, c.ChunkSize, CSIDData, 0, TypeCommandAMF0, sid, cmd)
	if err := c.Write(b); err != nil {
		return fmt.Errorf("rtmp: write play: %w", err)
	}
	return c.awaitStatus(sid, "NetStream.Play.Start", ErrPlayRejected)
}

// WriteMedia writes one audio, video or data message at the outgoing chunk size.
func (c *Conn) WriteMedia(typ uint8, ts uint32, sid uint32, payload []byte) error {
	csid := CSIDVideo
	switch typ {
	case TypeAudio:
		csid = CSIDAudio
	case TypeDataAMF0:
		csid = CSIDData
	}
	return c.writeMessage(csid, ts, typ, sid, payload)
}
