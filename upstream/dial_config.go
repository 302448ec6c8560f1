package upstream

import (
	"errors"
	"fmt"
	"time"
)

// Source modes of DialConfig.Source, named after HAProxy's "source … usesrc" variants.
const (
	// SourceEdge dials from the edge's own address (the kernel picks it). The default.
	SourceEdge = "edge"
	// SourceClientIP presents the client's IP with a port the kernel picks at connect time
	// (IP_BIND_ADDRESS_NO_PORT), like HAProxy "usesrc clientip". Needs IP_TRANSPARENT.
	SourceClientIP = "clientip"
	// SourceClient presents the client's IP and port, like HAProxy "usesrc client".
	SourceClient = "client"
)

// Values of DialConfig.SourceFallback.
const (
	// FallbackError fails the dial when the client address cannot be presented. The default.
	FallbackError = "error"
	// FallbackEdge dials from the edge's own address instead.
	FallbackEdge = "edge"
)

// Values of DialConfig.ProxyProtocol.
const (
	ProxyProtocolNone = ""
	ProxyProtocolV1   = "v1"
	ProxyProtocolV2   = "v2"
)

// Defaults applied to zero fields of DialConfig.
const (
	DefaultConnectTimeout   = 5 * time.Second
	DefaultHandshakeTimeout = 5 * time.Second
)

// DialConfig configures how the edge reaches a media server. The zero value is valid:
// plain dial from the edge's address, no PROXY header, default timeouts.
type DialConfig struct {
	// Source: "edge" (default: the edge's own address) | "clientip" (client IP, kernel port;
	// IP_BIND_ADDRESS_NO_PORT) | "client" (client IP and port).
	Source string `yaml:"source"`
	// SourceFallback applies when the client address cannot be presented (an IPv6 client
	// towards an IPv4 server, or an unknown client address): "error" (default) | "edge".
	SourceFallback string `yaml:"source_fallback"`
	// ProxyProtocol: "" (none) | "v1" | "v2": header sent first on the media-server connection.
	ProxyProtocol string `yaml:"proxy_protocol"`
	// ConnectTimeout bounds the TCP connect. 0 means 5s; negative values are rejected
	// (a connect without a bound would hold a client forever on a black-holed server).
	ConnectTimeout time.Duration `yaml:"connect_timeout"`
	// HandshakeTimeout bounds the PROXY header write and the edge↔media-server RTMP
	// handshake together. 0 means 5s; negative values are rejected.
	HandshakeTimeout time.Duration `yaml:"handshake_timeout"`
	// Preconnect, if > 0, keeps up to this many connections to each media
	// server dialed and handshaken ahead of need, so that a session's set-up
	// does not wait for the TCP connect and the RTMP handshake with the server
	// (pool.go). Only with source edge and no proxy_protocol: a connection made
	// before its client arrived cannot present that client's address, as a
	// source or in a PROXY header. 0 (default) dials for each session.
	Preconnect int `yaml:"preconnect"`
}

// Validate reports every invalid field, each prefixed with its YAML key.
func (c *DialConfig) Validate() error {
	var errs []error
	switch c.Source {
	case "", SourceEdge, SourceClientIP, SourceClient:
	default:
		errs = append(errs, fmt.Errorf("source: must be edge, clientip or client, got %q", c.Source))
	}
	switch c.SourceFallback {
	case "", FallbackError, FallbackEdge:
	default:
		errs = append(errs, fmt.Errorf("source_fallback: must be error or edge, got %q", c.SourceFallback))
	}
	switch c.ProxyProtocol {
	case ProxyProtocolNone, ProxyProtocolV1, ProxyProtocolV2:
	default:
		errs = append(errs, fmt.Errorf("proxy_protocol: must be empty, v1 or v2, got %q", c.ProxyProtocol))
	}
	if c.ConnectTimeout < 0 {
		errs = append(errs, fmt.Errorf("connect_timeout: must not be negative, got %s", c.ConnectTimeout))
	}
	if c.HandshakeTimeout < 0 {
		errs = append(errs, fmt.Errorf("handshake_timeout: must not be negative, got %s", c.HandshakeTimeout))
	}
	switch {
	case c.Preconnect < 0 || c.Preconnect > maxPreconnect:
		errs = append(errs, fmt.Errorf("preconnect: must be 0..%d, got %d", maxPreconnect, c.Preconnect))
	case c.Preconnect > 0 && c.transparent():
		errs = append(errs, fmt.Errorf("preconnect: needs source: edge (a connection made before its client arrived cannot have the client's address as its source), got source %q", c.Source))
	case c.Preconnect > 0 && c.ProxyProtocol != ProxyProtocolNone:
		errs = append(errs, fmt.Errorf("preconnect: cannot be used with proxy_protocol %q (a connection made before its client arrived has no client address for the header)", c.ProxyProtocol))
	}
	return errors.Join(errs...)
}

// WithDefaults returns a copy with every zero field set to its default, so the effective
// configuration can be logged.
func (c DialConfig) WithDefaults() DialConfig {
	if c.Source == "" {
		c.Source = SourceEdge
	}
	if c.SourceFallback == "" {
		c.SourceFallback = FallbackError
	}
	if c.ConnectTimeout == 0 {
		c.ConnectTimeout = DefaultConnectTimeout
	}
	if c.HandshakeTimeout == 0 {
		c.HandshakeTimeout = DefaultHandshakeTimeout
	}
	return c
}

// transparent reports whether the source mode binds the client's address.
func (c *DialConfig) transparent() bool {
	return c.Source == SourceClientIP || c.Source == SourceClient
}
