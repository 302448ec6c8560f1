package amf0

import "errors"

// Default limits: generous for any real command (a connect has 8–15 values
// and strings under 1 KiB), small enough that a hostile payload costs little.
const (
	DefaultMaxDepth  = 16
	DefaultMaxValues = 4096
	DefaultMaxString = 64 << 10
)

// Limits bound what Decode accepts. Zero fields take the defaults.
type Limits struct {
	MaxDepth  int // nesting of objects and arrays; top-level values are depth 0
	MaxValues int // values decoded in total, nested ones and property values included
	MaxString int // bytes of one string, long string or XML document
}

func (l Limits) withDefaults() Limits {
	if l.MaxDepth <= 0 {
		l.MaxDepth = DefaultMaxDepth
	}
	if l.MaxValues <= 0 {
		l.MaxValues = DefaultMaxValues
	}
	if l.MaxString <= 0 {
		l.MaxString = DefaultMaxString
	}
	return l
}

// Sentinel errors; returned errors wrap them with the offset and details.
var (
	ErrMalformed = errors.New("amf0: malformed")
	ErrLimit     = errors.New("amf0: limit exceeded")
	// ErrNotConnect: ParseConnect was given another command.
	ErrNotConnect = errors.New("amf0: command is not connect")
)
