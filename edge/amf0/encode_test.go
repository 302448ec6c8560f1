package amf0

import (
	"encoding/binary"
	"math"
)

// Hand encoders for test payloads; each appends one AMF0 value to b.

func num(b []byte, f float64) []byte {
	return binary.BigEndian.AppendUint64(append(b, markerNumber), math.Float64bits(f))
}

func boolean(b []byte, v bool) []byte {
	if v {
		return append(b, markerBoolean, 1)
	}
	return append(b, markerBoolean, 0)
}

func key(b []byte, s string) []byte {
	return append(binary.BigEndian.AppendUint16(b, uint16(len(s))), s...)
}

func str(b []byte, s string) []byte { return key(append(b, markerString), s) }

func longStr(b []byte, s string) []byte {
	return append(binary.BigEndian.AppendUint32(append(b, markerLongString), uint32(len(s))), s...)
}

func null(b []byte) []byte { return append(b, markerNull) }

func objEnd(b []byte) []byte { return append(b, 0, 0, markerObjectEnd) }

// obj writes an object whose values are written by fns, one per key.
func obj(b []byte, kv ...any) []byte {
	b = append(b, markerObject)
	b = props(b, kv...)
	return objEnd(b)
}

func props(b []byte, kv ...any) []byte {
	for i := 0; i < len(kv); i += 2 {
		b = key(b, kv[i].(string))
		b = kv[i+1].(func([]byte) []byte)(b)
	}
	return b
}

func S(s string) func([]byte) []byte    { return func(b []byte) []byte { return str(b, s) } }
func N(f float64) func([]byte) []byte   { return func(b []byte) []byte { return num(b, f) } }
func B(v bool) func([]byte) []byte      { return func(b []byte) []byte { return boolean(b, v) } }
func Raw(r ...byte) func([]byte) []byte { return func(b []byte) []byte { return append(b, r...) } }
