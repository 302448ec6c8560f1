package edge

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/rtmp-edge/rtmp-edge/edge/certs"
	"github.com/rtmp-edge/rtmp-edge/routing"
	"github.com/rtmp-edge/rtmp-edge/rtmpt"
	"github.com/rtmp-edge/rtmp-edge/upstream"
)

// Config is everything the edge runs: its listeners and the backends they feed.
// The YAML file is decoded into it in one place (cmd/rtmp-edge); the structs of
// the other packages are embedded where they configure that package.
type Config struct {
	Admin     AdminConfig      `yaml:"admin"`
	Listeners []ListenerConfig `yaml:"listeners"`
	Backends  []BackendConfig  `yaml:"backends"`
}

// AdminConfig places the operator's HTTP endpoint: /metrics, /healthz, the
// JSON API and the stats page.
type AdminConfig struct {
	// Address serves it over HTTP; empty disables it.
	Address string `yaml:"address"`
	// Token, when set, is required as "Authorization: Bearer <token>" on
	// everything but /healthz. Without it the address must be a loopback one.
	Token string `yaml:"token"`
}

// Protocol names a wire protocol a listener accepts.
const (
	ProtoRTMP  = "rtmp"
	ProtoRTMPT = "rtmpt"
	// ProtoRTMPS and ProtoRTMPTS are RTMP and RTMPT inside TLS, ended at
	// the edge; the media servers still get plain RTMP.
	ProtoRTMPS  = "rtmps"
	ProtoRTMPTS = "rtmpts"
)

// ListenerConfig is one accepting socket.
type ListenerConfig struct {
	Name    string `yaml:"name"`
	Address string `yaml:"address"`
	// Protocols: any of "rtmp", "rtmpt", "rtmps", "rtmpts"; with several,
	// each connection is told apart by its first byte (0x03 is RTMP, an
	// ASCII letter is HTTP, 0x16 a TLS ClientHello, and inside TLS again
	// RTMP or HTTP). Default: [rtmp].
	Protocols []string `yaml:"protocols"`
	// MaxConn stops accepting at this many open client connections; further
	// clients wait in the kernel backlog (HAProxy's frontend maxconn). 0 = unlimited.
	MaxConn int    `yaml:"maxconn"`
	Backend string `yaml:"backend"`
	// AcceptProxy requires a PROXY v1/v2 header first; its source address is
	// then the client's address for affinity, transparent dialing and logs.
	AcceptProxy bool `yaml:"accept_proxy"`
	// HandshakeTimeout bounds the client handshake and reading connect.
	// Default 5s.
	HandshakeTimeout time.Duration `yaml:"handshake_timeout"`
	// MaxConnect bounds the bytes a client may send before its connect
	// command is complete. Default 64 KiB.
	MaxConnect int `yaml:"max_connect"`
	// Inspect bounds how long (bytes and time) the edge watches a relayed
	// client for its publish/play command. Defaults 64 KiB (also the most the
	// relay shows) and 30s.
	InspectBytes int           `yaml:"inspect_bytes"`
	InspectTime  time.Duration `yaml:"inspect_time"`
	// SndBuf is the kernel send buffer of each client socket (SO_SNDBUF), in
	// bytes: what a viewer that stops reading can hold in the kernel (Linux
	// doubles the value for its bookkeeping). Default 512 KiB; negative keeps
	// the kernel's autotuning (unbounded by the edge).
	SndBuf int `yaml:"sndbuf"`
	// RTMPT tunes the HTTP tunnel when "rtmpt" or "rtmpts" is among Protocols.
	RTMPT rtmpt.Config `yaml:"rtmpt"`
	// TLS is the certificate (and per-SNI certificates and backends) of
	// rtmps and rtmpts; required with them.
	TLS certs.Config `yaml:"tls"`
}

// BackendConfig is one pool of media servers and how to reach them.
type BackendConfig struct {
	routing.PoolConfig  `yaml:",inline"`
	upstream.DialConfig `yaml:",inline"`
	Check               upstream.CheckConfig `yaml:"check"`
	// Retries is how many other servers are tried when a dial or the
	// media-server handshake fails; nothing has reached the client yet, so it
	// never notices. Default 3; 0 disables.
	Retries *int `yaml:"retries"`
	// IdleTimeout ends a relayed session with no bytes in either direction.
	// Default 60s; negative disables.
	IdleTimeout time.Duration `yaml:"idle_timeout"`
	// StallTimeout ends a session whose media server is marked down by its
	// health check and has sent the client nothing for this long (end reason
	// "server down"), so a frozen viewer reconnects instead of waiting for
	// the idle timeout. Default 10s; negative disables.
	StallTimeout time.Duration `yaml:"stall_timeout"`
	// WriteTimeout ends a session when the client or the media server has not
	// accepted a byte for this long while the edge has bytes for it (end
	// reason "client stalled" / "server stalled"). Default 30s; negative
	// disables.
	WriteTimeout time.Duration `yaml:"write_timeout"`
	// Route is when a client is routed: "command" (default) at its real
	// publish or play, by kind and stream, the edge answering connect and
	// the calls before publish/play itself in the shape its rtmp health
	// check learned; "connect" at its connect command, by what the connect
	// says (the classify rules), which sends a publisher with a player's
	// connect to a playback server and players to servers that may not have
	// their stream. Connects with a challenge-response login (authmod= in
	// the app or tcUrl) are routed at connect in either mode.
	Route string `yaml:"route"`
	// Replicate, when set, has the edge publish each publish of this backend
	// to further servers of it as well (replicate_config.go). Needs route:
	// command.
	Replicate *ReplicateConfig `yaml:"replicate"`
}

// Route values of BackendConfig.
const (
	RouteConnect = "connect"
	RouteCommand = "command"
)

// routeOnCommand: the backend routes on the real publish/play (route:
// command, the default when the key is absent).
func (b *BackendConfig) routeOnCommand() bool { return b.Route != RouteConnect }

const (
	defaultHandshakeTimeout = 5 * time.Second
	defaultMaxConnect       = 64 << 10
	defaultInspectBytes     = 64 << 10
	defaultInspectTime      = 30 * time.Second
	defaultRetries          = 3
	defaultIdleTimeout      = 60 * time.Second
	defaultStallTimeout     = 10 * time.Second
	defaultWriteTimeout     = 30 * time.Second
	defaultSndBuf           = 512 << 10
)

func (l *ListenerConfig) withDefaults() ListenerConfig {
	c := *l
	if len(c.Protocols) == 0 {
		c.Protocols = []string{ProtoRTMP}
	}
	if c.HandshakeTimeout == 0 {
		c.HandshakeTimeout = defaultHandshakeTimeout
	}
	if c.MaxConnect == 0 {
		c.MaxConnect = defaultMaxConnect
	}
	if c.InspectBytes == 0 {
		c.InspectBytes = defaultInspectBytes
	}
	if c.InspectTime == 0 {
		c.InspectTime = defaultInspectTime
	}
	return c
}

func (l *ListenerConfig) serves(proto string) bool { return slices.Contains(l.Protocols, proto) }

func (b *BackendConfig) retries() int {
	if b.Retries == nil {
		return defaultRetries
	}
	return *b.Retries
}

func (b *BackendConfig) idleTimeout() time.Duration {
	if b.IdleTimeout == 0 {
		return defaultIdleTimeout
	}
	return b.IdleTimeout
}

// FieldError is a configuration error at a path such as
// "backends[0].servers[2].weight"; cmd/rtmp-edge turns the path into the
// line of the file.
type FieldError struct {
	Path string
	Err  error
}

func (e *FieldError) Error() string { return e.Path + ": " + e.Err.Error() }
func (e *FieldError) Unwrap() error { return e.Err }

// Validate checks the whole configuration and returns every error found,
// each a *FieldError (joined with errors.Join).
//
// A listen port of 0 passes: a program or test embedding the edge lets the
// kernel pick and reads the port back with Edge.Addr. A file cannot read it
// back, so ValidateFile refuses it.
func (c *Config) Validate() error { return c.validate(false) }

// ValidateFile is Validate for a configuration read from a file, where a
// listen port of 0 (a random port nobody can connect to) is an error too.
func (c *Config) ValidateFile() error { return c.validate(true) }

func (c *Config) validate(file bool) error {
	var errs []error
	add := func(path string, err error) {
		if err == nil {
			return
		}
		// Errors of other packages are joined lists of "field: message";
		// keep each one separate so each gets its own line number.
		if joined, ok := err.(interface{ Unwrap() []error }); ok {
			for _, e := range joined.Unwrap() {
				errs = append(errs, prefixed(path, e))
			}
			return
		}
		errs = append(errs, prefixed(path, err))
	}
	if len(c.Listeners) == 0 {
		add("listeners", errors.New("at least one listener is required"))
	}
	if len(c.Backends) == 0 {
		add("backends", errors.New("at least one backend is required"))
	}
	var bound []boundAddr
	if c.Admin.Address != "" {
		host, port, err := checkListenAddress(c.Admin.Address, file)
		add("admin.address", err)
		if err == nil {
			bound = append(bound, boundAddr{"admin.address", c.Admin.Address, host, port})
			if c.Admin.Token == "" && !isLoopbackHost(host) {
				add("admin.address", fmt.Errorf("%q can be reached from other hosts, and admin.token is empty: set a token, or listen on a loopback address such as \"127.0.0.1:%d\"", c.Admin.Address, port))
			}
		}
	}
	if strings.ContainsFunc(c.Admin.Token, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		// It travels in an "Authorization: Bearer" header, which cannot carry these.
		add("admin.token", errors.New("must not contain spaces or control characters"))
	}
	backends := map[string]bool{}
	for i := range c.Backends {
		b := &c.Backends[i]
		p := fmt.Sprintf("backends[%d]", i)
		switch {
		case b.Name == "":
			add(p+".name", errors.New("is required"))
		case backends[b.Name]:
			add(p+".name", fmt.Errorf("duplicate backend name %q", b.Name))
		}
		backends[b.Name] = true
		add(p, b.PoolConfig.Validate())
		add(p, b.DialConfig.Validate())
		add(p+".check", b.Check.Validate())
		if b.Retries != nil && *b.Retries < 0 {
			add(p+".retries", fmt.Errorf("must be >= 0, got %d", *b.Retries))
		}
		if b.Route != "" && b.Route != RouteConnect && b.Route != RouteCommand {
			add(p+".route", fmt.Errorf("must be connect or command, got %q", b.Route))
		}
		if b.Route == RouteConnect {
			// Keys that act on the stream registry, which only routing on
			// the command fills: said, rather than silently doing nothing.
			if b.PublisherTakeover {
				add(p+".publisher_takeover", errors.New("needs route: command (with route: connect the edge does not know the stream a publisher takes over)"))
			}
			for j, sc := range b.Servers {
				if len(sc.ReplicatesTo) > 0 {
					add(fmt.Sprintf("%s.servers[%d].replicates_to", p, j), errors.New("needs route: command (with route: connect players are not routed on their stream)"))
				}
			}
		}
		if b.Replicate != nil {
			add(p, errors.Join(b.Replicate.validate(b)...))
		}
	}
	listeners := map[string]bool{}
	for i := range c.Listeners {
		l := &c.Listeners[i]
		p := fmt.Sprintf("listeners[%d]", i)
		switch {
		case l.Name == "":
			add(p+".name", errors.New("is required"))
		case listeners[l.Name]:
			add(p+".name", fmt.Errorf("duplicate listener name %q", l.Name))
		}
		listeners[l.Name] = true
		host, port, err := checkListenAddress(l.Address, file)
		add(p+".address", err)
		if err == nil {
			bound = append(bound, boundAddr{p + ".address", l.Address, host, port})
		}
		for j, proto := range l.Protocols {
			switch proto {
			case ProtoRTMP, ProtoRTMPT, ProtoRTMPS, ProtoRTMPTS:
			default:
				add(fmt.Sprintf("%s.protocols[%d]", p, j), fmt.Errorf("must be rtmp, rtmpt, rtmps or rtmpts, got %q", proto))
			}
		}
		switch secure := l.serves(ProtoRTMPS) || l.serves(ProtoRTMPTS); {
		case secure && l.TLS.IsZero():
			add(p+".tls", errors.New("is required with rtmps and rtmpts: { cert: FILE, key: FILE }"))
		case secure:
			// Loads the files: -check reports an unreadable file, a key
			// that does not match, an expired certificate.
			add(p+".tls", l.TLS.Validate())
			for k, sni := range l.TLS.SNI {
				if sni.Backend != "" && !backends[sni.Backend] {
					add(fmt.Sprintf("%s.tls.sni[%d].backend", p, k), fmt.Errorf("names backend %q, which is not defined", sni.Backend))
				}
			}
		case !l.TLS.IsZero():
			add(p+".tls", errors.New("is set, but protocols has neither rtmps nor rtmpts"))
		}
		if l.MaxConn < 0 {
			add(p+".maxconn", fmt.Errorf("must be >= 0 (0 = unlimited), got %d", l.MaxConn))
		}
		switch {
		case l.Backend == "":
			add(p+".backend", errors.New("is required"))
		case !backends[l.Backend]:
			add(p+".backend", fmt.Errorf("names backend %q, which is not defined", l.Backend))
		}
		if l.HandshakeTimeout < 0 {
			add(p+".handshake_timeout", fmt.Errorf("must not be negative, got %s", l.HandshakeTimeout))
		}
		if l.InspectTime < 0 {
			add(p+".inspect_time", fmt.Errorf("must not be negative, got %s", l.InspectTime))
		}
		if l.MaxConnect < 0 {
			add(p+".max_connect", fmt.Errorf("must not be negative, got %d", l.MaxConnect))
		}
		if l.InspectBytes < 0 {
			add(p+".inspect_bytes", fmt.Errorf("must not be negative, got %d", l.InspectBytes))
		}
		if l.serves(ProtoRTMPT) || l.serves(ProtoRTMPTS) {
			add(p, l.RTMPT.Validate())
		}
	}
	for i, a := range bound {
		for _, b := range bound[:i] {
			if a.clashes(b) {
				add(a.path, fmt.Errorf("%q and %s %q both take port %d: give each its own port or address", a.addr, b.path, b.addr, a.port))
				break
			}
		}
	}
	return errors.Join(errs...)
}

// checkListenAddress checks "host:port" for a socket to listen on. The host may
// be empty (every address), an IP or a name resolved when listening; the port
// must be numeric, because a service name ("http") silently depends on
// /etc/services.
func checkListenAddress(addr string, file bool) (host string, port int, err error) {
	if addr == "" {
		return "", 0, errors.New(`is required: host:port, e.g. ":1935" (every address) or "127.0.0.1:1935"`)
	}
	host, ps, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, fmt.Errorf(`%q is not host:port, e.g. ":1935" (every address) or "127.0.0.1:1935"`, addr)
	}
	n, err := strconv.ParseUint(ps, 10, 64)
	switch {
	case err != nil && strings.Trim(ps, "0123456789") == "" && ps != "":
		return "", 0, fmt.Errorf("port %s is out of range: use 1..65535", ps)
	case err != nil:
		return "", 0, fmt.Errorf("port %q is not a number: use 1..65535", ps)
	case n > 65535:
		return "", 0, fmt.Errorf("port %d is out of range: use 1..65535", n)
	case n == 0 && file:
		return "", 0, errors.New("port 0 would listen on a random port no client knows: use 1..65535")
	}
	return host, int(n), nil
}

// boundAddr is one address the edge will listen on, for finding clashes
// before a listen fails at start.
type boundAddr struct {
	path, addr, host string
	port             int
}

// clashes reports whether two listen addresses cannot both be bound. An empty
// or unspecified host (0.0.0.0, ::) takes the port on every address, so it
// clashes with any other host on that port (Linux refuses the second bind
// without SO_REUSEPORT, and [::] also covers IPv4). Port 0 never clashes: the
// kernel gives each its own port. Names are compared as written: they are
// resolved only when listening.
func (a boundAddr) clashes(b boundAddr) bool {
	if a.port != b.port || a.port == 0 {
		return false
	}
	if isWildcardHost(a.host) || isWildcardHost(b.host) {
		return true
	}
	ia, ea := netip.ParseAddr(a.host)
	ib, eb := netip.ParseAddr(b.host)
	if ea == nil && eb == nil {
		return ia.Unmap() == ib.Unmap()
	}
	return strings.EqualFold(a.host, b.host)
}

func isWildcardHost(host string) bool {
	if host == "" {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsUnspecified()
}

// isLoopbackHost is true for 127.0.0.0/8, ::1 and the name localhost, which
// every resolver configuration maps to loopback (RFC 6761 section 6.3).
func isLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Unmap().IsLoopback()
}

// prefixed turns "servers[2].weight: must be…" from a sub-package into a
// FieldError rooted at path.
func prefixed(path string, err error) error {
	var fe *FieldError
	if errors.As(err, &fe) {
		return &FieldError{Path: path + "." + fe.Path, Err: fe.Err}
	}
	msg := err.Error()
	for i := 0; i+1 < len(msg); i++ {
		if msg[i] == ':' && msg[i+1] == ' ' {
			field := msg[:i]
			if isFieldPath(field) {
				return &FieldError{Path: path + "." + field, Err: errors.New(msg[i+2:])}
			}
			break
		}
	}
	return &FieldError{Path: path, Err: err}
}

// isFieldPath reports whether s looks like "servers[2].weight".
func isFieldPath(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '_', r == '.', r == '[', r == ']':
		default:
			return false
		}
	}
	return true
}
