package handshake

import (
	"crypto/hmac"
	"crypto/sha256"
)

// Digest schemes, named by where the 4 bytes that locate the digest start
// (offset 8 or offset 772 of C1/S1; projects disagree on "scheme 0/1" names).
const (
	SchemeOffset8   = 8
	SchemeOffset772 = 772
)

const digestLen = sha256.Size // 32

// digestOffset returns where the 32-byte digest sits in a 1536-byte C1/S1
// under the given scheme: the sum of 4 bytes modulo 728, past those 4 bytes.
// The result is always within [12, 1535-32] or [776, 1535-32] by
// construction, so callers may slice without further checks.
func digestOffset(pkt []byte, scheme int) int {
	b := pkt[scheme : scheme+4]
	sum := int(b[0]) + int(b[1]) + int(b[2]) + int(b[3])
	return sum%728 + scheme + 4
}

// packetDigest computes HMAC-SHA256(key, pkt without the 32 bytes at off).
func packetDigest(key, pkt []byte, off int) []byte {
	m := hmac.New(sha256.New, key)
	m.Write(pkt[:off])
	m.Write(pkt[off+digestLen:])
	return m.Sum(nil)
}

// findDigest looks for a valid digest keyed by key in a 1536-byte packet,
// trying the schemes in order. It returns the scheme and the digest bytes
// (aliasing pkt), or scheme 0 when none matches.
func findDigest(pkt, key []byte, schemes ...int) (int, []byte) {
	for _, scheme := range schemes {
		off := digestOffset(pkt, scheme)
		if hmac.Equal(packetDigest(key, pkt, off), pkt[off:off+digestLen]) {
			return scheme, pkt[off : off+digestLen]
		}
	}
	return 0, nil
}

// signature computes the S2/C2 signature: HMAC-SHA256 over the first 1504
// bytes, keyed by HMAC-SHA256(fullKey, peerDigest).
func signature(fullKey, peerDigest, pkt []byte) []byte {
	k := hmac.New(sha256.New, fullKey)
	k.Write(peerDigest)
	m := hmac.New(sha256.New, k.Sum(nil))
	m.Write(pkt[:PacketLen-digestLen])
	return m.Sum(nil)
}
