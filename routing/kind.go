package routing

import (
	"fmt"
	"strconv"
)

// Kind says what a session does once connected: watch (Play) or upload (Publish).
// It decides the candidate servers: uploads prefer the servers marked `upload`.
type Kind uint8

const (
	// Play is a viewer: any server can serve it.
	Play Kind = iota
	// Publish is an uploader: it goes to an `upload: true` server when one is usable.
	Publish
)

// String returns "play" or "publish" (the spelling used in config rules and logs).
func (k Kind) String() string {
	switch k {
	case Play:
		return "play"
	case Publish:
		return "publish"
	default:
		return "kind(" + strconv.Itoa(int(k)) + ")"
	}
}

// ParseKind is the inverse of String; it accepts exactly "play" and "publish".
func ParseKind(s string) (Kind, error) {
	switch s {
	case "play":
		return Play, nil
	case "publish":
		return Publish, nil
	default:
		return 0, fmt.Errorf("must be %q or %q, got %q", "publish", "play", s)
	}
}
