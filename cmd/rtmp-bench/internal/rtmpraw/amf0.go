package rtmpraw

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	"github.com/rtmp-edge/rtmp-edge/edge/amf0"
)

// AMF0 type markers used here.
const (
	amfNumber      = 0x00
	amfBoolean     = 0x01
	amfString      = 0x02
	amfObject      = 0x03
	amfNull        = 0x05
	amfUndefined   = 0x06
	amfECMAArray   = 0x08
	amfObjectEnd   = 0x09
	amfStrictArray = 0x0a
	amfDate        = 0x0b
	amfLongString  = 0x0c
)

// Decoder limits: a command from the network cannot nest or fan out without bound.
const (
	maxAMFDepth = 8
	maxAMFItems = 1024
)

// Errors of the AMF0 decoder.
var (
	ErrAMFTruncated   = errors.New("amf0: truncated value")
	ErrAMFUnsupported = errors.New("amf0: unsupported type")
	ErrAMFTooDeep     = errors.New("amf0: nested too deep")
	ErrAMFTooMany     = errors.New("amf0: too many items")
)

// Prop is one property of an AMF0 object, kept in order for encoding.
type Prop struct {
	Key   string
	Value any // string, float64, int, bool, nil, []Prop (a nested object)
}

// AppendString appends an AMF0 string (or long string above 65535 bytes).
// The primitives are the edge's own encoder's (edge/amf0).
func AppendString(b []byte, s string) []byte { return amf0.AppendString(b, s) }

// AppendNumber appends an AMF0 number.
func AppendNumber(b []byte, f float64) []byte { return amf0.AppendNumber(b, f) }

// AppendNull appends AMF0 null.
func AppendNull(b []byte) []byte { return amf0.AppendNull(b) }

// AppendObject appends an AMF0 object with props in order.
func AppendObject(b []byte, props []Prop) []byte {
	b = append(b, amfObject)
	b = appendProps(b, props)
	return append(b, 0, 0, amfObjectEnd)
}

// AppendECMAArray appends an AMF0 ECMA array (what onMetaData carries).
func AppendECMAArray(b []byte, props []Prop) []byte {
	b = append(b, amfECMAArray)
	b = binary.BigEndian.AppendUint32(b, uint32(len(props)))
	b = appendProps(b, props)
	return append(b, 0, 0, amfObjectEnd)
}

func appendProps(b []byte, props []Prop) []byte {
	for _, p := range props {
		b = binary.BigEndian.AppendUint16(b, uint16(len(p.Key)))
		b = append(b, p.Key...)
		b = AppendValue(b, p.Value)
	}
	return b
}

// AppendValue appends v; unknown Go types become null.
func AppendValue(b []byte, v any) []byte {
	switch v := v.(type) {
	case string:
		return AppendString(b, v)
	case float64:
		return AppendNumber(b, v)
	case int:
		return AppendNumber(b, float64(v))
	case bool:
		return amf0.AppendBool(b, v)
	case []Prop:
		return AppendObject(b, v)
	default:
		return AppendNull(b)
	}
}

// DecodeAll decodes consecutive AMF0 values until b is used up.
func DecodeAll(b []byte) ([]any, error) {
	var out []any
	for len(b) > 0 {
		if len(out) >= maxAMFItems {
			return out, ErrAMFTooMany
		}
		v, rest, err := Decode(b)
		if err != nil {
			return out, err
		}
		out = append(out, v)
		b = rest
	}
	return out, nil
}

// Decode decodes one AMF0 value: float64, bool, string, nil, map[string]any
// (object, ECMA array) or []any (strict array). Dates decode as float64.
func Decode(b []byte) (v any, rest []byte, err error) {
	return decode(b, 0)
}

func decode(b []byte, depth int) (any, []byte, error) {
	if depth > maxAMFDepth {
		return nil, nil, ErrAMFTooDeep
	}
	if len(b) < 1 {
		return nil, nil, ErrAMFTruncated
	}
	marker, b := b[0], b[1:]
	switch marker {
	case amfNumber:
		if len(b) < 8 {
			return nil, nil, ErrAMFTruncated
		}
		return math.Float64frombits(binary.BigEndian.Uint64(b)), b[8:], nil
	case amfBoolean:
		if len(b) < 1 {
			return nil, nil, ErrAMFTruncated
		}
		return b[0] != 0, b[1:], nil
	case amfString:
		return decodeString(b, 2)
	case amfLongString:
		return decodeString(b, 4)
	case amfNull, amfUndefined:
		return nil, b, nil
	case amfObject:
		return decodeProps(b, depth)
	case amfECMAArray:
		if len(b) < 4 {
			return nil, nil, ErrAMFTruncated
		}
		return decodeProps(b[4:], depth) // the count is a hint; the end marker ends it
	case amfStrictArray:
		if len(b) < 4 {
			return nil, nil, ErrAMFTruncated
		}
		n := binary.BigEndian.Uint32(b)
		if n > maxAMFItems {
			return nil, nil, ErrAMFTooMany
		}
		b = b[4:]
		arr := make([]any, 0, n)
		for range n {
			v, rest, err := decode(b, depth+1)
			if err != nil {
				return nil, nil, err
			}
			arr = append(arr, v)
			b = rest
		}
		return arr, b, nil
	case amfDate:
		if len(b) < 10 {
			return nil, nil, ErrAMFTruncated
		}
		return math.Float64frombits(binary.BigEndian.Uint64(b)), b[10:], nil
	default:
		return nil, nil, fmt.Errorf("%w: marker 0x%02x", ErrAMFUnsupported, marker)
	}
}

func decodeString(b []byte, lenBytes int) (any, []byte, error) {
	if len(b) < lenBytes {
		return nil, nil, ErrAMFTruncated
	}
	var n uint64
	if lenBytes == 2 {
		n = uint64(binary.BigEndian.Uint16(b))
	} else {
		n = uint64(binary.BigEndian.Uint32(b))
	}
	b = b[lenBytes:]
	if uint64(len(b)) < n {
		return nil, nil, ErrAMFTruncated
	}
	return string(b[:n]), b[n:], nil
}

func decodeProps(b []byte, depth int) (any, []byte, error) {
	obj := make(map[string]any)
	for n := 0; ; n++ {
		if len(b) >= 3 && b[0] == 0 && b[1] == 0 && b[2] == amfObjectEnd {
			return obj, b[3:], nil
		}
		if n >= maxAMFItems { // counted, not len(obj): repeated keys cost time too
			return nil, nil, ErrAMFTooMany
		}
		k, rest, err := decodeString(b, 2)
		if err != nil {
			return nil, nil, err
		}
		v, rest, err := decode(rest, depth+1)
		if err != nil {
			return nil, nil, err
		}
		obj[k.(string)] = v
		b = rest
	}
}
