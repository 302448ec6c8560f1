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
	cfg  DialConfig // with defaults applied by NewDialer; the zero value is resolved in config()
	pool *connPool  // DialConfig.Preconnect > 0: connections made ahead of need (pool.go)
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
	d := &Dialer{cfg: cfg.WithDefaults()}
	if cfg.Preconnect > 0 {
		d.pool = newConnPool(d, cfg.Preconnect, preconnectMaxAge)
	}
	return d, nil
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
	return d.dial(ctx, addr, client, local, nil)
}

// Open is Dial followed by a write of first (the client's replayed bytes), with
// the handshake's last packet (C2) and first in one write: one segment and one
// system call less per session than Dial and a Write. With Preconnect set it
// takes a connection made ahead of need instead, when one is ready (see
// pool.go), and writes first to it. Errors are Dial's; a failed write of first
// wraps ErrHandshake too (nothing reached the client: another server may be
// tried).
func (d *Dialer) Open(ctx context.Context, addr string, client, local netip.AddrPort, first []byte) (net.Conn, error) {
	if d.pool != nil {
		if conn := d.pool.get(addr); conn != nil {
			if _, err := conn.Write(first); err == nil {
				return conn, nil
			}
			// It died since the liveness check: make a fresh one.
			_ = conn.Close()
		}
	}
	return d.dial(ctx, addr, client, local, first)
}

func (d *Dialer) dial(ctx context.Context, addr string, client, local netip.AddrPort, first []byte) (net.Conn, error) {
	cfg := d.config()
	conn, err := connect(ctx, cfg, addr, client)
	if err != nil {
		return nil, fmt.Errorf("%w %s: %w", ErrDial, addr, err)
	}
	if err := prepare(ctx, cfg, conn, client, local, first); err != nil {
		_ = conn.Close()
		return nil, fmt.Errorf("%s: %w", addr, err)
	}
	return conn, nil
}

// connect opens the TCP connection from the configured source.
func connect(ctx context.Context, cfg DialConfig, addr string, client netip.AddrPort) (net.Conn, error) {
	// No TCP keep-alive: the relay's idle and write timeouts end a session
	// whose peer is gone, and the four setsockopt calls keep-alive costs are a
	// tenth of a session's system calls.
	dialer := net.Dialer{Timeout: cfg.ConnectTimeout, KeepAlive: -1}
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

// prepare writes the PROXY header and performs the RTMP handshake under one deadline,
// then sends C2 and first together. ctx cancellation interrupts both by moving the
// deadline into the past.
func prepare(ctx context.Context, cfg DialConfig, conn net.Conn, client, local netip.AddrPort, first []byte) error {
	if err := conn.SetDeadline(time.Now().Add(cfg.HandshakeTimeout)); err != nil {
		return fmt.Errorf("%w: set deadline: %w", ErrHandshake, err)
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	hio := newHandshakeIO(conn, len(first))
	defer hio.release()
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
	// C2 waits in the buffer: first leaves with it.
	_, _ = hio.Write(first)
	if err := hio.Flush(); err != nil {
		return fmt.Errorf("%w: sending C2 and the client's bytes: %w", ErrHandshake, withContext(ctx, err))
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
