package rtmpraw

import (
	"errors"
	"reflect"
	"testing"
)

func TestAMF0RoundTrip(t *testing.T) {
	var b []byte
	b = AppendString(b, "connect")
	b = AppendNumber(b, 1)
	b = AppendObject(b, []Prop{{"app", "live"}, {"fpad", false}, {"capabilities", 15},
		{"nested", []Prop{{"x", 1.5}}}, {"nothing", nil}})
	b = AppendECMAArray(b, []Prop{{"width", 1280}})
	b = AppendNull(b)
	got, err := DecodeAll(b)
	if err != nil {
		t.Fatal(err)
	}
	want := []any{"connect", 1.0,
		map[string]any{"app": "live", "fpad": false, "capabilities": 15.0, "nested": map[string]any{"x": 1.5}, "nothing": nil},
		map[string]any{"width": 1280.0}, nil}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %#v\nwant %#v", got, want)
	}
}

func TestAMF0LongStringAndStrictArray(t *testing.T) {
	long := string(make([]byte, 70000))
	v, rest, err := Decode(AppendString(nil, long))
	if err != nil || v.(string) != long || len(rest) != 0 {
		t.Fatalf("long string: %v, %d rest", err, len(rest))
	}
	arr := []byte{amfStrictArray, 0, 0, 0, 2, amfNull, amfBoolean, 1}
	v, _, err = Decode(arr)
	if err != nil || !reflect.DeepEqual(v, []any{nil, true}) {
		t.Fatalf("strict array = %#v, %v", v, err)
	}
}

func TestAMF0Hostile(t *testing.T) {
	deep := []byte{}
	for range maxAMFDepth + 2 {
		deep = append(deep, amfObject, 0, 1, 'k')
	}
	tests := []struct {
		name string
		b    []byte
		want error
	}{
		{"empty", nil, ErrAMFTruncated},
		{"short number", []byte{amfNumber, 1, 2}, ErrAMFTruncated},
		{"string longer than input", []byte{amfString, 0xff, 0xff, 'a'}, ErrAMFTruncated},
		{"long string longer than input", []byte{amfLongString, 0xff, 0xff, 0xff, 0xff}, ErrAMFTruncated},
		{"object without end", []byte{amfObject, 0, 1, 'a', amfNull}, ErrAMFTruncated},
		{"nested too deep", deep, ErrAMFTooDeep},
		{"strict array count too large", []byte{amfStrictArray, 0xff, 0xff, 0xff, 0xff}, ErrAMFTooMany},
		{"strict array shorter than count", []byte{amfStrictArray, 0, 0, 0, 3, amfNull}, ErrAMFTruncated},
		{"AMF3 switch unsupported", []byte{0x11}, ErrAMFUnsupported},
		{"reference unsupported", []byte{0x07, 0, 1}, ErrAMFUnsupported},
		{"short date", []byte{amfDate, 0, 0}, ErrAMFTruncated},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := Decode(tt.b)
			if !errors.Is(err, tt.want) {
				t.Errorf("err = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestAMF0TooManyProps(t *testing.T) {
	b := []byte{amfObject}
	for range maxAMFItems + 1 {
		b = append(b, 0, 1, 'k', amfNull)
	}
	if _, _, err := Decode(b); !errors.Is(err, ErrAMFTooMany) {
		t.Errorf("err = %v, want ErrAMFTooMany", err)
	}
}

func FuzzAMF0Decode(f *testing.F) {
	f.Add(AppendObject(AppendNumber(AppendString(nil, "_result"), 1), []Prop{{"code", "NetConnection.Connect.Success"}}))
	f.Add([]byte{amfStrictArray, 0, 0, 0, 1, amfECMAArray, 0, 0, 0, 1, 0, 1, 'a', amfNumber, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, amfObjectEnd})
	f.Add([]byte{amfLongString, 0, 0, 0, 1, 'x'})
	f.Fuzz(func(t *testing.T, b []byte) {
		vals, err := DecodeAll(b)
		if err == nil && len(b) > 0 && len(vals) == 0 {
			t.Fatal("no values and no error from non-empty input")
		}
	})
}
