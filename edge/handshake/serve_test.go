package handshake

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"testing"
	"time"
)

// recorder counts Write calls: S0S1S2 must go out in one.
type recorder struct {
	bytes.Buffer
	writes int
}

func (r *recorder) Write(p []byte) (int, error) { r.writes++; return r.Buffer.Write(p) }

func TestServe(t *testing.T) {
	garbage := newDigestC1(SchemeOffset8)
	garbage[100] ^= 0xFF // version set, digest no longer valid
	// A valid digest computed with a zero version: still the simple path,
	// as nginx-rtmp decides on the version alone.
	zeroVersionWithDigest := newDigestC1Version(SchemeOffset8, [4]byte{})

	tests := []struct {
		name       string
		c0c1       []byte
		wantDigest bool
		wantScheme int
	}{
		{"simple zero version", newSimpleC1(), false, 0},
		{"digest offset-8 (FFmpeg, librtmp)", newDigestC1(SchemeOffset8), true, SchemeOffset8},
		{"digest offset-772", newDigestC1(SchemeOffset772), true, SchemeOffset772},
		{"version set, garbage digest", garbage, false, 0},
		{"zero version is never checked for a digest", zeroVersionWithDigest, false, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c2 := bytes.Repeat([]byte{0xC2}, PacketLen)
			after := []byte("connect-bytes")
			in := bytes.NewReader(append(append(append([]byte{}, tt.c0c1...), c2...), after...))
			var w recorder
			res, err := Serve(in, &w)
			if err != nil {
				t.Fatalf("Serve: %v", err)
			}
			if w.writes != 1 {
				t.Errorf("S0S1S2 written in %d writes, want 1", w.writes)
			}
			if res.Digest != tt.wantDigest || res.Scheme != tt.wantScheme {
				t.Errorf("Digest, Scheme = %v, %d; want %v, %d", res.Digest, res.Scheme, tt.wantDigest, tt.wantScheme)
			}
			if !bytes.Equal(res.ClientVersion[:], tt.c0c1[5:9]) {
				t.Errorf("ClientVersion = %v", res.ClientVersion)
			}
			if res.ClientTime != uint32(tt.c0c1[1])<<24|uint32(tt.c0c1[2])<<16|uint32(tt.c0c1[3])<<8|uint32(tt.c0c1[4]) {
				t.Errorf("ClientTime = %d", res.ClientTime)
			}
			if tt.wantDigest {
				err = verifyDigestReply(tt.c0c1, w.Bytes(), tt.wantScheme)
			} else {
				err = verifySimpleReply(tt.c0c1, w.Bytes())
			}
			if err != nil {
				t.Error(err)
			}
			rest, _ := io.ReadAll(in)
			if !bytes.Equal(rest, after) {
				t.Errorf("bytes after C2 = %q, want them unread", rest)
			}
		})
	}
}

// The S1 digest is at offset-8, as nginx-rtmp does; each reply is fresh.
func TestServeDigestS1Layout(t *testing.T) {
	c0c1 := newDigestC1(SchemeOffset8)
	out1, _ := respond(c0c1)
	out2, _ := respond(c0c1)
	s1 := out1[1 : 1+PacketLen]
	if !bytes.Equal(s1[0:8], []byte{0, 0, 0, 0, 0x0D, 0x0E, 0x0A, 0x0D}) {
		t.Errorf("S1 time+version = % x", s1[0:8])
	}
	off := testOffset(s1, 8)
	if !bytes.Equal(testHMAC(genuineFMSKey[:36], s1[:off], s1[off+32:]), s1[off:off+32]) {
		t.Error("S1 digest is not at the offset-8 position")
	}
	if bytes.Equal(out1[1+PacketLen:], out2[1+PacketLen:]) || bytes.Equal(out1[9:1+PacketLen], out2[9:1+PacketLen]) {
		t.Error("two replies share their random bytes")
	}
}

func TestServeRefusesC0(t *testing.T) {
	tests := []struct {
		c0      byte
		want    error
		wantMsg string
	}{
		{6, ErrRTMPE, "C0 = 6"},
		{8, ErrRTMPE, "C0 = 8"},
		{9, ErrRTMPE, "C0 = 9"},
		{0x16, ErrVersion, "0x16"}, // TLS ClientHello
		{'G', ErrVersion, "0x47"},  // HTTP GET
		{'P', ErrVersion, "0x50"},  // HTTP POST (RTMPT)
		{0xF3, ErrVersion, "0xf3"}, // SRS proxy prefix: not supported
		{0, ErrVersion, "0x00"},
	}
	for _, tt := range tests {
		c0c1 := newSimpleC1()
		c0c1[0] = tt.c0
		var w recorder
		in := bytes.NewReader(c0c1)
		_, err := Serve(in, &w)
		if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.wantMsg) {
			t.Errorf("C0 %#x: err = %v, want %v mentioning %q", tt.c0, err, tt.want, tt.wantMsg)
		}
		if w.Len() != 0 {
			t.Errorf("C0 %#x: wrote %d bytes to a refused client", tt.c0, w.Len())
		}
		if in.Len() != PacketLen {
			t.Errorf("C0 %#x: read %d bytes past C0", tt.c0, len(c0c1)-1-in.Len())
		}
	}
}

func TestServeTruncated(t *testing.T) {
	full := append(newSimpleC1(), make([]byte, PacketLen)...)
	tests := []struct {
		n       int
		wantMsg string
		wantErr error
	}{
		{0, "handshake: reading C0: EOF", io.EOF},
		{1, "handshake: reading C1: EOF", io.EOF},
		{100, "handshake: reading C1: unexpected EOF", io.ErrUnexpectedEOF},
		{1 + PacketLen, "handshake: reading C2: EOF", io.EOF},
		{len(full) - 1, "handshake: reading C2: unexpected EOF", io.ErrUnexpectedEOF},
	}
	for _, tt := range tests {
		_, err := Serve(bytes.NewReader(full[:tt.n]), io.Discard)
		if err == nil || err.Error() != tt.wantMsg || !errors.Is(err, tt.wantErr) {
			t.Errorf("%d bytes: err = %v, want %q", tt.n, err, tt.wantMsg)
		}
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, io.ErrClosedPipe }

func TestServeWriteError(t *testing.T) {
	_, err := Serve(bytes.NewReader(newSimpleC1()), failWriter{})
	if !errors.Is(err, io.ErrClosedPipe) || !strings.Contains(err.Error(), "writing S0S1S2") {
		t.Errorf("err = %v", err)
	}
}

// A client that stops mid-handshake is ended by the caller's deadline.
func TestServeStalledClientDeadline(t *testing.T) {
	stages := []struct {
		name string
		send int
		want string
	}{
		{"before C0", 0, "reading C0"},
		{"mid C1", 700, "reading C1"},
		{"before C2", 1 + PacketLen, "reading C2"},
	}
	for _, st := range stages {
		t.Run(st.name, func(t *testing.T) {
			client, server := net.Pipe()
			defer client.Close()
			defer server.Close()
			go func() {
				c0c1 := newSimpleC1()
				client.Write(c0c1[:st.send])
				io.Copy(io.Discard, client) // read S0S1S2, then never send more
			}()
			server.SetDeadline(time.Now().Add(200 * time.Millisecond))
			_, err := Serve(server, server)
			if !errors.Is(err, os.ErrDeadlineExceeded) || !strings.Contains(err.Error(), st.want) {
				t.Errorf("err = %v, want a deadline error while %s", err, st.want)
			}
		})
	}
}
