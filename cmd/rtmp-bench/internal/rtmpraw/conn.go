package rtmpraw

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"
)

// Errors of the command exchanges.
var (
	ErrConnectRejected = errors.New("rtmp: connect rejected")
	ErrCommandRejected = errors.New("rtmp: command rejected")
	ErrPublishRejected = errors.New("rtmp: publish rejected")
	ErrPlayRejected    = errors.New("rtmp: play rejected")
	ErrUnexpected      = errors.New("rtmp: unexpected message")
)

// DefaultTimeout bounds every command exchange (and the handshake).
const DefaultTimeout = 10 * time.Second

// Conn is one RTMP connection, client or server side. Reads happen in one
// goroutine; writes may come from two (a publisher's media writer and the
// reader answering pings and sending Acknowledgements), so they are locked.
type Conn struct {
	nc net.Conn
	R  *Reader

	wmu  sync.Mutex
	wbuf []byte

	// ChunkSize is the outgoing chunk size, announced by Connect (client) or
	// by the connect reply (server). Set it before either.
	ChunkSize int
	// Timeout bounds the handshake and each command exchange; 0 means DefaultTimeout.
	Timeout time.Duration

	ackWindow uint32
	lastAck   uint64

	// Media counters, updated by ReadMessage.
	MediaMessages uint64
	MediaBytes    uint64
	FirstMediaAt  time.Time
}

// DefaultReadBuffer is the read buffer of NewConn: large enough that a
// publisher-side reader or a fast player takes many chunks per read.
const DefaultReadBuffer = 64 << 10

// NewConn wraps nc with a DefaultReadBuffer read buffer.
func NewConn(nc net.Conn) *Conn { return NewConnSize(nc, DefaultReadBuffer) }

// NewConnSize wraps nc with a read buffer of size bytes (at least 16, as
// bufio allows). Ten thousand players of a 256 kbit/s stream need no more
// than a few KiB each; 64 KiB each would be 640 MB of client memory.
func NewConnSize(nc net.Conn, size int) *Conn {
	return &Conn{nc: nc, R: NewReader(bufio.NewReaderSize(nc, size)), ChunkSize: 128}
}

// NetConn returns the underlying connection.
func (c *Conn) NetConn() net.Conn { return c.nc }

// Close closes the connection.
func (c *Conn) Close() error { return c.nc.Close() }

func (c *Conn) timeout() time.Duration {
	if c.Timeout > 0 {
		return c.Timeout
	}
	return DefaultTimeout
}

// Write writes raw bytes (whole chunks) under the write lock.
func (c *Conn) Write(b []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_, err := c.nc.Write(b)
	return err
}

// writeMessage encodes and writes one message at the current chunk size.
func (c *Conn) writeMessage(csid int, ts uint32, typ uint8, sid uint32, payload []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.wbuf = AppendMessage(c.wbuf[:0], c.ChunkSize, csid, ts, typ, sid, payload)
	_, err := c.nc.Write(c.wbuf)
	return err
}

// writeControl writes pre-built control chunks (always chunk size 128 safe).
func (c *Conn) writeControl(b []byte) error { return c.Write(b) }

// ClientHandshake runs the client side of the simple handshake within Timeout.
func (c *Conn) ClientHandshake() error {
	_ = c.nc.SetDeadline(time.Now().Add(c.timeout()))
	defer c.nc.SetDeadline(time.Time{})
	return ClientHandshake(c.nc)
}

// ServerHandshake runs the server side of the simple handshake within Timeout.
func (c *Conn) ServerHandshake() error {
	_ = c.nc.SetDeadline(time.Now().Add(c.timeout()))
	defer c.nc.SetDeadline(time.Time{})
	return ServerHandshake(c.nc)
}

// ReadMessage reads the next message and handles the protocol's upkeep:
// Window Acknowledgement Size, Acknowledgements, ping requests; it counts media.
func (c *Conn) ReadMessage() (Message, error) {
	m, err := c.R.Read()
	if err != nil {
		return m, err
	}
	switch m.Type {
	case TypeWindowAckSize:
		if len(m.Payload) >= 4 {
			c.ackWindow = binary.BigEndian.Uint32(m.Payload)
		}
	case TypeUserControl:
		if len(m.Payload) >= 6 && binary.BigEndian.Uint16(m.Payload) == EventPingRequest {
			if err := c.writeControl(AppendUserControl(nil, EventPingResponse, binary.BigEndian.Uint32(m.Payload[2:]))); err != nil {
				return m, fmt.Errorf("rtmp: write ping response: %w", err)
			}
		}
	case TypeAudio, TypeVideo, TypeAggregate:
		if c.MediaMessages == 0 {
			c.FirstMediaAt = time.Now()
		}
		c.MediaMessages++
		c.MediaBytes += uint64(m.Length)
	}
	if c.ackWindow > 0 && c.R.BytesRead-c.lastAck >= uint64(c.ackWindow) {
		c.lastAck = c.R.BytesRead
		if err := c.writeControl(AppendAck(nil, uint32(c.R.BytesRead))); err != nil {
			return m, fmt.Errorf("rtmp: write ack: %w", err)
		}
	}
	return m, nil
}

// command is a decoded AMF0 command message: name, transaction id, arguments.
type command struct {
	name string
	tid  float64
	args []any
}

func parseCommand(m Message) (command, bool) {
	p := m.Payload
	if m.Type == TypeCommandAMF3 {
		if len(p) == 0 {
			return command{}, false
		}
		p = p[1:] // AMF3 commands start with a 0 byte and are AMF0 after it
	} else if m.Type != TypeCommandAMF0 {
		return command{}, false
	}
	vals, err := DecodeAll(p)
	if err != nil || len(vals) < 2 {
		return command{}, false
	}
	name, ok1 := vals[0].(string)
	tid, ok2 := vals[1].(float64)
	if !ok1 || !ok2 {
		return command{}, false
	}
	return command{name: name, tid: tid, args: vals[2:]}, true
}

// infoCode returns the "code" and "level" of a result or status info object.
func infoCode(args []any) (code, level string) {
	for _, a := range args {
		if obj, ok := a.(map[string]any); ok {
			if c, ok := obj["code"].(string); ok {
				l, _ := obj["level"].(string)
				return c, l
			}
		}
	}
	return "", ""
}

func (c *Conn) writeCommand(csid int, sid uint32, name string, tid float64, args ...any) error {
	p := AppendString(nil, name)
	p = AppendNumber(p, tid)
	for _, a := range args {
		p = AppendValue(p, a)
	}
	return c.writeMessage(csid, 0, TypeCommandAMF0, sid, p)
}

// await reads messages until match returns done, within Timeout.
func (c *Conn) await(match func(m Message) (done bool, err error)) error {
	_ = c.nc.SetReadDeadline(time.Now().Add(c.timeout()))
	defer c.nc.SetReadDeadline(time.Time{})
	for {
		m, err := c.ReadMessage()
		if err != nil {
			return err
		}
		if done, err := match(m); done || err != nil {
			return err
		}
	}
}
