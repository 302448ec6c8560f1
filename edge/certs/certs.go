// Package certs holds a listener's TLS identity: the certificate and key files
// of its config, loaded, checked and swappable while the listener runs (rtmps
// and rtmpts are ended at the edge with crypto/tls).
//
// A Store picks a certificate per connection by the server name (SNI) the
// client asked for, and remembers which configured name matched, so the
// listener can send that name's clients to its own backend.
package certs

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

// Config is a listener's `tls:` block.
type Config struct {
	// Cert is a PEM file: the server certificate first, then any
	// intermediates the clients need to reach their root.
	Cert string `yaml:"cert"`
	// Key is the PEM private key of the certificate in Cert.
	Key string `yaml:"key"`
	// MinVersion is "1.2" (default) or "1.3".
	MinVersion string `yaml:"min_version"`
	// SNI entries answer clients that ask for their name with their own
	// certificate (when Cert/Key are set) and send them to their own backend
	// (when Backend is set). Clients that send no name or another name get
	// the top-level certificate and the listener's backend.
	SNI []SNIConfig `yaml:"sni"`
}

// SNIConfig is one server name a listener answers to.
type SNIConfig struct {
	// Name is an exact host name ("ingest.example.com") or a wildcard of
	// one leftmost label ("*.example.com", which matches a.example.com but
	// neither example.com nor a.b.example.com, as in RFC 6125 6.4.3).
	Name    string `yaml:"name"`
	Cert    string `yaml:"cert"`
	Key     string `yaml:"key"`
	Backend string `yaml:"backend"`
}

// IsZero reports an absent `tls:` block.
func (c *Config) IsZero() bool {
	return c.Cert == "" && c.Key == "" && c.MinVersion == "" && len(c.SNI) == 0
}

// MaxFileSize caps what is read of one certificate or key file: a real chain
// is a few KiB, and a path pointing at something huge (a log, a device) must
// not eat the edge's memory at reload.
const MaxFileSize = 1 << 20

// Validate loads every certificate and key the config names and returns
// every problem found, joined, each as "field: message" with field one of
// cert, key, min_version, sni[i].name, sni[i].cert, sni[i].key.
func (c *Config) Validate() error {
	_, err := load(c, time.Now())
	return err
}

func minVersion(s string) (uint16, error) {
	switch s {
	case "", "1.2":
		return tls.VersionTLS12, nil
	case "1.3":
		return tls.VersionTLS13, nil
	}
	return 0, fmt.Errorf("min_version: must be 1.2 or 1.3, got %q", s)
}

// fieldErr is one "field: message" problem.
func fieldErr(field string, format string, args ...any) error {
	return fmt.Errorf("%s: %s", field, fmt.Sprintf(format, args...))
}

// readPEM reads a certificate or key file, refusing what cannot be one:
// missing, not a regular file (a FIFO would block the reload), empty, or
// larger than MaxFileSize.
func readPEM(field, path string) ([]byte, error) {
	if path == "" {
		return nil, fieldErr(field, "is required")
	}
	st, err := os.Stat(path)
	if err != nil {
		return nil, fieldErr(field, "%v", err)
	}
	if !st.Mode().IsRegular() {
		return nil, fieldErr(field, "%s is not a regular file", path)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fieldErr(field, "%v", err)
	}
	defer f.Close()
	// One byte more than the cap tells "exactly the cap" from "larger",
	// also when the file grows between Stat and Read.
	b, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, fieldErr(field, "%v", err)
	}
	switch {
	case len(b) > MaxFileSize:
		return nil, fieldErr(field, "%s is larger than %d bytes; not a PEM certificate or key", path, MaxFileSize)
	case len(strings.TrimSpace(string(b))) == 0:
		return nil, fieldErr(field, "%s is empty", path)
	}
	return b, nil
}

// loadPair reads one certificate/key pair and checks it the way a client
// would see it at time now. certField/keyField name the fields in errors.
func loadPair(certField, keyField, certPath, keyPath string, now time.Time) (*tls.Certificate, error) {
	certPEM, certErr := readPEM(certField, certPath)
	keyPEM, keyErr := readPEM(keyField, keyPath)
	var chain []*x509.Certificate
	if certErr == nil {
		chain, certErr = parseChain(certField, certPath, certPEM, now)
	}
	if certErr != nil || keyErr != nil {
		return nil, errors.Join(certErr, keyErr)
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		// The certificate parsed above, so what is left is the key's fault.
		msg := strings.TrimPrefix(err.Error(), "tls: ")
		if strings.Contains(msg, "does not match") {
			return nil, fieldErr(keyField, "%s does not match the certificate in %s", keyPath, certPath)
		}
		return nil, fieldErr(keyField, "%s: %s", keyPath, msg)
	}
	pair.Leaf = chain[0]
	return &pair, nil
}

// parseChain decodes every CERTIFICATE block of a cert file and checks that
// each is valid at now: a client refuses an expired intermediate as surely
// as an expired leaf.
func parseChain(field, path string, data []byte, now time.Time) ([]*x509.Certificate, error) {
	var chain []*x509.Certificate
	rest := data
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			// A private key pasted into the cert file is an operator's
			// mistake worth naming rather than skipping silently.
			if strings.Contains(block.Type, "PRIVATE KEY") {
				return nil, fieldErr(field, "%s holds a %s; the key belongs in key", path, block.Type)
			}
			continue
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fieldErr(field, "%s: certificate %d: %v", path, len(chain)+1, err)
		}
		chain = append(chain, c)
	}
	if len(chain) == 0 {
		return nil, fieldErr(field, "%s holds no PEM CERTIFICATE block", path)
	}
	var errs []error
	for i, c := range chain {
		which := "certificate"
		if i > 0 {
			which = fmt.Sprintf("chain certificate %d", i+1)
		}
		switch {
		case now.After(c.NotAfter):
			errs = append(errs, fieldErr(field, "%s: %s %q expired at %s", path, which, c.Subject.String(), c.NotAfter.UTC().Format(time.RFC3339)))
		case now.Before(c.NotBefore):
			errs = append(errs, fieldErr(field, "%s: %s %q is not valid before %s", path, which, c.Subject.String(), c.NotBefore.UTC().Format(time.RFC3339)))
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return chain, nil
}

// loaded is one consistent generation of a Store: everything read from the
// files at one load, swapped in as a whole.
type loaded struct {
	minVersion uint16
	def        entry
	exact      map[string]*entry
	wild       map[string]*entry // keyed by the part after "*."
	loadedAt   time.Time
}

// entry is what a matched name brings: its certificate and a ready
// *tls.Config holding it, shared by every handshake of this generation.
type entry struct {
	match Match
	cert  *tls.Certificate
	conf  *tls.Config
}

// load reads and checks everything cfg names.
func load(cfg *Config, now time.Time) (*loaded, error) {
	var errs []error
	mv, err := minVersion(cfg.MinVersion)
	errs = append(errs, err)
	l := &loaded{minVersion: mv, exact: map[string]*entry{}, wild: map[string]*entry{}, loadedAt: now}
	l.def.match = Match{Index: -1}
	l.def.cert, err = loadPair("cert", "key", cfg.Cert, cfg.Key, now)
	errs = append(errs, err)
	for i, s := range cfg.SNI {
		p := fmt.Sprintf("sni[%d]", i)
		name := strings.ToLower(strings.TrimSuffix(s.Name, "."))
		e := &entry{match: Match{Index: i, Name: name, Backend: s.Backend}}
		names, key := l.exact, name
		if rest, ok := strings.CutPrefix(name, "*."); ok {
			names, key = l.wild, rest
		}
		switch {
		case name == "":
			errs = append(errs, fieldErr(p+".name", "is required"))
		case !validName(name):
			errs = append(errs, fieldErr(p+".name", "want a host name or *.domain, got %q", s.Name))
		case names[key] != nil:
			errs = append(errs, fieldErr(p+".name", "duplicate name %q", s.Name))
		default:
			names[key] = e
		}
		switch {
		case s.Cert == "" && s.Key == "":
			// Routing by name only: the top-level certificate answers.
			e.cert = l.def.cert
		case s.Cert == "":
			errs = append(errs, fieldErr(p+".cert", "is required with key"))
		case s.Key == "":
			errs = append(errs, fieldErr(p+".key", "is required with cert"))
		default:
			e.cert, err = loadPair(p+".cert", p+".key", s.Cert, s.Key, now)
			errs = append(errs, err)
		}
	}
	if err := joinFlat(errs...); err != nil {
		return nil, err
	}
	l.def.conf = l.tlsConfig(l.def.cert)
	for _, e := range l.exact {
		e.conf = l.tlsConfig(e.cert)
	}
	for _, e := range l.wild {
		e.conf = l.tlsConfig(e.cert)
	}
	return l, nil
}

// joinFlat joins errs into one list without nesting, so that a caller that
// splits the list (the edge config gives each error its own line of the
// file) sees each "field: message" on its own.
func joinFlat(errs ...error) error {
	var flat []error
	for _, err := range errs {
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			if err := joinFlat(j.Unwrap()...); err != nil {
				flat = append(flat, err.(interface{ Unwrap() []error }).Unwrap()...)
			}
		} else if err != nil {
			flat = append(flat, err)
		}
	}
	return errors.Join(flat...)
}

func (l *loaded) tlsConfig(cert *tls.Certificate) *tls.Config {
	return &tls.Config{
		MinVersion:   l.minVersion,
		Certificates: []tls.Certificate{*cert},
		// No session tickets: in TLS 1.3 the server sends them right after
		// the handshake, and librtmp (rtmpdump, and the clients built on
		// it) reads that record where it expects S0 and fails its RTMP
		// handshake. RTMP clients hold one long session and seldom resume,
		// so nothing is lost.
		SessionTicketsDisabled: true,
	}
}

// validName accepts host names of letters, digits, '-' and '.', with an
// optional leading "*." wildcard label.
func validName(n string) bool {
	n = strings.TrimPrefix(n, "*.")
	if n == "" || len(n) > 253 || strings.HasPrefix(n, ".") || strings.Contains(n, "..") {
		return false
	}
	for _, r := range n {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '.') {
			return false
		}
	}
	return true
}

// pick chooses the entry for a client's server name: an exact name first,
// then a wildcard for its parent domain, else the top-level certificate.
func (l *loaded) pick(serverName string) *entry {
	name := strings.ToLower(strings.TrimSuffix(serverName, "."))
	if name == "" {
		return &l.def
	}
	if e := l.exact[name]; e != nil {
		return e
	}
	if _, parent, ok := strings.Cut(name, "."); ok && parent != "" {
		if e := l.wild[parent]; e != nil {
			return e
		}
	}
	return &l.def
}
