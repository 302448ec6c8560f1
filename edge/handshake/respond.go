package handshake

import (
	"crypto/rand"
	"encoding/binary"
)

// serverVersion is what S1 carries in the digest handshake: nginx-rtmp's
// value. FFmpeg players validate S1 only when its first byte is >= 3, so a
// version >= 3 commits us to a correct digest and signature.
var serverVersion = [4]byte{0x0D, 0x0E, 0x0A, 0x0D}

// respond builds S0+S1+S2 (3073 bytes) for a 1537-byte C0+C1 whose C0 was
// already checked. With a valid C1 digest it answers the FP9 way; otherwise
// with the simple handshake (S1 version 0, S2 = C1 echo).
func respond(c0c1 []byte) ([]byte, Result) {
	c1 := c0c1[1 : 1+PacketLen]
	res := Result{ClientTime: binary.BigEndian.Uint32(c1[0:4])}
	copy(res.ClientVersion[:], c1[4:8])

	out := outBufs.Get().(*[1 + 2*PacketLen]byte)[:] // pooled: every byte is written below
	out[0] = Version
	s1 := out[1 : 1+PacketLen]
	s2 := out[1+PacketLen:]
	clear(s1[:8]) // time and version: zero unless the digest branch sets the version
	// S1 time stays 0 (the spec allows any epoch). crypto/rand.Read never
	// returns an error since Go 1.24.
	rand.Read(s1[8:])

	// Like nginx-rtmp: a zero version means an old-style client; do not look
	// for a digest. Like nginx-rtmp, crtmpserver: no valid digest is not an
	// error, just the simple handshake.
	var digest []byte
	if res.ClientVersion != [4]byte{} {
		res.Scheme, digest = findDigest(c1, partialFPKey, SchemeOffset8, SchemeOffset772)
	}
	if digest == nil {
		res.Scheme = 0
		copy(s2, c1)
		return out, res
	}
	res.Digest = true
	copy(s1[4:8], serverVersion[:])
	off := digestOffset(s1, SchemeOffset8)
	copy(s1[off:], packetDigest(partialFMSKey, s1, off))
	rand.Read(s2[:PacketLen-digestLen])
	copy(s2[PacketLen-digestLen:], signature(genuineFMSKey, digest, s2))
	return out, res
}
