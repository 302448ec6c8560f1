package rtmpraw

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"
)

// handshakeSize is the size of C1/S1/C2/S2.
const handshakeSize = 1536

const rtmpVersion = 3

// ErrBadVersion is returned when the peer's C0/S0 is not RTMP version 3.
var ErrBadVersion = errors.New("rtmp handshake: unsupported version")

// ClientHandshake runs the simple handshake as a client: C0+C1, then S0+S1+S2,
// then C2 (an echo of S1). The caller sets deadlines.
func ClientHandshake(rw io.ReadWriter) error {
	c0c1 := make([]byte, 1+handshakeSize)
	c0c1[0] = rtmpVersion
	// time (4) and zero (4) stay zero: a simple handshake.
	if _, err := rand.Read(c0c1[9:]); err != nil {
		return fmt.Errorf("rtmp handshake: random C1: %w", err)
	}
	if _, err := rw.Write(c0c1); err != nil {
		return fmt.Errorf("rtmp handshake: write C0C1: %w", err)
	}
	s := make([]byte, 1+2*handshakeSize)
	if _, err := io.ReadFull(rw, s); err != nil {
		return fmt.Errorf("rtmp handshake: read S0S1S2: %w", err)
	}
	if s[0] != rtmpVersion {
		return fmt.Errorf("%w: S0 = %d", ErrBadVersion, s[0])
	}
	if _, err := rw.Write(s[1 : 1+handshakeSize]); err != nil {
		return fmt.Errorf("rtmp handshake: write C2: %w", err)
	}
	return nil
}

// ServerHandshake runs the simple handshake as a server: reads C0+C1, writes
// S0+S1+S2 at once (S2 echoes C1; never waiting for C2 first), then reads C2.
// A digest (FP9) C1 is answered the same way, which FFmpeg and librtmp accept
// from a server whose S1 carries a zero version.
func ServerHandshake(rw io.ReadWriter) error {
	c := make([]byte, 1+handshakeSize)
	if _, err := io.ReadFull(rw, c); err != nil {
		return fmt.Errorf("rtmp handshake: read C0C1: %w", err)
	}
	if c[0] != rtmpVersion {
		return fmt.Errorf("%w: C0 = %d", ErrBadVersion, c[0])
	}
	s := make([]byte, 1+2*handshakeSize)
	s[0] = rtmpVersion
	if _, err := rand.Read(s[9 : 1+handshakeSize]); err != nil {
		return fmt.Errorf("rtmp handshake: random S1: %w", err)
	}
	copy(s[1+handshakeSize:], c[1:])
	if _, err := rw.Write(s); err != nil {
		return fmt.Errorf("rtmp handshake: write S0S1S2: %w", err)
	}
	if _, err := io.ReadFull(rw, c[:handshakeSize]); err != nil {
		return fmt.Errorf("rtmp handshake: read C2: %w", err)
	}
	return nil
}
