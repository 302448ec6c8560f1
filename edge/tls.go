package edge

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"time"

	"github.com/rtmp-edge/rtmp-edge/edge/certs"
)

// tlsInfo is what a client's TLS handshake settled, for its session's log
// lines and routing.
type tlsInfo struct {
	version string // "1.2" or "1.3"
	sni     string // the server name the client asked for; "" for none
	entry   string // the sni entry that matched; "" for the top-level certificate
	backend string // that entry's backend; "" for the listener's
}

// attrs are the log fields of a TLS session.
func (t *tlsInfo) attrs() []any {
	if t == nil {
		return nil
	}
	return []any{"tls_version", t.version, "sni", t.sni}
}

// slogAttrs are attrs for the rate-limited rejection lines.
func (t *tlsInfo) slogAttrs() []slog.Attr {
	if t == nil {
		return nil
	}
	return []slog.Attr{slog.String("tls_version", t.version), slog.String("sni", t.sni)}
}

// servesTLS reports whether the listener ends TLS (rtmps or rtmpts).
func (l *ListenerConfig) servesTLS() bool { return l.serves(ProtoRTMPS) || l.serves(ProtoRTMPTS) }

// onlyTLS: every protocol of the listener is inside TLS, so plain bytes are
// a client pointed at the wrong port (rtmp:// at an rtmps:// port).
func (l *ListenerConfig) onlyTLS() bool { return !l.serves(ProtoRTMP) && !l.serves(ProtoRTMPT) }

// serveTLS ends TLS on a connection whose first byte starts a TLS record,
// then tells RTMP from HTTP inside it, as handleConn does outside. The TLS
// handshake, the sniff inside it and (for rtmps) the RTMP handshake and
// connect all fit in one handshake_timeout from accept: a client cannot buy
// itself more time by stalling in TLS.
func (l *listener) serveTLS(c net.Conn, r *bufio.Reader, client, local netip.AddrPort, remote net.Addr, handshakeBy time.Time, closeConn func()) {
	// The handshake writes too (ServerHello, certificate): a client that
	// does not read must not hold the edge past the deadline either.
	_ = c.SetDeadline(handshakeBy)
	tc := l.certs.Server(&sniffedConn{Conn: c, r: r})
	if err := tc.Handshake(); err != nil {
		closeConn()
		l.rejectConn(client, ProtoRTMPS, reject(certs.Reason(err), fmt.Errorf("tls handshake: %w", err)))
		return
	}
	st := tc.ConnectionState()
	m := tc.Match()
	info := &tlsInfo{version: certs.VersionName(st.Version), sni: st.ServerName, entry: m.Name, backend: m.Backend}
	l.e.metrics.tlsHandshake(l.cfg.Name, info.version, info.entry)

	tr := bufio.NewReaderSize(tc, 4096)
	first, err := tr.Peek(1)
	if err != nil {
		closeConn()
		rej := rejectionFor("sniff", err)
		if errors.Is(err, io.EOF) {
			// GnuTLS clients (ffmpeg -tls_verify 1) check the certificate
			// after the handshake and hang up: this is how a refused
			// certificate looks from here.
			rej = reject("tls_closed", errors.New("the client ended the TLS session before sending a byte (did it refuse the certificate?)"))
		}
		l.rejectConn(client, ProtoRTMPS, rej, info.slogAttrs()...)
		return
	}
	switch b := first[0]; {
	case (b == c0RTMPE || b == c0XTEA || b == c0Blow) && l.cfg.serves(ProtoRTMPS):
		closeConn()
		l.rejectConn(client, ProtoRTMPS, reject("rtmpe", fmt.Errorf("handshake: RTMPE inside TLS (C0=%d) cannot be routed; the client must use plain rtmps", b)), info.slogAttrs()...)
	case b < ' ' && b != tlsHandshake && l.cfg.serves(ProtoRTMPS):
		// The relay bounds the send buffer of TCP clients only; under TLS
		// the socket is here, and a viewer that stops reading must cost
		// no more than a plain one.
		if tcp, ok := c.(*net.TCPConn); ok && l.cfg.sndBuf() > 0 {
			_ = tcp.SetWriteBuffer(l.cfg.sndBuf())
		}
		s := l.newSession(tc, ProtoRTMPS, client, local, closeConn)
		s.tls, s.handshakeBy, s.backend = info, handshakeBy, l.backendFor(info)
		s.run(tr)
	case isHTTPStart(b) && l.cfg.serves(ProtoRTMPTS) && l.acc.tunnel != nil:
		_ = c.SetDeadline(time.Time{})
		_ = l.acc.tunnel.ServeConn(&sniffedConn{Conn: &tlsTunnelConn{Conn: tc, local: &tlsAddr{Addr: c.LocalAddr(), info: info}}, r: tr, remote: remote})
		closeConn()
	default:
		closeConn()
		l.rejectConn(client, ProtoRTMPS, reject("not_rtmp", fmt.Errorf("first byte 0x%02x inside TLS is not %v on this listener", b, l.cfg.Protocols)), info.slogAttrs()...)
	}
}

// backendFor is the backend of a client's SNI entry, else the listener's.
func (l *listener) backendFor(info *tlsInfo) *backend {
	if info != nil && info.backend != "" {
		if b := l.rt.backends[info.backend]; b != nil {
			return b
		}
	}
	return l.backend
}

// tlsAddr is the local address of an HTTP connection inside TLS. The RTMPT
// server takes a tunnel session's addresses from the connection of its
// /open request, so the session learns from this address that it is
// rtmpts, and with which TLS version and server name.
type tlsAddr struct {
	net.Addr
	info *tlsInfo
}

// tlsTunnelConn is a TLS connection that reports a tlsAddr as its local
// address.
type tlsTunnelConn struct {
	*certs.Conn
	local *tlsAddr
}

func (c *tlsTunnelConn) LocalAddr() net.Addr { return c.local }

// tunnelTLS is the TLS info of a tunnel session opened over rtmpts, nil
// for plain rtmpt.
func tunnelTLS(local net.Addr) *tlsInfo {
	if a, ok := local.(*tlsAddr); ok {
		return a.info
	}
	return nil
}
