package handshake

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// PacketLen is the size of C1, C2, S1 and S2.
const PacketLen = 1536

// Version is the plain RTMP version byte (C0/S0).
const Version = 3

// Sentinel errors; the returned errors wrap them with the offending C0 value.
var (
	ErrRTMPE   = errors.New("handshake: RTMPE (encrypted RTMP) is not supported")
	ErrVersion = errors.New("handshake: unsupported RTMP version")
)

// serverVersion is what S1 carries in the digest handshake: nginx-rtmp's
// value. FFmpeg players validate S1 only when its first byte is >= 3, so a
// version >= 3 commits us to a correct digest and signature.
var serverVersion = [4]byte{0x0D, 0x0E, 0x0A, 0x0D}

// Result describes the client's handshake.
type Result struct {
	Digest        bool    // the client's C1 carried a valid digest: the edge answered with the digest (FP9) handshake
	Scheme        int     // SchemeOffset8 or SchemeOffset772: where the C1 digest was found (0 when Digest is false)
	ClientVersion [4]byte // C1[4:8]
	ClientTime    uint32  // C1[0:4]
}

// Serve performs the server side of the handshake: it reads C0+C1 from r,
// writes S0+S1+S2 to w in one Write right away (never waiting for C2), then
// reads and discards C2, which is never validated (nginx-rtmp and crtmpserver
// do not either; FFmpeg publishers send an S1 echo there).
//
// r is typically a *bufio.Reader over the conn: bytes after C2 stay unread in
// r. Serve reads exactly 1+1536+1536 bytes from r. Deadlines are the
// caller's: set them on the conn; a deadline error is returned wrapped.
func Serve(r io.Reader, w io.Writer) (Result, error) {
	c0c1, err := ReadC0C1(r)
	if err != nil {
		return Result{}, err
	}
	out, res := Respond(c0c1)
	if _, err := w.Write(out); err != nil {
		return res, fmt.Errorf("handshake: writing S0S1S2: %w", err)
	}
	// C1's buffer is free now: read C2 into it.
	if _, err := io.ReadFull(r, c0c1[1:]); err != nil {
		return res, fmt.Errorf("handshake: reading C2: %w", err)
	}
	return res, nil
}

// ReadC0C1 reads C0 and checks it before reading C1, so a client speaking
// something else (TLS, HTTP, RTMPE) is refused after one byte instead of
// waiting for 1536 more. It returns the 1537 bytes C0+C1.
func ReadC0C1(r io.Reader) ([]byte, error) {
	b := make([]byte, 1+PacketLen)
	if _, err := io.ReadFull(r, b[:1]); err != nil {
		return nil, fmt.Errorf("handshake: reading C0: %w", err)
	}
	if err := CheckC0(b[0]); err != nil {
		return nil, err
	}
	if _, err := io.ReadFull(r, b[1:]); err != nil {
		return nil, fmt.Errorf("handshake: reading C1: %w", err)
	}
	return b, nil
}

// CheckC0 classifies the first byte a client sends: nil for plain RTMP,
// ErrRTMPE for the encrypted variants (6, 8, 9), ErrVersion otherwise.
// The edge may use it to sniff the first byte before choosing a path.
func CheckC0(c0 byte) error {
	switch c0 {
	case Version:
		return nil
	case 6, 8, 9:
		return fmt.Errorf("%w (C0 = %d)", ErrRTMPE, c0)
	default:
		return fmt.Errorf("%w: C0 = 0x%02x", ErrVersion, c0)
	}
}

// Respond builds S0+S1+S2 (3073 bytes) for a 1537-byte C0+C1 whose C0 was
// already checked. With a valid C1 digest it answers the FP9 way; otherwise
// with the simple handshake (S1 version 0, S2 = C1 echo).
func Respond(c0c1 []byte) ([]byte, Result) {
	c1 := c0c1[1 : 1+PacketLen]
	res := Result{ClientTime: binary.BigEndian.Uint32(c1[0:4])}
	copy(res.ClientVersion[:], c1[4:8])

	out := make([]byte, 1+2*PacketLen)
	out[0] = Version
	s1 := out[1 : 1+PacketLen]
	s2 := out[1+PacketLen:]
	// S1 time stays 0 (the spec allows any epoch). crypto/rand never fails
	// on Linux (Go 1.24+ it panics instead of returning an error).
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
