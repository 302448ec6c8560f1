// Package load runs RTMP publishers and players against an address and
// measures them: connect time, time to first media packet, bytes, bitrate,
// errors by kind, sessions per second.
package load

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strings"
)

// ErrBadURL is returned for a URL that is not rtmp://, rtmps:// or rtmpt:// with an app.
var ErrBadURL = errors.New("bad url")

// Target is where a client connects: protocol, host:port and app.
type Target struct {
	Proto string // "rtmp", "rtmps" or "rtmpt"
	Addr  string // host:port
	App   string
	TCURL string // rtmp[t]://host[:port]/app, sent in connect
}

func (t Target) String() string { return t.TCURL }

// Host is the host part of Addr (the TLS server name of an rtmps target).
func (t Target) Host() string {
	h, _, err := net.SplitHostPort(t.Addr)
	if err != nil {
		return t.Addr
	}
	return h
}

// ParseTarget parses rtmp://host[:port]/app[/stream] (or rtmpt://) and returns
// the target and the stream name in the URL, if any.
func ParseTarget(s string) (Target, string, error) {
	u, err := url.Parse(s)
	if err != nil {
		return Target{}, "", fmt.Errorf("%w: %q: %w", ErrBadURL, s, err)
	}
	port := map[string]string{"rtmp": "1935", "rtmps": "443", "rtmpt": "80"}[u.Scheme]
	if port == "" {
		return Target{}, "", fmt.Errorf("%w: %q: scheme must be rtmp, rtmps or rtmpt", ErrBadURL, s)
	}
	if u.Hostname() == "" {
		return Target{}, "", fmt.Errorf("%w: %q: no host", ErrBadURL, s)
	}
	if u.Port() != "" {
		port = u.Port()
	}
	parts := strings.SplitN(strings.Trim(u.Path, "/"), "/", 2)
	if parts[0] == "" {
		return Target{}, "", fmt.Errorf("%w: %q: no app", ErrBadURL, s)
	}
	t := Target{Proto: u.Scheme, Addr: net.JoinHostPort(u.Hostname(), port), App: parts[0]}
	t.TCURL = u.Scheme + "://" + u.Host + "/" + t.App
	stream := ""
	if len(parts) == 2 {
		stream = parts[1]
	}
	return t, stream, nil
}

// ParseTargets parses a comma-separated list of URLs; clients cycle through it.
func ParseTargets(list string) ([]Target, string, error) {
	var out []Target
	stream := ""
	for _, s := range strings.Split(list, ",") {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		t, st, err := ParseTarget(s)
		if err != nil {
			return nil, "", err
		}
		if stream == "" {
			stream = st
		}
		out = append(out, t)
	}
	if len(out) == 0 {
		return nil, "", fmt.Errorf("%w: empty list", ErrBadURL)
	}
	return out, stream, nil
}

// maxSources caps how many source addresses a range expands to.
const maxSources = 1 << 16

// ErrBadSource is returned for a -src value that is not an address or prefix.
var ErrBadSource = errors.New("bad source address range")

// ParseSources expands "127.0.1.0/24" (every host address of the prefix, up
// to 65536) or a single address into the list clients cycle through.
func ParseSources(s string) ([]netip.Addr, error) {
	if s == "" {
		return nil, nil
	}
	if a, err := netip.ParseAddr(s); err == nil {
		return []netip.Addr{a}, nil
	}
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return nil, fmt.Errorf("%w: %q", ErrBadSource, s)
	}
	p = p.Masked()
	var out []netip.Addr
	a := p.Addr()
	hostBits := a.BitLen() - p.Bits()
	if hostBits >= 2 {
		a = a.Next() // skip the network address of a real subnet
	}
	for ; a.IsValid() && p.Contains(a) && len(out) < maxSources; a = a.Next() {
		out = append(out, a)
	}
	if hostBits >= 2 && len(out) > 1 && len(out) < maxSources {
		out = out[:len(out)-1] // and its broadcast address
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: %q has no addresses", ErrBadSource, s)
	}
	return out, nil
}
