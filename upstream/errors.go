package upstream

import "errors"

// Sentinel errors. Dial wraps exactly one of the step errors so the caller can tell which step
// failed (errors.Is) and retry on another server; the underlying cause is wrapped too.
var (
	// ErrDial: the TCP connect to the media server failed (refused, timed out, no route,
	// or the source address could not be bound).
	ErrDial = errors.New("dial media server")
	// ErrProxyHeader: the PROXY protocol header could not be built or written.
	ErrProxyHeader = errors.New("send proxy header")
	// ErrHandshake: the edge's RTMP handshake with the media server failed or timed out.
	ErrHandshake = errors.New("rtmp handshake with media server")
	// ErrSourceUnpresentable: the client's address cannot be used as the source towards this
	// server (IPv6 client, IPv4 server, or unknown client address) and source_fallback is error.
	ErrSourceUnpresentable = errors.New("client address cannot be the source towards this server")
	// ErrTransparentUnsupported: source clientip/client needs Linux IP_TRANSPARENT.
	ErrTransparentUnsupported = errors.New("transparent source (clientip/client) is supported on linux only")
	// ErrTransparentNotReady: CheckTransparent found the host not set up for transparent sources.
	ErrTransparentNotReady = errors.New("host not ready for transparent source (clientip/client)")
)
