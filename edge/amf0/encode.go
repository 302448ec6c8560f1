package amf0

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// ErrEncode: a value the encoder cannot write (a Go type that is not an AMF0
// Value, a property name over 65535 bytes, a container over 2^32-1 entries,
// or nesting deeper than DefaultMaxDepth, which the decoder would refuse).
var ErrEncode = errors.New("amf0: cannot encode")

// Append appends the AMF0 encoding of v to b. It is the inverse of Decode
// for every Value type: float64, bool, string (a long string when it is
// over 65535 bytes), Object, nil (null), Undefined, Reference, ECMAArray,
// StrictArray and Date. For the edge's own answers it also takes int and
// uint32 as numbers, so templates need no float literals.
//
// On error b is returned as it was (nothing half-written stays appended).
func Append(b []byte, v Value) ([]byte, error) {
	out, err := appendValue(b, v, 0)
	if err != nil {
		return b, err
	}
	return out, nil
}

// Encode returns the AMF0 encoding of vals, one after the other, as a
// command or data message payload carries them.
func Encode(vals ...Value) ([]byte, error) {
	var b []byte
	for _, v := range vals {
		var err error
		if b, err = Append(b, v); err != nil {
			return nil, err
		}
	}
	return b, nil
}

// EncodeCommand returns the payload of an AMF0 command message (type 20):
// name, transaction ID, command object (nil for null) and the arguments.
func EncodeCommand(name string, txID float64, object Value, args ...Value) ([]byte, error) {
	return Encode(append([]Value{name, txID, object}, args...)...)
}

// AppendNumber appends an AMF0 number.
func AppendNumber(b []byte, f float64) []byte {
	return binary.BigEndian.AppendUint64(append(b, markerNumber), math.Float64bits(f))
}

// AppendBool appends an AMF0 boolean.
func AppendBool(b []byte, v bool) []byte {
	if v {
		return append(b, markerBoolean, 1)
	}
	return append(b, markerBoolean, 0)
}

// AppendString appends s as an AMF0 string, or as a long string when it does
// not fit the 16-bit length of a plain one.
func AppendString(b []byte, s string) []byte {
	if len(s) > math.MaxUint16 {
		b = binary.BigEndian.AppendUint32(append(b, markerLongString), uint32(len(s)))
		return append(b, s...)
	}
	b = binary.BigEndian.AppendUint16(append(b, markerString), uint16(len(s)))
	return append(b, s...)
}

// AppendNull appends an AMF0 null.
func AppendNull(b []byte) []byte { return append(b, markerNull) }

// AppendUndefined appends an AMF0 undefined.
func AppendUndefined(b []byte) []byte { return append(b, markerUndefined) }

func appendValue(b []byte, v Value, depth int) ([]byte, error) {
	switch v := v.(type) {
	case float64:
		return AppendNumber(b, v), nil
	case int:
		return AppendNumber(b, float64(v)), nil
	case uint32:
		return AppendNumber(b, float64(v)), nil
	case bool:
		return AppendBool(b, v), nil
	case string:
		if uint64(len(v)) > math.MaxUint32 {
			return b, fmt.Errorf("%w: %d-byte string", ErrEncode, len(v))
		}
		return AppendString(b, v), nil
	case nil:
		return AppendNull(b), nil
	case Undefined:
		return AppendUndefined(b), nil
	case Reference:
		return binary.BigEndian.AppendUint16(append(b, markerReference), uint16(v)), nil
	case Date:
		b = binary.BigEndian.AppendUint64(append(b, markerDate), math.Float64bits(v.Millis))
		return binary.BigEndian.AppendUint16(b, uint16(v.TimeZone)), nil
	case Object:
		if err := checkContainer(depth+1, len(v)); err != nil {
			return b, err
		}
		return appendProperties(append(b, markerObject), v, depth+1)
	case ECMAArray:
		if err := checkContainer(depth+1, len(v)); err != nil {
			return b, err
		}
		// The count is only a hint to readers (the decoder ignores it), but
		// Flash and FFmpeg write the real one; so does this.
		b = binary.BigEndian.AppendUint32(append(b, markerECMAArray), uint32(len(v)))
		return appendProperties(b, v, depth+1)
	case StrictArray:
		if err := checkContainer(depth+1, len(v)); err != nil {
			return b, err
		}
		b = binary.BigEndian.AppendUint32(append(b, markerStrictArray), uint32(len(v)))
		for _, e := range v {
			var err error
			if b, err = appendValue(b, e, depth+1); err != nil {
				return b, err
			}
		}
		return b, nil
	default:
		return b, fmt.Errorf("%w: %T is not an AMF0 value", ErrEncode, v)
	}
}

// checkContainer refuses what Decode would refuse to read back with its
// default limits: the encoder must never produce a payload the edge's own
// decoder (or a media server's) rejects.
func checkContainer(depth, n int) error {
	if depth > DefaultMaxDepth {
		return fmt.Errorf("%w: nesting deeper than %d", ErrEncode, DefaultMaxDepth)
	}
	if uint64(n) > math.MaxUint32 {
		return fmt.Errorf("%w: container of %d entries", ErrEncode, n)
	}
	return nil
}

func appendProperties(b []byte, props []Property, depth int) ([]byte, error) {
	for _, p := range props {
		// A key over 65535 bytes does not fit its length field. An empty
		// key is written as is: the decoder reads it back (the object end
		// is an empty key followed by the 0x09 marker, which no value
		// starts with).
		if len(p.Key) > math.MaxUint16 {
			return b, fmt.Errorf("%w: property name of %d bytes", ErrEncode, len(p.Key))
		}
		b = binary.BigEndian.AppendUint16(b, uint16(len(p.Key)))
		b = append(b, p.Key...)
		var err error
		if b, err = appendValue(b, p.Value, depth); err != nil {
			return b, err
		}
	}
	return append(b, 0, 0, markerObjectEnd), nil
}
