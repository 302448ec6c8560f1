package amf0

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestDecodeTypes(t *testing.T) {

	var q []byte
	q = num(q, 1.5)
	q = boolean(q, true)
	q = str(q, "héllo")
	q = obj(q, "a", N(1), "nested", func(b []byte) []byte { return obj(b, "x", S("y")) })
	q = null(q)
	q = append(q, markerUndefined)
	q = append(q, markerReference, 0, 7)
	q = append(q, markerECMAArray, 0, 0, 0, 99)
	q = props(q, "k", S("v"))
	q = objEnd(q)
	q = append(q, markerStrictArray, 0, 0, 0, 2)
	q = str(q, "avc1")
	q = str(q, "hvc1")
	date := num(nil, 1e12)
	q = append(append(q, markerDate), date[1:]...)
	q = append(q, 0xFF, 0xC4) // time zone -60
	q = longStr(q, "long")
	q = append(q, markerXMLDocument, 0, 0, 0, 3, '<', 'a', '>')
	q = append(q, markerTypedObject)
	q = key(q, "Class")
	q = props(q, "f", B(false))
	q = objEnd(q)
	q = append(q, markerUnsupported)

	got, err := Decode(q, Limits{})
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	want := []Value{
		1.5, true, "héllo",
		Object{{"a", 1.0}, {"nested", Object{{"x", "y"}}}},
		nil, Undefined{}, Reference(7),
		ECMAArray{{"k", "v"}},
		StrictArray{"avc1", "hvc1"},
		Date{Millis: 1e12, TimeZone: -60},
		"long", "<a>",
		Object{{"f", false}},
		Undefined{},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Decode =\n%#v\nwant\n%#v", got, want)
	}
}

// An AMF3 switch ends decoding cleanly, keeping what came before it,
// including a container cut short.
func TestDecodeAMF3Switch(t *testing.T) {
	var top []byte
	top = str(top, "connect")
	top = num(top, 1)
	top = append(top, markerAVMPlus, 0x06, 0x05, 'a', 'b')
	got, err := Decode(top, Limits{})
	if err != nil || !reflect.DeepEqual(got, []Value{"connect", 1.0}) {
		t.Errorf("top level: %#v, %v", got, err)
	}

	var nested []byte
	nested = str(nested, "connect")
	nested = num(nested, 1)
	nested = obj(nested, "app", S("live"), "x", Raw(markerAVMPlus, 0x01), "tcUrl", S("never read"))
	got, err = Decode(nested, Limits{})
	want := []Value{"connect", 1.0, Object{{"app", "live"}}}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("nested: %#v, %v", got, err)
	}

	var inArray []byte
	inArray = append(inArray, markerStrictArray, 0, 0, 0, 3)
	inArray = str(inArray, "a")
	inArray = append(inArray, markerAVMPlus)
	got, err = Decode(inArray, Limits{})
	if err != nil || !reflect.DeepEqual(got, []Value{StrictArray{"a"}}) {
		t.Errorf("in array: %#v, %v", got, err)
	}
}

func deep(n int) []byte {
	var b []byte
	for range n {
		b = append(b, markerObject)
		b = key(b, "o")
	}
	b = null(b)
	for range n {
		b = objEnd(b)
	}
	return b
}

func TestDecodeHostile(t *testing.T) {
	many := bytes.Repeat([]byte{markerNull}, 4097)
	manyInArray := append([]byte{markerStrictArray, 0, 0, 0x10, 0x01}, bytes.Repeat([]byte{markerNull}, 4097)...)
	tests := []struct {
		name    string
		b       []byte
		lim     Limits
		want    error
		wantMsg string
	}{
		{"unknown marker 0x12", []byte{0x12}, Limits{}, ErrMalformed, "unknown type marker 0x12"},
		{"movie clip marker", []byte{markerMovieClip}, Limits{}, ErrMalformed, "0x04"},
		{"record set marker", []byte{markerRecordSet}, Limits{}, ErrMalformed, "0x0e"},
		{"object end at top level", []byte{0, 0, markerObjectEnd}[2:], Limits{}, ErrMalformed, "outside an object"},
		{"truncated number", []byte{markerNumber, 1, 2}, Limits{}, ErrMalformed, "number needs 8"},
		{"truncated boolean", []byte{markerBoolean}, Limits{}, ErrMalformed, "boolean"},
		{"truncated string length", []byte{markerString, 0}, Limits{}, ErrMalformed, "string length"},
		{"string longer than the payload", []byte{markerString, 0xFF, 0xFF, 'a'}, Limits{}, ErrMalformed, "string needs 65535"},
		{"long string of 4 GiB", []byte{markerLongString, 0xFF, 0xFF, 0xFF, 0xFF}, Limits{}, ErrLimit, "4294967295-byte long string"},
		{"string over MaxString", str(nil, "abcdef"), Limits{MaxString: 5}, ErrLimit, "6-byte string"},
		{"strict array count beyond the bytes", []byte{markerStrictArray, 0xFF, 0xFF, 0xFF, 0xFF, markerNull}, Limits{}, ErrMalformed, "strict array of 4294967295"},
		{"strict array over MaxValues", manyInArray, Limits{}, ErrLimit, "strict array of 4097"},
		{"object without end", obj(nil, "a", N(1))[:14], Limits{}, ErrMalformed, "property name"},
		{"object cut in a key", []byte{markerObject, 0, 5, 'a'}, Limits{}, ErrMalformed, "property name needs 5"},
		{"empty key without end marker at the end", []byte{markerObject, 0, 0}, Limits{}, ErrMalformed, "object end"},
		{"truncated date", []byte{markerDate, 0, 0, 0, 0, 0, 0, 0, 0, 0}, Limits{}, ErrMalformed, "date time zone"},
		{"truncated reference", []byte{markerReference, 1}, Limits{}, ErrMalformed, "reference"},
		{"truncated ECMA array count", []byte{markerECMAArray, 0, 0}, Limits{}, ErrMalformed, "ECMA array count"},
		{"deep nesting", deep(17), Limits{}, ErrLimit, "nesting deeper than 16"},
		{"deep strict arrays", bytes.Repeat([]byte{markerStrictArray, 0, 0, 0, 1}, 20), Limits{}, ErrLimit, "nesting"},
		{"too many values", many, Limits{}, ErrLimit, "more than 4096 values"},
		{"too many values, custom limit", bytes.Repeat([]byte{markerNull}, 11), Limits{MaxValues: 10}, ErrLimit, "more than 10"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Decode(tt.b, tt.lim)
			if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.wantMsg) {
				t.Fatalf("err = %v, want %v mentioning %q", err, tt.want, tt.wantMsg)
			}
		})
	}
	if _, err := Decode(deep(16), Limits{}); err != nil {
		t.Errorf("nesting of exactly 16: %v", err)
	}
}

// Every prefix of a valid payload either decodes or fails with a named
// error; never a panic.
func TestDecodeTruncatedEverywhere(t *testing.T) {
	var p []byte
	p = str(p, "connect")
	p = num(p, 1)
	p = obj(p, "app", S("live"), "fourCcList", func(b []byte) []byte {
		b = append(b, markerStrictArray, 0, 0, 0, 1)
		return str(b, "av01")
	}, "fpad", B(false), "d", func(b []byte) []byte {
		return append(append(b, markerDate), make([]byte, 10)...)
	})
	p = longStr(p, "user arg")
	for i := range len(p) {
		_, err := Decode(p[:i], Limits{})
		if err != nil && !errors.Is(err, ErrMalformed) {
			t.Errorf("prefix %d: %v", i, err)
		}
	}
	if _, err := Decode(p, Limits{}); err != nil {
		t.Fatal(err)
	}
}

func TestLimitsDefaults(t *testing.T) {
	got := Limits{}.withDefaults()
	if got != (Limits{MaxDepth: 16, MaxValues: 4096, MaxString: 64 << 10}) {
		t.Errorf("defaults = %+v", got)
	}
	got = Limits{MaxDepth: 2, MaxValues: -1, MaxString: 10}.withDefaults()
	if got != (Limits{MaxDepth: 2, MaxValues: 4096, MaxString: 10}) {
		t.Errorf("partial = %+v", got)
	}
}
