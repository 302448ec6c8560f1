package rtmpt

import (
	"errors"
	"strconv"
	"strings"
)

// command is the first path segment of an RTMPT request.
type command string

const (
	cmdFCS   command = "fcs" // /fcs/ident2, /fcs/ident: answered 404
	cmdOpen  command = "open"
	cmdSend  command = "send"
	cmdIdle  command = "idle"
	cmdClose command = "close"
)

// Limits of the request path parser (everything in it is untrusted).
const (
	maxPathLen = 256 // longer request URIs are rejected before splitting
	maxIDLen   = 64  // our ids are 32; clients echo them verbatim
	maxSeqLen  = 19  // decimal digits of a uint64 that cannot overflow
)

var (
	errUnknownPath = errors.New("rtmpt: not an rtmpt path")
	errBadID       = errors.New("rtmpt: malformed session id")
	errBadSeq      = errors.New("rtmpt: malformed sequence number")
)

// tunnelPath is a parsed RTMPT request path.
type tunnelPath struct {
	cmd    command
	id     string // send/idle/close only
	seq    uint64
	hasSeq bool
}

// parsePath parses "/<cmd>/[<id>/]<seq>". Empty segments (stray or double
// slashes, a trailing slash) are ignored; a query string is ignored.
// It returns errUnknownPath for anything that is not an RTMPT command, and
// errBadID / errBadSeq for an RTMPT command with malformed arguments.
func parsePath(uri string) (tunnelPath, error) {
	if len(uri) > maxPathLen {
		return tunnelPath{}, errUnknownPath
	}
	if i := strings.IndexAny(uri, "?#"); i >= 0 {
		uri = uri[:i]
	}
	var segs [4]string
	n := 0
	for s := range strings.SplitSeq(uri, "/") {
		if s == "" {
			continue
		}
		if n == len(segs) {
			return tunnelPath{}, errUnknownPath
		}
		segs[n] = s
		n++
	}
	if n == 0 {
		return tunnelPath{}, errUnknownPath
	}
	// The command is one of the constants, never a slice of uri: the caller
	// may pass a view of a buffer that is reused after the request.
	var p tunnelPath
	for _, c := range [...]command{cmdFCS, cmdOpen, cmdSend, cmdIdle, cmdClose} {
		if segs[0] == string(c) {
			p.cmd = c
		}
	}
	switch p.cmd {
	case cmdFCS:
		if n != 2 || (segs[1] != "ident2" && segs[1] != "ident") {
			return tunnelPath{}, errUnknownPath
		}
		return p, nil
	case cmdOpen:
		// Every client sends the literal /open/1; accept any number there.
		if n != 2 {
			return tunnelPath{}, errUnknownPath
		}
		seq, err := parseSeq(segs[1])
		if err != nil {
			return tunnelPath{}, err
		}
		p.seq, p.hasSeq = seq, true
		return p, nil
	case cmdSend, cmdIdle, cmdClose:
		if n < 2 || n > 3 {
			return tunnelPath{}, errUnknownPath
		}
		if !validID(segs[1]) {
			return tunnelPath{}, errBadID
		}
		p.id = segs[1] // may be a view of the caller's buffer: see parsePath's callers
		if n == 3 {
			seq, err := parseSeq(segs[2])
			if err != nil {
				return tunnelPath{}, err
			}
			p.seq, p.hasSeq = seq, true
		} else if p.cmd != cmdClose {
			// Only close may omit the number (HaishinKit, RootEncoder).
			return tunnelPath{}, errBadSeq
		}
		return p, nil
	default:
		return tunnelPath{}, errUnknownPath
	}
}

func parseSeq(s string) (uint64, error) {
	if len(s) == 0 || len(s) > maxSeqLen {
		return 0, errBadSeq
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, errBadSeq
		}
	}
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, errBadSeq
	}
	return v, nil
}

// validID reports whether s looks like a session id: 1..maxIDLen ASCII
// letters and digits.
func validID(s string) bool {
	if len(s) == 0 || len(s) > maxIDLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z') {
			return false
		}
	}
	return true
}
