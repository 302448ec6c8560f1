package handshake

import (
	"errors"
	"fmt"
	"io"
	"sync"
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
	c0c1, err := readC0C1(r)
	if c0c1 != nil {
		defer inBufs.Put(c0c1b(c0c1))
	}
	if err != nil {
		return Result{}, err
	}
	out, res := respond(c0c1)
	_, err = w.Write(out)
	outBufs.Put(s0s1s2b(out))
	if err != nil {
		return res, fmt.Errorf("handshake: writing S0S1S2: %w", err)
	}
	// C1's buffer is free now: read C2 into it.
	if _, err := io.ReadFull(r, c0c1[1:]); err != nil {
		return res, fmt.Errorf("handshake: reading C2: %w", err)
	}
	return res, nil
}

// readC0C1 reads C0 and checks it before reading C1, so a client speaking
// something else (TLS, HTTP, RTMPE) is refused after one byte instead of
// waiting for 1536 more. It returns the 1537 bytes C0+C1.
// The 4.6 KB a handshake needs only while it runs are pooled: a session set-up
// at a thousand a second made them a tenth of the edge's garbage.
var (
	inBufs  = sync.Pool{New: func() any { return new([1 + PacketLen]byte) }}
	outBufs = sync.Pool{New: func() any { return new([1 + 2*PacketLen]byte) }}
)

func c0c1b(b []byte) *[1 + PacketLen]byte     { return (*[1 + PacketLen]byte)(b) }
func s0s1s2b(b []byte) *[1 + 2*PacketLen]byte { return (*[1 + 2*PacketLen]byte)(b) }

func readC0C1(r io.Reader) ([]byte, error) {
	b := inBufs.Get().(*[1 + PacketLen]byte)[:]
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
