package upstream

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/yutopp/go-rtmp/handshake"
)

// Dialer connects to media servers on behalf of clients. The zero value dials plainly from
// the edge's address with default timeouts; NewDialer validates a configuration first.
// A Dialer is safe for concurrent use.
type Dialer struct {
	cfg DialConfig // with defaults applied by NewDialer; the zero value is resolved in config()
}

// NewDialer validates cfg and returns a Dialer. Source clientip/client fails here on
// systems without IP_TRANSPARENT; whether the host is set up for it is CheckTransparent's job.
func NewDialer(cfg DialConfig) (*Dialer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.transparent() && !transparentSupported {
		return nil, fmt.Errorf("source %q: %w", cfg.Source, ErrTransparentUnsupported)
	}
	return &Dialer{cfg: cfg.WithDefaults()}, nil
}

// Config returns the effective configuration (defaults applied).
func (d *Dialer) Config() DialConfig { return d.config() }

func (d *Dialer) config() DialConfig { return d.cfg.WithDefaults() }

// Dial connects to the media server at addr on behalf of a client. client is the client's
// address (the session's source), local the edge address the client connected to (the
// destination announced in PROXY headers). Either may be the zero AddrPort when unknown.
//
// With ProxyProtocol set, the header is written first. Then Dial performs the simple RTMP
// handshake as a client within HandshakeTimeout and returns the conn positioned right after
// the handshake, ready for the replay of the client's bytes. The conn has no deadline set.
//
// Errors wrap ErrDial, ErrProxyHeader or ErrHandshake (plus the cause): nothing has reached
// the client at that point, so the caller may retry on another server. ctx cancels every step.
func (d *Dialer) Dial(ctx context.Context, addr string, client, local netip.AddrPort) (net.Conn, error) {
	cfg := d.config()
	conn, err := connect(ctx, cfg, addr, client)
	if err != nil {
		return nil, fmt.Errorf("%w %s: %w", ErrDial, addr, err)
	}
	if err := prepare(ctx, cfg, conn, client, local); err != nil {
		_ = conn.Close()
		return nil, fmt.Errorf("%s: %w", addr, err)
	}
	return conn, nil
}

// connect opens the TCP connection from the configured source.
func connect(ctx context.Context, cfg DialConfig, addr string, client netip.AddrPort) (net.Conn, error) {
	dialer := net.Dialer{Timeout: cfg.ConnectTimeout}
	if !cfg.transparent() {
		return dialer.DialContext(ctx, "tcp", addr)
	}
	server, err := resolveServer(ctx, addr, client.Addr())
	if err != nil {
		return nil, err
	}
	src, ok := transparentSource(cfg.Source, client, server.Addr())
	if !ok {
		if cfg.SourceFallback != FallbackEdge {
			return nil, fmt.Errorf("client %s, server %s: %w", client, server, ErrSourceUnpresentable)
		}
		return dialer.DialContext(ctx, networkFor(server.Addr()), server.String())
	}
	dialer.LocalAddr = src
	dialer.Control = transparentControl(cfg.Source)
	return dialer.DialContext(ctx, networkFor(server.Addr()), server.String())
}

// prepare writes the PROXY header and performs the RTMP handshake under one deadline.
// ctx cancellation interrupts both by moving the deadline into the past.
func prepare(ctx context.Context, cfg DialConfig, conn net.Conn, client, local netip.AddrPort) error {
	if err := conn.SetDeadline(time.Now().Add(cfg.HandshakeTimeout)); err != nil {
		return fmt.Errorf("%w: set deadline: %w", ErrHandshake, err)
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	hio := newHandshakeIO(conn)
	if cfg.ProxyProtocol != ProxyProtocolNone {
		header, err := proxyHeader(cfg.ProxyProtocol, client, local)
		if err != nil {
			return fmt.Errorf("%w: %w", ErrProxyHeader, err)
		}
		// Buffered: it leaves with C0+C1, in front of them.
		if _, err := hio.Write(header); err != nil {
			return fmt.Errorf("%w: %w", ErrProxyHeader, withContext(ctx, err))
		}
	}
	// Verification of the server's S2 echo is skipped: SRS does not echo C1 (go-rtmp#51/#52),
	// and a wrong echo tells the edge nothing it needs — the replayed connect decides.
	if err := handshake.HandshakeWithServer(hio, hio, &handshake.Config{SkipHandshakeVerification: true}); err != nil {
		return fmt.Errorf("%w: %w", ErrHandshake, withContext(ctx, err))
	}
	if err := hio.Flush(); err != nil {
		return fmt.Errorf("%w: sending C2: %w", ErrHandshake, withContext(ctx, err))
	}
	if !stop() {
		return fmt.Errorf("%w: %w", ErrHandshake, ctx.Err())
	}
	if err := conn.SetDeadline(time.Time{}); err != nil {
		return fmt.Errorf("%w: clear deadline: %w", ErrHandshake, err)
	}
	return nil
}

// withContext prefers the context's error when the context ended the step, so a cancelled
// dial does not read as a timeout of the server.
func withContext(ctx context.Context, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		return fmt.Errorf("%w (%w)", ctxErr, err)
	}
	return err
}
