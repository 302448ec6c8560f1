package harness

import (
	"errors"
	"testing"
)

func TestParseFrameMD5(t *testing.T) {
	out := []byte(`#format: frame checksums
#version: 2
#hash: MD5
#tb 0: 1/1000
#media_type 0: audio
#codec_id 0: aac
#tb 1: 1/1000
#media_type 1: video
#codec_id 1: h264
#stream#, dts,        pts, duration,     size, hash
0,          0,          0,       23,      209, 4504fddfe89b431f48c477a73cc60b25
1,         25,         25,       40,     9080, ab98208328f0ee08de1e03aa3df25485, S=1, 8, 00112233
`)
	ps, err := ParseFrameMD5(out)
	if err != nil {
		t.Fatal(err)
	}
	want := Packets{
		{Codec: "aac", Size: 209, Hash: "4504fddfe89b431f48c477a73cc60b25"},
		{Codec: "h264", Size: 9080, Hash: "ab98208328f0ee08de1e03aa3df25485"},
	}
	if len(ps) != len(want) {
		t.Fatalf("got %v, want %v", ps, want)
	}
	for i := range want {
		if ps[i] != want[i] {
			t.Errorf("packet %d: got %v, want %v", i, ps[i], want[i])
		}
	}
}

func TestParseFrameMD5Errors(t *testing.T) {
	for name, in := range map[string]string{
		"no codec line": "0, 0, 0, 1, 10, abcd\n",
		"short line":    "#codec_id 0: aac\n0, 0, 0\n",
		"bad size":      "#codec_id 0: aac\n0, 0, 0, 1, x, abcd\n",
		"bad codec":     "#codec_id 0 aac\n",
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := ParseFrameMD5([]byte(in)); err == nil {
				t.Fatal("no error")
			}
		})
	}
}

func TestCheckSubsetOf(t *testing.T) {
	pub := Packets{{"h264", 10, "a"}, {"h264", 11, "b"}, {"aac", 5, "c"}}
	tests := []struct {
		name string
		got  Packets
		min  int
		want error
	}{
		{"subset", Packets{{"h264", 11, "b"}, {"aac", 5, "c"}}, 1, nil},
		{"foreign hash", Packets{{"h264", 11, "x"}, {"aac", 5, "c"}}, 1, ErrForeignPacket},
		{"same hash other size", Packets{{"h264", 12, "b"}, {"aac", 5, "c"}}, 1, ErrForeignPacket},
		{"too few", Packets{{"h264", 11, "b"}}, 1, ErrNoPackets},
		{"empty", nil, 1, ErrNoPackets},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.got.CheckSubsetOf(pub, tc.min)
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
}

func TestParseStat(t *testing.T) {
	doc := []byte(`<?xml version="1.0" encoding="utf-8" ?>
<rtmp><server><application><name>live</name><live>
<stream><name>demo</name>
<client><id>2</id><address>127.0.0.9</address><flashver>LNX 9,0,124,2</flashver><active/></client>
<client><id>1</id><address>127.0.0.1</address><flashver>FMLE/3.0</flashver><publishing/><active/></client>
<client><id>7</id><address>127.0.0.1:32807/live</address><flashver>ngx-local-relay</flashver><active/></client>
<nclients>2</nclients><publishing/><active/></stream>
<nclients>2</nclients></live></application></server></rtmp>`)
	s, err := ParseStat(doc)
	if err != nil {
		t.Fatal(err)
	}
	st := s.Stream("demo")
	if len(st.Publishers) != 1 || st.Publishers[0].Address != "127.0.0.1" || st.Publishers[0].FlashVer != "FMLE/3.0" {
		t.Errorf("publishers: %+v", st.Publishers)
	}
	if len(st.Players) != 1 || st.Players[0].Address != "127.0.0.9" {
		t.Errorf("players: %+v", st.Players)
	}
	if len(st.Relays) != 1 || st.Relays[0].Address != "127.0.0.1:32807/live" {
		t.Errorf("relays: %+v", st.Relays)
	}
	if len(s.Stream("other").Players) != 0 {
		t.Error("unknown stream has players")
	}
	if _, err := ParseStat([]byte("<rtmp><server>")); err == nil {
		t.Error("truncated XML parsed")
	}
}

func TestChunkSplitsPayload(t *testing.T) {
	payload := make([]byte, 300)
	for i := range payload {
		payload[i] = byte(i)
	}
	b := Chunk(3, TypeCommandAMF0, 1, payload, 128, -1)
	// 12-byte type-0 header + 300 bytes + two 1-byte type-3 headers.
	if len(b) != 12+300+2 {
		t.Fatalf("len %d", len(b))
	}
	if b[0] != 3 || b[12+128] != 0xc3 || b[12+128+1+128] != 0xc3 {
		t.Fatalf("headers wrong: % x", []byte{b[0], b[140], b[269]})
	}
	if l := int(b[4])<<16 | int(b[5])<<8 | int(b[6]); l != 300 {
		t.Fatalf("length field %d", l)
	}
}

func TestAMF0(t *testing.T) {
	got := AMF0("a", 1.0, nil, true, AMFObject{"k": "v"})
	want := []byte{
		0x02, 0, 1, 'a',
		0x00, 0x3f, 0xf0, 0, 0, 0, 0, 0, 0,
		0x05,
		0x01, 1,
		0x03, 0, 1, 'k', 0x02, 0, 1, 'v', 0, 0, 0x09,
	}
	if string(got) != string(want) {
		t.Fatalf("got % x\nwant % x", got, want)
	}
}
