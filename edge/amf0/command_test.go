package amf0

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func command(name string, txid float64, rest ...func([]byte) []byte) []byte {
	b := num(str(nil, name), txid)
	for _, f := range rest {
		b = f(b)
	}
	return b
}

func objF(kv ...any) func([]byte) []byte { return func(b []byte) []byte { return obj(b, kv...) } }

var nullF = func(b []byte) []byte { return null(b) }

func TestParseConnect(t *testing.T) {
	obsConnect := command("connect", 1, objF("app", S("live"), "type", S("nonprivate"),
		"flashVer", S("FMLE/3.0 (compatible; FMSc/1.0)"), "swfUrl", S("rtmp://h/live"), "tcUrl", S("rtmp://h/live")))
	tests := []struct {
		name    string
		payload []byte
		msgType uint8
		want    Connect
	}{
		{"OBS", obsConnect, 20, Connect{App: "live", Type: "nonprivate", FlashVer: "FMLE/3.0 (compatible; FMSc/1.0)",
			SwfURL: "rtmp://h/live", TcURL: "rtmp://h/live", TxID: 1}},
		{"AMF3 command type 17: one leading byte", append([]byte{0}, obsConnect...), 17, Connect{App: "live", Type: "nonprivate",
			FlashVer: "FMLE/3.0 (compatible; FMSc/1.0)", SwfURL: "rtmp://h/live", TcURL: "rtmp://h/live", TxID: 1}},
		{"player fields, null swfUrl ignored, user args after the object",
			command("connect", 1, objF("app", S("vod"), "flashVer", S("LNX 9,0,124,2"), "swfUrl", Raw(markerNull),
				"tcUrl", S("rtmp://h/vod"), "fpad", B(false), "capabilities", N(15), "pageUrl", S("http://p"),
				"objectEncoding", N(3)), func(b []byte) []byte { return boolean(b, true) }, S("auth")),
			20, Connect{App: "vod", FlashVer: "LNX 9,0,124,2", TcURL: "rtmp://h/vod", PageURL: "http://p", ObjectEncoding: 3, TxID: 1}},
		{"names are case-sensitive, non-strings ignored",
			command("connect", 1, objF("App", S("no"), "app", N(5), "tcurl", S("no"), "tcUrl", S("yes"))),
			20, Connect{TcURL: "yes", TxID: 1}},
		{"ECMA array as command object",
			command("connect", 2, func(b []byte) []byte { return objEnd(props(append(b, markerECMAArray, 0, 0, 0, 1), "app", S("e"))) }),
			20, Connect{App: "e", TxID: 2}},
		{"AMF3 switch in a late property: earlier ones kept",
			command("connect", 1, objF("app", S("live"), "tcUrl", S("rtmp://h/live"), "x", Raw(markerAVMPlus, 1))),
			20, Connect{App: "live", TcURL: "rtmp://h/live", TxID: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd, err := ParseCommand(tt.payload, tt.msgType)
			if err != nil {
				t.Fatalf("ParseCommand: %v", err)
			}
			got, err := ParseConnect(cmd)
			if err != nil {
				t.Fatalf("ParseConnect: %v", err)
			}
			if got != tt.want {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestParseCommandArgs(t *testing.T) {
	cmd, err := ParseCommand(command("connect", 1, objF("app", S("a")), S("u1"), N(2)), 20)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(cmd.Args, []Value{"u1", 2.0}) || !reflect.DeepEqual(cmd.Object, Object{{"app", "a"}}) {
		t.Errorf("cmd = %#v", cmd)
	}
}

func TestParseCommandErrors(t *testing.T) {
	tests := []struct {
		name    string
		payload []byte
		msgType uint8
		wantMsg string
	}{
		{"not a command type", command("connect", 1), 18, "message type 18"},
		{"empty AMF3 command", nil, 17, "empty AMF3"},
		{"empty", nil, 20, "0 values"},
		{"name only", str(nil, "connect"), 20, "1 values"},
		{"name not a string", num(num(nil, 1), 1), 20, "name is a float64"},
		{"txid not a number", str(str(nil, "connect"), "1"), 20, "transaction ID"},
		{"truncated object", command("connect", 1, objF("app", S("live")))[:25], 20, "decoding command"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseCommand(tt.payload, tt.msgType)
			if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("err = %v, want ErrMalformed mentioning %q", err, tt.wantMsg)
			}
		})
	}
}

func TestParseConnectErrors(t *testing.T) {
	cmd, _ := ParseCommand(command("createStream", 2, nullF), 20)
	if _, err := ParseConnect(cmd); !errors.Is(err, ErrNotConnect) || !strings.Contains(err.Error(), "createStream") {
		t.Errorf("createStream: err = %v", err)
	}
	cmd, _ = ParseCommand(command("connect", 1, nullF), 20)
	if _, err := ParseConnect(cmd); !errors.Is(err, ErrMalformed) {
		t.Errorf("connect with null object: err = %v", err)
	}
	cmd, _ = ParseCommand(command("connect", 1), 20)
	if _, err := ParseConnect(cmd); !errors.Is(err, ErrMalformed) {
		t.Errorf("connect without object: err = %v", err)
	}
}

func TestParseStreamCommand(t *testing.T) {
	tests := []struct {
		name    string
		payload []byte
		want    StreamCommand
		ok      bool
	}{
		{"publish live", command("publish", 5, nullF, S("key?token=1"), S("live")), StreamCommand{"publish", 5, "key?token=1", "live"}, true},
		{"publish without type", command("publish", 5, nullF, S("key")), StreamCommand{"publish", 5, "key", ""}, true},
		{"play with start and duration", command("play", 4, nullF, S("x"), N(-2000), N(-1)), StreamCommand{"play", 4, "x", ""}, true},
		{"play without a name", command("play", 4, nullF), StreamCommand{}, false},
		{"play with a non-string name", command("play", 4, nullF, N(1)), StreamCommand{}, false},
		{"other command", command("FCPublish", 3, nullF, S("key")), StreamCommand{}, false},
		{"case matters", command("Publish", 3, nullF, S("key")), StreamCommand{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd, err := ParseCommand(tt.payload, 20)
			if err != nil {
				t.Fatal(err)
			}
			got, ok := ParseStreamCommand(cmd)
			if ok != tt.ok || got != tt.want {
				t.Errorf("got %+v, %v; want %+v, %v", got, ok, tt.want, tt.ok)
			}
		})
	}
}

// nginx-rtmp and Red5 skip the leading byte of an AMF3 command whatever it is.
func TestParseCommandAMF3LeadingByteSkipped(t *testing.T) {
	for _, lead := range []byte{0x00, 0x03, 0xFF} {
		cmd, err := ParseCommand(append([]byte{lead}, command("play", 4, nullF, S("s"))...), TypeCommandAMF3)
		if err != nil || cmd.Name != "play" || cmd.TxID != 4 {
			t.Errorf("leading byte %#x: %+v, %v", lead, cmd, err)
		}
	}
}
