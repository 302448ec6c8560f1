package routing

import (
	"errors"
	"fmt"
	"strings"
)

// Sentinel errors returned (wrapped) by Pool.Acquire; test with errors.Is.
var (
	// ErrNoServer means no candidate can take the session and waiting would not help:
	// every candidate is down, draining (and the client is not stuck to it) or excluded.
	ErrNoServer = errors.New("no usable server")
	// ErrQueueTimeout means every candidate was full and no slot freed up within
	// queue_timeout, or the caller's context ended while waiting.
	ErrQueueTimeout = errors.New("timed out waiting for a free server slot")
)

// errFull is internal: the pick found eligible servers, but all of them are at maxconn.
// Acquire turns it into waiting; it never leaves the package.
var errFull = errors.New("all eligible servers are full")

// FieldError is one configuration error, tied to the path of the offending field
// ("servers[2].weight"). Validate and NewClassifier return several of them joined
// with errors.Join.
type FieldError struct {
	Path string // yaml field path relative to the validated struct, e.g. "classify[0].app"
	Err  error
}

func (e *FieldError) Error() string { return e.Path + ": " + e.Err.Error() }

func (e *FieldError) Unwrap() error { return e.Err }

func fieldErrf(path, format string, args ...any) error {
	return &FieldError{Path: path, Err: fmt.Errorf(format, args...)}
}

// PrefixFieldErrors puts prefix in front of the path of every FieldError in err (which
// may be an errors.Join tree), so a caller that embeds a PoolConfig can report
// "pools[1].servers[2].weight: ...". Other errors get "prefix: " in front. nil stays nil.
func PrefixFieldErrors(prefix string, err error) error {
	if err == nil || prefix == "" {
		return err
	}
	if joined, ok := err.(interface{ Unwrap() []error }); ok {
		inner := joined.Unwrap()
		out := make([]error, 0, len(inner))
		for _, e := range inner {
			out = append(out, PrefixFieldErrors(prefix, e))
		}
		return errors.Join(out...)
	}
	var fe *FieldError
	if errors.As(err, &fe) && fe == err {
		sep := "."
		if strings.HasPrefix(fe.Path, "[") {
			sep = ""
		}
		return &FieldError{Path: prefix + sep + fe.Path, Err: fe.Err}
	}
	return fmt.Errorf("%s: %w", prefix, err)
}

// flattenJoined returns the members of an errors.Join result, or err itself.
func flattenJoined(err error) []error {
	if err == nil {
		return nil
	}
	if joined, ok := err.(interface{ Unwrap() []error }); ok {
		return joined.Unwrap()
	}
	return []error{err}
}
