package handshake

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
)

// testClient is an FP9 client written from FFmpeg's rtmp_handshake
// (libavformat/rtmpproto.c), independent of the server code paths except for
// the shared key constants and offset formula.
type testClient struct {
	c1 []byte
}

// newDigestC1 builds C0+C1 the way FFmpeg does: version 9.0.124.2 and a
// digest at the given scheme keyed by the partial (30-byte) FP key.
func newDigestC1(scheme int) []byte {
	return newDigestC1Version(scheme, [4]byte{9, 0, 124, 2})
}

func newDigestC1Version(scheme int, version [4]byte) []byte {
	b := make([]byte, 1+PacketLen)
	b[0] = Version
	c1 := b[1:]
	rand.Read(c1[8:])
	binary.BigEndian.PutUint32(c1[0:4], 12345)
	copy(c1[4:8], version[:])
	off := testOffset(c1, scheme)
	m := hmac.New(sha256.New, genuineFPKey[:30])
	m.Write(c1[:off])
	m.Write(c1[off+32:])
	copy(c1[off:], m.Sum(nil))
	return b
}

// newSimpleC1 builds C0+C1 the way rtmpdump does without swfVfy: zero version.
func newSimpleC1() []byte {
	b := make([]byte, 1+PacketLen)
	b[0] = Version
	rand.Read(b[9:])
	return b
}

func testOffset(p []byte, scheme int) int {
	return (int(p[scheme])+int(p[scheme+1])+int(p[scheme+2])+int(p[scheme+3]))%728 + scheme + 4
}

func testHMAC(key []byte, parts ...[]byte) []byte {
	m := hmac.New(sha256.New, key)
	for _, p := range parts {
		m.Write(p)
	}
	return m.Sum(nil)
}

// verifyDigestReply checks S0S1S2 as an FFmpeg player does: the S1 digest at
// offset-772 then offset-8 with the partial FMS key, then the S2 signature
// keyed by HMAC(full FMS key, C1 digest).
func verifyDigestReply(c0c1, out []byte, clientScheme int) error {
	if len(out) != 1+2*PacketLen {
		return fmt.Errorf("reply is %d bytes", len(out))
	}
	if out[0] != 3 {
		return fmt.Errorf("S0 = %d", out[0])
	}
	s1, s2 := out[1:1+PacketLen], out[1+PacketLen:]
	if s1[4] < 3 {
		return fmt.Errorf("S1 version %v: FFmpeg would not validate", s1[4:8])
	}
	found := false
	for _, scheme := range []int{772, 8} {
		off := testOffset(s1, scheme)
		if hmac.Equal(testHMAC(genuineFMSKey[:36], s1[:off], s1[off+32:]), s1[off:off+32]) {
			found = true
			break
		}
	}
	if !found {
		return fmt.Errorf("Server response validating failed")
	}
	c1 := c0c1[1:]
	cOff := testOffset(c1, clientScheme)
	key := testHMAC(genuineFMSKey, c1[cOff:cOff+32])
	if !hmac.Equal(testHMAC(key, s2[:1504]), s2[1504:]) {
		return fmt.Errorf("Signature mismatch")
	}
	return nil
}

func verifySimpleReply(c0c1, out []byte) error {
	if len(out) != 1+2*PacketLen {
		return fmt.Errorf("reply is %d bytes", len(out))
	}
	if out[0] != 3 {
		return fmt.Errorf("S0 = %d", out[0])
	}
	s1, s2 := out[1:1+PacketLen], out[1+PacketLen:]
	if !bytes.Equal(s1[4:8], []byte{0, 0, 0, 0}) {
		return fmt.Errorf("S1 version %v, want zero", s1[4:8])
	}
	if !bytes.Equal(s2, c0c1[1:]) {
		return fmt.Errorf("S2 is not the C1 echo")
	}
	return nil
}
