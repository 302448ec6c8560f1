package amf0

import (
	"bytes"
	"errors"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestEncodeRoundTrip(t *testing.T) {
	long := strings.Repeat("x", 70000)
	tests := []struct {
		name string
		in   []Value
		want []Value // nil: same as in
	}{
		{"number", []Value{1.5, -0.0, math.MaxFloat64, math.Inf(-1)}, nil},
		{"int and uint32 become numbers", []Value{3, uint32(5)}, []Value{3.0, 5.0}},
		{"bools", []Value{true, false}, nil},
		{"strings", []Value{"", "héllo", strings.Repeat("y", 65535)}, nil},
		{"long string", []Value{long}, nil},
		{"null and undefined", []Value{nil, Undefined{}}, nil},
		{"reference and date", []Value{Reference(7), Date{Millis: 1e12, TimeZone: -60}}, nil},
		{"object", []Value{Object{{"fmsVer", "FMS/3,0,1,123"}, {"capabilities", 31.0}, {"nested", Object{{"a", nil}}}}}, nil},
		{"empty object", []Value{Object{}}, []Value{Object(nil)}},
		{"empty key", []Value{Object{{"", 1.0}, {"a", ""}}}, nil},
		{"ECMA array", []Value{ECMAArray{{"version", "3,5,3,888"}, {"n", 1.0}}}, nil},
		{"strict array", []Value{StrictArray{"av01", "hvc1", StrictArray{1.0}}}, nil},
		{"empty strict array", []Value{StrictArray{}}, nil},
		{"connect result", []Value{"_result", 1.0,
			Object{{"fmsVer", "FMS/3,0,1,123"}, {"capabilities", 31.0}},
			Object{{"level", "status"}, {"code", "NetConnection.Connect.Success"}, {"description", "Connection succeeded."},
				{"objectEncoding", 0.0}, {"fourCcList", StrictArray{"av01", "vp09", "hvc1"}},
				{"videoFourCcInfoMap", Object{{"*", 3.0}}}}}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := Encode(tt.in...)
			if err != nil {
				t.Fatal(err)
			}
			got, err := Decode(b, Limits{MaxString: 1 << 20})
			if err != nil {
				t.Fatal(err)
			}
			want := tt.want
			if want == nil {
				want = tt.in
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("round trip:\n got %#v\nwant %#v", got, want)
			}
		})
	}
}

// The encoder writes exactly what the hand encoders of the decoder tests
// write (and what clients send): markers, lengths, the ECMA count, the end.
func TestEncodeBytes(t *testing.T) {
	want := num(nil, 2)
	want = str(want, "x")
	want = obj(want, "a", B(true), "b", Raw(markerNull))
	want = append(want, markerECMAArray, 0, 0, 0, 1)
	want = objEnd(props(want, "k", S("v")))
	want = append(want, markerStrictArray, 0, 0, 0, 1)
	want = num(want, 1)
	want = longStr(want, strings.Repeat("z", 65536))
	got, err := Encode(2.0, "x", Object{{"a", true}, {"b", nil}}, ECMAArray{{"k", "v"}}, StrictArray{1},
		strings.Repeat("z", 65536))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("got  % x\nwant % x", got[:min(len(got), 80)], want[:min(len(want), 80)])
	}
}

// Real commands decode and encode back to the very bytes the client sent.
func TestEncodeCapturesByteExact(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.bin"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no captures: %v", err)
	}
	for _, name := range files {
		t.Run(filepath.Base(name), func(t *testing.T) {
			b, err := os.ReadFile(name)
			if err != nil {
				t.Fatal(err)
			}
			vals, err := Decode(b, Limits{})
			if err != nil {
				t.Fatal(err)
			}
			got, err := Encode(vals...)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, b) {
				t.Errorf("re-encoded differs:\n got % x\nwant % x", got, b)
			}
		})
	}
}

func TestEncodeCommand(t *testing.T) {
	got, err := EncodeCommand("_result", 4, nil, 1)
	if err != nil {
		t.Fatal(err)
	}
	cmd, err := ParseCommand(got, TypeCommandAMF0)
	if err != nil {
		t.Fatal(err)
	}
	if cmd.Name != "_result" || cmd.TxID != 4 || cmd.Object != nil || !reflect.DeepEqual(cmd.Args, []Value{1.0}) {
		t.Errorf("parsed %#v", cmd)
	}
}

func TestEncodeErrors(t *testing.T) {
	deepObj := Value(nil)
	for range DefaultMaxDepth + 1 {
		deepObj = Object{{"o", deepObj}}
	}
	okDeep := Value(nil)
	for range DefaultMaxDepth {
		okDeep = StrictArray{okDeep}
	}
	tests := []struct {
		name string
		v    Value
		msg  string
	}{
		{"Go type", struct{}{}, "struct {} is not an AMF0 value"},
		{"int64", int64(1), "int64"},
		{"nested bad type", Object{{"a", []string{"x"}}}, "[]string"},
		{"key over 65535", ECMAArray{{strings.Repeat("k", 65536), 1.0}}, "65536 bytes"},
		{"too deep", deepObj, "nesting deeper than 16"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			prefix := []byte{1, 2, 3}
			b, err := Append(prefix, tt.v)
			if !errors.Is(err, ErrEncode) || !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("err = %v, want ErrEncode mentioning %q", err, tt.msg)
			}
			if !bytes.Equal(b, prefix) {
				t.Errorf("half-written value left: % x", b)
			}
		})
	}
	b, err := Encode(okDeep)
	if err != nil {
		t.Fatalf("depth 16: %v", err)
	}
	if _, err := Decode(b, Limits{}); err != nil {
		t.Fatalf("depth 16 does not decode: %v", err)
	}
}

// FuzzEncode: whatever Decode accepts, Encode writes back, and decoding that
// gives the same values again (encode∘decode is a fixed point after one
// pass: typed objects become objects, XML documents strings).
func FuzzEncode(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*.bin"))
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add(deep(16))
	f.Fuzz(func(t *testing.T, b []byte) {
		vals, err := Decode(b, Limits{})
		if err != nil {
			return
		}
		once, err := Encode(vals...)
		if err != nil {
			t.Fatalf("decoded values do not encode: %v", err)
		}
		again, err := Decode(once, Limits{})
		if err != nil {
			t.Fatalf("encoded values do not decode: %v", err)
		}
		twice, err := Encode(again...)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(once, twice) {
			t.Fatalf("not a fixed point:\n% x\n% x", once, twice)
		}
	})
}
