package amf0

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// AMF0 type markers.
const (
	markerNumber      = 0x00
	markerBoolean     = 0x01
	markerString      = 0x02
	markerObject      = 0x03
	markerMovieClip   = 0x04 // reserved, never sent
	markerNull        = 0x05
	markerUndefined   = 0x06
	markerReference   = 0x07
	markerECMAArray   = 0x08
	markerObjectEnd   = 0x09
	markerStrictArray = 0x0A
	markerDate        = 0x0B
	markerLongString  = 0x0C
	markerUnsupported = 0x0D
	markerRecordSet   = 0x0E // reserved, never sent
	markerXMLDocument = 0x0F
	markerTypedObject = 0x10
	markerAVMPlus     = 0x11 // switch to AMF3
)

// errAMF3 stops decoding at an AMF3 switch marker; Decode turns it into a
// clean end of the values.
var errAMF3 = errors.New("amf0: AMF3 value")

type decoder struct {
	b      []byte
	off    int
	lim    Limits
	values int
}

// Decode decodes the AMF0 values in b, in order.
//
// An AMF3 switch marker (0x11) ends decoding without error: AMF3 is not
// decoded, so the values before it are returned, and a container that held
// it is returned with the properties or elements read before it. That way a
// connect whose user arguments (or a late property) are AMF3 still yields
// its app and tcUrl.
func Decode(b []byte, lim Limits) ([]Value, error) {
	d := decoder{b: b, lim: lim.withDefaults()}
	var out []Value
	for d.off < len(d.b) {
		v, err := d.value(0)
		if errors.Is(err, errAMF3) {
			if v != nil {
				out = append(out, v)
			}
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out = append(out, v)
	}
	return out, nil
}

func (d *decoder) errorf(sentinel error, format string, args ...any) error {
	return fmt.Errorf("%w at offset %d: %s", sentinel, d.off, fmt.Sprintf(format, args...))
}

func (d *decoder) need(n int, what string) error {
	if n > len(d.b)-d.off {
		return d.errorf(ErrMalformed, "%s needs %d bytes, %d left", what, n, len(d.b)-d.off)
	}
	return nil
}

func (d *decoder) u8(what string) (byte, error) {
	if err := d.need(1, what); err != nil {
		return 0, err
	}
	d.off++
	return d.b[d.off-1], nil
}

func (d *decoder) u16(what string) (uint16, error) {
	if err := d.need(2, what); err != nil {
		return 0, err
	}
	d.off += 2
	return binary.BigEndian.Uint16(d.b[d.off-2:]), nil
}

func (d *decoder) u32(what string) (uint32, error) {
	if err := d.need(4, what); err != nil {
		return 0, err
	}
	d.off += 4
	return binary.BigEndian.Uint32(d.b[d.off-4:]), nil
}

func (d *decoder) number(what string) (float64, error) {
	if err := d.need(8, what); err != nil {
		return 0, err
	}
	d.off += 8
	return math.Float64frombits(binary.BigEndian.Uint64(d.b[d.off-8:])), nil
}

// str reads n bytes as a string, after checking the limit and the bytes left.
func (d *decoder) str(n int, what string) (string, error) {
	if n > d.lim.MaxString {
		return "", d.errorf(ErrLimit, "%d-byte %s (limit %d)", n, what, d.lim.MaxString)
	}
	if err := d.need(n, what); err != nil {
		return "", err
	}
	d.off += n
	return string(d.b[d.off-n : d.off]), nil
}

func (d *decoder) shortString(what string) (string, error) {
	n, err := d.u16(what + " length")
	if err != nil {
		return "", err
	}
	return d.str(int(n), what)
}

func (d *decoder) longString(what string) (string, error) {
	n, err := d.u32(what + " length")
	if err != nil {
		return "", err
	}
	if uint64(n) > uint64(d.lim.MaxString) {
		return "", d.errorf(ErrLimit, "%d-byte %s (limit %d)", n, what, d.lim.MaxString)
	}
	return d.str(int(n), what)
}

// value decodes one value at nesting depth depth.
func (d *decoder) value(depth int) (Value, error) {
	if d.values >= d.lim.MaxValues {
		return nil, d.errorf(ErrLimit, "more than %d values", d.lim.MaxValues)
	}
	d.values++
	marker, err := d.u8("type marker")
	if err != nil {
		return nil, err
	}
	switch marker {
	case markerNumber:
		return d.number("number")
	case markerBoolean:
		b, err := d.u8("boolean")
		return b != 0, err
	case markerString:
		return d.shortString("string")
	case markerLongString:
		return d.longString("long string")
	case markerXMLDocument:
		return d.longString("XML document")
	case markerNull:
		return nil, nil
	case markerUndefined, markerUnsupported:
		return Undefined{}, nil
	case markerReference:
		i, err := d.u16("reference")
		return Reference(i), err
	case markerDate:
		ms, err := d.number("date")
		if err != nil {
			return nil, err
		}
		tz, err := d.u16("date time zone")
		return Date{Millis: ms, TimeZone: int16(tz)}, err
	case markerObject:
		props, err := d.properties(depth + 1)
		return Object(props), err
	case markerTypedObject:
		if _, err := d.shortString("typed object class name"); err != nil {
			return nil, err
		}
		props, err := d.properties(depth + 1)
		return Object(props), err
	case markerECMAArray:
		// The count is a hint only: ignore it, read up to the end marker.
		if _, err := d.u32("ECMA array count"); err != nil {
			return nil, err
		}
		props, err := d.properties(depth + 1)
		return ECMAArray(props), err
	case markerStrictArray:
		return d.strictArray(depth + 1)
	case markerAVMPlus:
		return nil, errAMF3
	case markerObjectEnd:
		d.off--
		return nil, d.errorf(ErrMalformed, "object-end marker outside an object")
	default:
		d.off--
		return nil, d.errorf(ErrMalformed, "unknown type marker 0x%02x", marker)
	}
}

func (d *decoder) checkDepth(depth int) error {
	if depth > d.lim.MaxDepth {
		return d.errorf(ErrLimit, "nesting deeper than %d", d.lim.MaxDepth)
	}
	return nil
}

// properties reads key/value pairs up to the object-end marker (an empty
// key followed by 0x09). On an AMF3 switch it returns what it read so far
// with errAMF3.
func (d *decoder) properties(depth int) ([]Property, error) {
	if err := d.checkDepth(depth); err != nil {
		return nil, err
	}
	var props []Property
	for {
		key, err := d.shortString("property name")
		if err != nil {
			return props, err
		}
		if key == "" {
			if err := d.need(1, "object end"); err != nil {
				return props, err
			}
			if d.b[d.off] == markerObjectEnd {
				d.off++
				return props, nil
			}
		}
		v, err := d.value(depth)
		if err != nil {
			if errors.Is(err, errAMF3) {
				if v != nil { // a container cut short by the switch
					props = append(props, Property{Key: key, Value: v})
				}
				return props, err
			}
			return nil, err
		}
		props = append(props, Property{Key: key, Value: v})
	}
}

func (d *decoder) strictArray(depth int) (Value, error) {
	if err := d.checkDepth(depth); err != nil {
		return nil, err
	}
	n, err := d.u32("strict array count")
	if err != nil {
		return nil, err
	}
	// Every element takes at least one byte: a count beyond the bytes left
	// is a lie, and must not size an allocation.
	if uint64(n) > uint64(len(d.b)-d.off) {
		return nil, d.errorf(ErrMalformed, "strict array of %d elements in %d bytes", n, len(d.b)-d.off)
	}
	if uint64(n) > uint64(d.lim.MaxValues) {
		return nil, d.errorf(ErrLimit, "strict array of %d elements (limit %d)", n, d.lim.MaxValues)
	}
	arr := make(StrictArray, 0, n)
	for range n {
		v, err := d.value(depth)
		if err != nil {
			if errors.Is(err, errAMF3) {
				if v != nil {
					arr = append(arr, v)
				}
				return arr, err
			}
			return nil, err
		}
		arr = append(arr, v)
	}
	return arr, nil
}
