package certs

import (
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"io"
	"net"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Store serves the certificates of one Config to TLS handshakes. Reload and
// Update swap a whole new generation in atomically: handshakes already past
// certificate selection, and established TLS sessions, keep what they got;
// the next ClientHello sees the new one.
type Store struct {
	mu  sync.Mutex // serializes Reload/Update; handshakes never take it
	cfg Config
	cur atomic.Pointer[loaded]
	// base is handed to every connection; its GetConfigForClient picks the
	// generation's config for the ClientHello.
	base *tls.Config
	now  func() time.Time // tests move the clock
}

// Match is the SNI entry a handshake chose.
type Match struct {
	// Index into Config.SNI; -1 when the top-level certificate answered
	// (no server name, or one no entry names).
	Index int
	// Name is the entry's name as configured, lower case ("*.example.com").
	Name string
	// Backend is the entry's backend; "" means the listener's.
	Backend string
}

// NewStore loads everything cfg names; it fails as Validate does.
func NewStore(cfg Config) (*Store, error) {
	s := &Store{now: time.Now}
	if err := s.Update(cfg); err != nil {
		return nil, err
	}
	s.base = &tls.Config{
		// Version bounds are set per generation by the config returned
		// here; the base's own only matter before that call.
		MinVersion:             tls.VersionTLS12,
		GetConfigForClient:     s.configForClient,
		SessionTicketsDisabled: true, // see loaded.tlsConfig
	}
	return s, nil
}

// Reload reads the files of the current config again (the operator renewed
// a certificate in place and sent SIGHUP). On any error nothing changes and
// the old certificates keep serving.
func (s *Store) Reload() error {
	s.mu.Lock()
	cfg := s.cfg
	s.mu.Unlock()
	return s.Update(cfg)
}

// Update replaces the config and loads its files; on any error nothing
// changes.
func (s *Store) Update(cfg Config) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	l, err := load(&cfg, s.now())
	if err != nil {
		return err
	}
	s.cfg = cfg
	s.cfg.SNI = append([]SNIConfig(nil), cfg.SNI...)
	s.cur.Store(l)
	return nil
}

// TLSConfig is a server config that picks the certificate by SNI from the
// current generation. It does not tell which entry matched; Server does.
func (s *Store) TLSConfig() *tls.Config { return s.base }

// LoadedAt is when the current generation was read.
func (s *Store) LoadedAt() time.Time { return s.cur.Load().loadedAt }

// NotAfter is the earliest expiry among the certificates being served: the
// date the operator must renew by.
func (s *Store) NotAfter() time.Time {
	l := s.cur.Load()
	t := l.def.cert.Leaf.NotAfter
	for _, m := range []map[string]*entry{l.exact, l.wild} {
		for _, e := range m {
			if e.cert.Leaf.NotAfter.Before(t) {
				t = e.cert.Leaf.NotAfter
			}
		}
	}
	return t
}

// Describe names the certificates being served, for the reload line:
// "CN=ingest.example.com until 2027-03-01 sha256:1a2b3c4d" for the top-level
// one, then "; sni NAME: …" for each SNI entry with a certificate of its own.
// Two stores serve the same certificates when they describe the same.
func (s *Store) Describe() string {
	l := s.cur.Load()
	var b strings.Builder
	b.WriteString(describeCert(l.def.cert))
	for _, m := range []map[string]*entry{l.exact, l.wild} {
		for _, e := range sortedEntries(m) {
			if e.cert != l.def.cert {
				b.WriteString("; sni " + e.match.Name + ": " + describeCert(e.cert))
			}
		}
	}
	return b.String()
}

func describeCert(c *tls.Certificate) string {
	sum := sha256.Sum256(c.Leaf.Raw)
	return c.Leaf.Subject.String() + " until " + c.Leaf.NotAfter.UTC().Format(time.DateOnly) + " sha256:" + hex.EncodeToString(sum[:4])
}

func sortedEntries(m map[string]*entry) []*entry {
	es := make([]*entry, 0, len(m))
	for _, e := range m {
		es = append(es, e)
	}
	slices.SortFunc(es, func(a, b *entry) int { return a.match.Index - b.match.Index })
	return es
}

// configForClient runs once per ClientHello (also for resumed sessions), so
// it is where the match is recorded for the connection.
func (s *Store) configForClient(h *tls.ClientHelloInfo) (*tls.Config, error) {
	e := s.cur.Load().pick(h.ServerName)
	if rc, ok := h.Conn.(*recordConn); ok {
		rc.match.Store(&e.match)
	}
	return e.conf, nil
}

// Conn is a server-side TLS connection made by Store.Server.
type Conn struct {
	*tls.Conn
	rc *recordConn
}

// recordConn is the transport under a Conn; the handshake finds it in
// ClientHelloInfo.Conn and leaves the match there.
type recordConn struct {
	net.Conn
	match atomic.Pointer[Match]
}

// Server wraps an accepted client connection (whose first byte is a TLS
// record) for a handshake with this store's certificates.
func (s *Store) Server(c net.Conn) *Conn {
	rc := &recordConn{Conn: c}
	return &Conn{Conn: tls.Server(rc, s.base), rc: rc}
}

// Match is the SNI entry the handshake chose; before the ClientHello is
// read it is Match{Index: -1}.
func (c *Conn) Match() Match {
	if m := c.rc.match.Load(); m != nil {
		return *m
	}
	return Match{Index: -1}
}

// Close closes the TCP connection without sending a close_notify alert.
// crypto/tls gives that alert up to 5 s to be written, so a viewer that
// stopped reading would hold every Close (the end of grace at shutdown, an
// operator's DELETE) that long. The polite end still happens where it
// matters: CloseWrite, which the relay calls when the media server ends the
// stream, sends the alert. RTMP frames its own messages, so a missing alert
// cannot make a client take a cut stream for a whole one.
func (c *Conn) Close() error { return c.rc.Conn.Close() }

// NetConn is the client's TCP connection under the TLS layer.
func (c *Conn) NetConn() net.Conn { return c.rc.Conn }

// VersionName is "1.2" or "1.3" for the negotiated TLS version (for logs
// and metric labels), "" before the handshake.
func VersionName(v uint16) string {
	switch v {
	case tls.VersionTLS12:
		return "1.2"
	case tls.VersionTLS13:
		return "1.3"
	case 0:
		return ""
	}
	return strings.TrimPrefix(tls.VersionName(v), "TLS ")
}

// Reason labels a failed server handshake for the rejected-clients metric:
//
//	tls_timeout        the ClientHello or the rest of the handshake stalled
//	tls_rejected_cert  the client refused our certificate (an alert such as
//	                   bad_certificate or unknown_ca: usually self-signed)
//	tls_alert          the client sent another alert
//	tls_version        no TLS version both sides allow (min_version)
//	tls_eof            the client closed or reset mid-handshake
//	tls_bad_hello      what came was not a well-formed TLS handshake
func Reason(err error) string {
	var ne net.Error
	switch {
	case err == nil:
		return ""
	case errors.Is(err, os.ErrDeadlineExceeded) || errors.As(err, &ne) && ne.Timeout():
		return "tls_timeout"
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) || errors.Is(err, net.ErrClosed):
		return "tls_eof"
	}
	msg := err.Error()
	switch {
	case strings.Contains(msg, "remote error: tls: bad certificate"),
		strings.Contains(msg, "remote error: tls: unknown certificate authority"),
		strings.Contains(msg, "remote error: tls: certificate unknown"),
		strings.Contains(msg, "remote error: tls: unsupported certificate"),
		strings.Contains(msg, "remote error: tls: expired certificate"),
		strings.Contains(msg, "remote error: tls: revoked certificate"),
		strings.Contains(msg, "remote error: tls: access denied"):
		return "tls_rejected_cert"
	case strings.Contains(msg, "remote error: tls: protocol version not supported"),
		strings.Contains(msg, "unsupported versions"):
		return "tls_version"
	case strings.Contains(msg, "remote error"):
		return "tls_alert"
	}
	return "tls_bad_hello"
}
