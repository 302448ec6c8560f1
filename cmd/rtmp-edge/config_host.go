package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/rtmp-edge/rtmp-edge/edge"
	"github.com/rtmp-edge/rtmp-edge/upstream"
)

// checkTransparent is upstream.CheckTransparent; tests put a fake host here.
var checkTransparent = upstream.CheckTransparent

// hostProblems finds what the file asks of this host that the host cannot
// give, before anything starts: today, dialing media servers from the
// client's address (source clientip or client), which needs IP_TRANSPARENT
// (CAP_NET_ADMIN) and policy routing for the replies. Without them every
// session would fail at its first dial.
func hostProblems(cfg *edge.Config) []*edge.FieldError {
	var out []*edge.FieldError
	first := ""
	var why error
	for i, b := range cfg.Backends {
		if b.Source != upstream.SourceClientIP && b.Source != upstream.SourceClient {
			continue
		}
		path := fmt.Sprintf("backends[%d].source", i)
		if first == "" {
			first = path
			why = checkTransparent()
			if why == nil {
				return nil
			}
			out = append(out, &edge.FieldError{Path: path, Err: fmt.Errorf("%s dials media servers from each client's address, and this host is not set up for it: %s", b.Source, transparentWhy(why))})
			continue
		}
		// The set-up is per host: say it once, in full, at the first backend.
		out = append(out, &edge.FieldError{Path: path, Err: fmt.Errorf("%s: this host is not set up for it (see %s)", b.Source, first)})
	}
	return out
}

// transparentWhy is CheckTransparent's account of what is missing, without
// the sentinel's own words, which the message already says.
func transparentWhy(err error) string {
	if errors.Is(err, upstream.ErrTransparentUnsupported) {
		return "it needs Linux (IP_TRANSPARENT)"
	}
	s := err.Error()
	if prefix := upstream.ErrTransparentNotReady.Error() + ": "; strings.HasPrefix(s, prefix) {
		s = s[len(prefix):]
	}
	return s
}
