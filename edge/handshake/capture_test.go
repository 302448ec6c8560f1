package handshake

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// The C0+C1 that real clients sent, recorded by edge/chunk/internal/capture.
var captures = []struct {
	file    string
	digest  bool
	scheme  int
	version [4]byte
}{
	{"ffmpeg-play.c0c1.bin", true, SchemeOffset8, [4]byte{9, 0, 124, 2}},
	{"ffmpeg-publish.c0c1.bin", true, SchemeOffset8, [4]byte{9, 0, 124, 2}},
	{"rtmpdump-play.c0c1.bin", false, 0, [4]byte{}},
	{"rtmpdump-swfvfy.c0c1.bin", true, SchemeOffset8, [4]byte{10, 0, 45, 2}},
}

func readCapture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	if len(b) != 1+PacketLen {
		t.Fatalf("%s: %d bytes, want %d", name, len(b), 1+PacketLen)
	}
	return b
}

func TestServeCapturedClients(t *testing.T) {
	for _, c := range captures {
		t.Run(c.file, func(t *testing.T) {
			c0c1 := readCapture(t, c.file)
			var w bytes.Buffer
			res, err := Serve(io.MultiReader(bytes.NewReader(c0c1), bytes.NewReader(make([]byte, PacketLen))), &w)
			if err != nil {
				t.Fatal(err)
			}
			if res.Digest != c.digest || res.Scheme != c.scheme || res.ClientVersion != c.version {
				t.Errorf("Result = %+v, want digest %v scheme %d version %v", res, c.digest, c.scheme, c.version)
			}
			if c.digest {
				err = verifyDigestReply(c0c1, w.Bytes(), c.scheme)
			} else {
				err = verifySimpleReply(c0c1, w.Bytes())
			}
			if err != nil {
				t.Error(err)
			}
		})
	}
}

// FuzzServe: whatever a client sends, Serve either refuses it with a named
// error or answers with a reply a real client would accept, reading exactly
// C0+C1+C2.
func FuzzServe(f *testing.F) {
	for _, c := range captures {
		b, err := os.ReadFile(filepath.Join("testdata", c.file))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(append(b, make([]byte, PacketLen)...))
		f.Add(b[:700])
	}
	f.Add(append(newDigestC1(SchemeOffset772), make([]byte, PacketLen+10)...))
	f.Add([]byte{6})
	f.Add([]byte("GET / HTTP/1.1\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		in := bytes.NewReader(data)
		var w bytes.Buffer
		res, err := Serve(in, &w)
		if err != nil {
			if !errors.Is(err, ErrRTMPE) && !errors.Is(err, ErrVersion) &&
				!errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Fatalf("unexpected error kind: %v", err)
			}
			return
		}
		if consumed := len(data) - in.Len(); consumed != 1+2*PacketLen {
			t.Fatalf("consumed %d bytes", consumed)
		}
		c0c1 := data[:1+PacketLen]
		if res.Digest {
			err = verifyDigestReply(c0c1, w.Bytes(), res.Scheme)
		} else {
			err = verifySimpleReply(c0c1, w.Bytes())
		}
		if err != nil {
			t.Fatal(err)
		}
	})
}

func benchmarkServe(b *testing.B, c0c1 []byte) {
	in := append(bytes.Clone(c0c1), make([]byte, PacketLen)...)
	r := bytes.NewReader(in)
	b.ReportAllocs()
	b.SetBytes(int64(len(in)))
	for b.Loop() {
		r.Reset(in)
		if _, err := Serve(r, io.Discard); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkServeSimple(b *testing.B) { benchmarkServe(b, readCapture(b, "rtmpdump-play.c0c1.bin")) }
func BenchmarkServeDigest(b *testing.B) { benchmarkServe(b, readCapture(b, "ffmpeg-play.c0c1.bin")) }
