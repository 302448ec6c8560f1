package harness

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"sort"
	"time"
)

// RTMP message type ids used by the test clients.
const (
	TypeSetChunkSize = 1
	TypeAck          = 3
	TypeUserControl  = 4
	TypeWinAckSize   = 5
	TypeAudio        = 8
	TypeVideo        = 9
	TypeDataAMF0     = 18
	TypeCommandAMF3  = 17
	TypeCommandAMF0  = 20
)

// handshakeSize is the size of C1, S1, C2 and S2.
const handshakeSize = 1536

// ErrBadServerHandshake is returned when S0 is not version 3.
var ErrBadServerHandshake = errors.New("server handshake: S0 is not version 3")

// C0C1 returns a plain-RTMP C0 (version 3) and a C1 with zero time, zero version
// bytes (the simple handshake) and random filler.
func C0C1() []byte {
	b := make([]byte, 1+handshakeSize)
	b[0] = 3
	_, _ = rand.Read(b[9:])
	return b
}

// ClientHandshake performs the simple handshake on conn as a client: C0C1, read
// S0S1S2, send C2 (an echo of S1). Every read is bounded by deadline.
func ClientHandshake(conn net.Conn, deadline time.Time) error {
	if err := conn.SetDeadline(deadline); err != nil {
		return fmt.Errorf("client handshake: set deadline: %w", err)
	}
	defer conn.SetDeadline(time.Time{})
	if _, err := conn.Write(C0C1()); err != nil {
		return fmt.Errorf("client handshake: write C0C1: %w", err)
	}
	s := make([]byte, 1+2*handshakeSize)
	if _, err := io.ReadFull(conn, s); err != nil {
		return fmt.Errorf("client handshake: read S0S1S2: %w", err)
	}
	if s[0] != 3 {
		return fmt.Errorf("%w (got %#x)", ErrBadServerHandshake, s[0])
	}
	if _, err := conn.Write(s[1 : 1+handshakeSize]); err != nil {
		return fmt.Errorf("client handshake: write C2: %w", err)
	}
	return nil
}

// Chunk encodes one RTMP message as chunks on chunk stream csid: a type-0 header
// (timestamp 0) and type-3 continuation headers every chunkSize bytes. length is
// the message length written in the header; pass -1 to use len(payload) (other
// values let hostile tests lie).
func Chunk(csid byte, msgType byte, streamID uint32, payload []byte, chunkSize int, length int) []byte {
	if length < 0 {
		length = len(payload)
	}
	out := make([]byte, 0, len(payload)+12+len(payload)/chunkSize+1)
	out = append(out, csid&0x3f) // fmt 0, csid 2..63
	out = append(out, 0, 0, 0)   // timestamp
	out = append(out, byte(length>>16), byte(length>>8), byte(length))
	out = append(out, msgType)
	out = binary.LittleEndian.AppendUint32(out, streamID)
	for i := 0; i < len(payload); i += chunkSize {
		if i > 0 {
			out = append(out, 0xc0|(csid&0x3f)) // fmt 3
		}
		end := min(i+chunkSize, len(payload))
		out = append(out, payload[i:end]...)
	}
	return out
}

// SetChunkSizeMsg is a Set Chunk Size protocol control message announcing n.
func SetChunkSizeMsg(n uint32) []byte {
	return Chunk(2, TypeSetChunkSize, 0, binary.BigEndian.AppendUint32(nil, n), 128, -1)
}

// Command encodes an AMF0 command message (type 20) on chunk stream 3.
func Command(streamID uint32, chunkSize int, name string, txID float64, args ...any) []byte {
	body := AMF0(append([]any{name, txID}, args...)...)
	return Chunk(3, TypeCommandAMF0, streamID, body, chunkSize, -1)
}

// ConnectCommand is the AMF0 connect command an ordinary player sends.
func ConnectCommand(chunkSize int, app, tcURL, flashVer string) []byte {
	return Command(0, chunkSize, "connect", 1, AMFObject{
		"app": app, "flashVer": flashVer, "tcUrl": tcURL, "fpad": false,
		"capabilities": 15.0, "audioCodecs": 4071.0, "videoCodecs": 252.0, "videoFunction": 1.0,
	})
}

// ConnectCommandAMF3 is ConnectCommand sent as an AMF3 command message
// (type 17): a zero byte (the AMF3 "switch" marker position), then the same AMF0.
func ConnectCommandAMF3(chunkSize int, app, tcURL, flashVer string) []byte {
	body := append([]byte{0}, AMF0("connect", 1.0, AMFObject{
		"app": app, "flashVer": flashVer, "tcUrl": tcURL, "fpad": false, "objectEncoding": 3.0,
		"capabilities": 239.0, "audioCodecs": 3575.0, "videoCodecs": 252.0, "videoFunction": 1.0,
	})...)
	return Chunk(3, TypeCommandAMF3, 0, body, chunkSize, -1)
}

// AMFObject is an AMF0 object; keys are encoded in sorted order.
type AMFObject map[string]any

// AMF0 encodes values: string, float64, int, bool, nil, AMFObject.
// It panics on other types: callers are tests with literal values.
func AMF0(values ...any) []byte {
	var b []byte
	for _, v := range values {
		b = appendAMF0(b, v)
	}
	return b
}

func appendAMF0(b []byte, v any) []byte {
	switch v := v.(type) {
	case float64:
		b = append(b, 0x00)
		return binary.BigEndian.AppendUint64(b, math.Float64bits(v))
	case int:
		return appendAMF0(b, float64(v))
	case bool:
		if v {
			return append(b, 0x01, 1)
		}
		return append(b, 0x01, 0)
	case string:
		b = append(b, 0x02)
		return appendAMFKey(b, v)
	case nil:
		return append(b, 0x05)
	case AMFObject:
		b = append(b, 0x03)
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			b = appendAMFKey(b, k)
			b = appendAMF0(b, v[k])
		}
		return append(b, 0, 0, 0x09)
	default:
		panic(fmt.Sprintf("AMF0: unsupported type %T", v))
	}
}

func appendAMFKey(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint16(b, uint16(len(s)))
	return append(b, s...)
}
