package certs

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// testCert is a generated certificate with its key, as crypto objects and PEM.
type testCert struct {
	cert    *x509.Certificate
	key     *ecdsa.PrivateKey
	certPEM []byte
	keyPEM  []byte
}

var serial atomic.Int64

type certOpts struct {
	cn        string
	dns       []string
	notBefore time.Time
	notAfter  time.Time
	ca        bool
	parent    *testCert // nil: self-signed
}

// makeCert creates a certificate as described, valid for an hour around now
// unless told otherwise.
func makeCert(t testing.TB, o certOpts) *testCert {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if o.notBefore.IsZero() {
		o.notBefore = time.Now().Add(-time.Hour)
	}
	if o.notAfter.IsZero() {
		o.notAfter = time.Now().Add(time.Hour)
	}
	if o.cn == "" {
		o.cn = "edge.test"
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(serial.Add(1)),
		Subject:               pkix.Name{CommonName: o.cn},
		DNSNames:              o.dns,
		NotBefore:             o.notBefore,
		NotAfter:              o.notAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
	}
	if o.ca {
		tmpl.IsCA = true
		tmpl.KeyUsage |= x509.KeyUsageCertSign
	}
	parent, signer := tmpl, key
	if o.parent != nil {
		parent, signer = o.parent.cert, o.parent.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, signer)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return &testCert{
		cert:    c,
		key:     key,
		certPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		keyPEM:  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}),
	}
}

// writeFile writes data under dir and returns the path.
func writeFile(t testing.TB, dir, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// writePair writes c's cert and key as name.crt and name.key.
func writePair(t testing.TB, dir, name string, c *testCert) (certPath, keyPath string) {
	return writeFile(t, dir, name+".crt", c.certPEM), writeFile(t, dir, name+".key", c.keyPEM)
}

// errorLines splits a joined Validate error into its lines.
func errorLines(err error) []string {
	if err == nil {
		return nil
	}
	return strings.Split(err.Error(), "\n")
}

func TestValidateGoodPair(t *testing.T) {
	dir := t.TempDir()
	crt, key := writePair(t, dir, "edge", makeCert(t, certOpts{dns: []string{"edge.test"}}))
	for _, mv := range []string{"", "1.2", "1.3"} {
		cfg := Config{Cert: crt, Key: key, MinVersion: mv}
		if err := cfg.Validate(); err != nil {
			t.Errorf("min_version %q: %v", mv, err)
		}
	}
}

func TestValidateReportsEachProblemByField(t *testing.T) {
	dir := t.TempDir()
	good := makeCert(t, certOpts{})
	other := makeCert(t, certOpts{})
	crt, key := writePair(t, dir, "good", good)
	_, otherKey := writePair(t, dir, "other", other)
	expCrt, expKey := writePair(t, dir, "expired", makeCert(t, certOpts{
		notBefore: time.Now().Add(-48 * time.Hour), notAfter: time.Now().Add(-24 * time.Hour)}))
	futCrt, futKey := writePair(t, dir, "future", makeCert(t, certOpts{
		notBefore: time.Now().Add(24 * time.Hour), notAfter: time.Now().Add(48 * time.Hour)}))
	missing := filepath.Join(dir, "missing.pem")

	cases := []struct {
		name string
		cfg  Config
		want []string // each a prefix of one error line, in order
	}{
		{"required", Config{}, []string{"cert: is required", "key: is required"}},
		{"unreadable cert", Config{Cert: missing, Key: key}, []string{"cert: stat " + missing}},
		{"unreadable key", Config{Cert: crt, Key: missing}, []string{"key: stat " + missing}},
		{"directory", Config{Cert: dir, Key: key}, []string{"cert: " + dir + " is not a regular file"}},
		{"mismatch", Config{Cert: crt, Key: otherKey}, []string{"key: " + otherKey + " does not match the certificate in " + crt}},
		{"expired", Config{Cert: expCrt, Key: expKey}, []string{"cert: " + expCrt + ": certificate \"CN=edge.test\" expired at "}},
		{"not yet valid", Config{Cert: futCrt, Key: futKey}, []string{"cert: " + futCrt + ": certificate \"CN=edge.test\" is not valid before "}},
		{"min_version", Config{Cert: crt, Key: key, MinVersion: "1.1"}, []string{`min_version: must be 1.2 or 1.3, got "1.1"`}},
		{"min_version tls13", Config{Cert: crt, Key: key, MinVersion: "TLS1.3"}, []string{`min_version: must be 1.2 or 1.3, got "TLS1.3"`}},
		{"sni", Config{Cert: crt, Key: key, SNI: []SNIConfig{
			{Name: "", Backend: "b"},
			{Name: "a.test", Cert: crt, Key: otherKey},
			{Name: "b.test", Cert: crt},
			{Name: "c.test", Key: key},
			{Name: "bad name!"},
			{Name: "A.test"}, // duplicate of sni[1] apart from case
			{Name: "*.w.test"},
			{Name: "*.W.test."},
			{Name: "e.test", Cert: expCrt, Key: expKey},
		}}, []string{
			"sni[0].name: is required",
			"sni[1].key: " + otherKey + " does not match the certificate in " + crt,
			"sni[2].key: is required with cert",
			"sni[3].cert: is required with key",
			`sni[4].name: want a host name or *.domain, got "bad name!"`,
			`sni[5].name: duplicate name "A.test"`,
			`sni[7].name: duplicate name "*.W.test."`,
			"sni[8].cert: " + expCrt + ": certificate",
		}},
		{"all at once", Config{Cert: expCrt, Key: missing, MinVersion: "2"}, []string{
			`min_version: must be 1.2 or 1.3`, "cert: " + expCrt, "key: stat " + missing,
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			lines := errorLines(err)
			if len(lines) != len(tc.want) {
				t.Fatalf("got %d errors, want %d:\n%v", len(lines), len(tc.want), err)
			}
			for i, w := range tc.want {
				if !strings.HasPrefix(lines[i], w) {
					t.Errorf("error %d:\n got  %s\n want %s…", i, lines[i], w)
				}
			}
			// The edge config splits joined errors to give each its own line
			// of the file: each must be a separate error, not one with "\n".
			j, ok := err.(interface{ Unwrap() []error })
			if !ok || len(j.Unwrap()) != len(tc.want) {
				t.Fatalf("want a flat list of %d errors, got %#v", len(tc.want), err)
			}
			for _, e := range j.Unwrap() {
				if strings.Contains(e.Error(), "\n") {
					t.Errorf("one error spans lines: %q", e)
				}
			}
		})
	}
}

func TestChainInCertFile(t *testing.T) {
	dir := t.TempDir()
	root := makeCert(t, certOpts{cn: "root", ca: true})
	inter := makeCert(t, certOpts{cn: "intermediate", ca: true, parent: root})
	leaf := makeCert(t, certOpts{cn: "edge.test", dns: []string{"edge.test"}, parent: inter})
	chain := append(append([]byte{}, leaf.certPEM...), inter.certPEM...)
	crt := writeFile(t, dir, "chain.crt", chain)
	key := writeFile(t, dir, "leaf.key", leaf.keyPEM)
	s, err := NewStore(Config{Cert: crt, Key: key})
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(root.cert)
	// Only the root is trusted: the handshake verifies only if the edge
	// sends the intermediate from the cert file.
	st, _, err := handshake(t, s, &tls.Config{RootCAs: pool, ServerName: "edge.test"})
	if err != nil {
		t.Fatal(err)
	}
	if len(st.PeerCertificates) != 2 || st.PeerCertificates[1].Subject.CommonName != "intermediate" {
		t.Fatalf("client got %d certificates, want leaf and intermediate", len(st.PeerCertificates))
	}

	// An expired intermediate is refused even when the leaf is fine.
	oldInter := makeCert(t, certOpts{cn: "old intermediate", ca: true, parent: root,
		notBefore: time.Now().Add(-48 * time.Hour), notAfter: time.Now().Add(-time.Hour)})
	leaf2 := makeCert(t, certOpts{cn: "edge.test", parent: oldInter})
	crt2 := writeFile(t, dir, "chain2.crt", append(append([]byte{}, leaf2.certPEM...), oldInter.certPEM...))
	key2 := writeFile(t, dir, "leaf2.key", leaf2.keyPEM)
	err = (&Config{Cert: crt2, Key: key2}).Validate()
	if err == nil || !strings.Contains(err.Error(), `chain certificate 2 "CN=old intermediate" expired`) {
		t.Fatalf("expired intermediate: got %v", err)
	}
}

func TestHostileFiles(t *testing.T) {
	dir := t.TempDir()
	good := makeCert(t, certOpts{})
	crt, key := writePair(t, dir, "good", good)
	huge := make([]byte, MaxFileSize+1)
	copy(huge, good.certPEM) // a valid PEM at the start must not save it
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	badDER := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte("not DER at all")})
	badKey := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte("not a key")})
	cases := []struct {
		name      string
		cert, key string
		want      string
	}{
		{"garbage cert", writeFile(t, dir, "garbage.crt", []byte("hello, I am not PEM\x00\xff")), key, "cert: " + dir + "/garbage.crt holds no PEM CERTIFICATE block"},
		{"garbage key", crt, writeFile(t, dir, "garbage.key", []byte("-----BEGIN NOTHING")), "key: " + dir + "/garbage.key: "},
		{"empty cert", writeFile(t, dir, "empty.crt", nil), key, "cert: " + dir + "/empty.crt is empty"},
		{"blank key", crt, writeFile(t, dir, "blank.key", []byte(" \n\t\n")), "key: " + dir + "/blank.key is empty"},
		{"huge cert", writeFile(t, dir, "huge.crt", huge), key, "cert: " + dir + "/huge.crt is larger than 1048576 bytes"},
		{"huge key", crt, writeFile(t, dir, "huge.key", huge), "key: " + dir + "/huge.key is larger than 1048576 bytes"},
		{"fifo", fifo, key, "cert: " + fifo + " is not a regular file"},
		{"device", "/dev/zero", key, "cert: /dev/zero is not a regular file"},
		{"key in cert field", key, key, "cert: " + key + " holds a PRIVATE KEY; the key belongs in key"},
		{"cert in key field", crt, crt, "key: " + crt + ": "},
		{"bad DER", writeFile(t, dir, "baddep.crt", badDER), key, "cert: " + dir + "/baddep.crt: certificate 1: "},
		{"bad key DER", crt, writeFile(t, dir, "badder.key", badKey), "key: " + dir + "/badder.key: "},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			done := make(chan error, 1)
			go func() { done <- (&Config{Cert: tc.cert, Key: tc.key}).Validate() }()
			var err error
			select {
			case err = <-done:
			case <-time.After(30 * time.Second):
				t.Fatal("Validate did not return (blocked on the file?)")
			}
			lines := errorLines(err)
			if len(lines) != 1 || !strings.HasPrefix(lines[0], tc.want) {
				t.Fatalf("got %v\nwant one error starting %q", err, tc.want)
			}
		})
	}
}

func TestSNIPicksCertificateAndBackend(t *testing.T) {
	dir := t.TempDir()
	def := makeCert(t, certOpts{cn: "default"})
	ingest := makeCert(t, certOpts{cn: "ingest"})
	wild := makeCert(t, certOpts{cn: "wild"})
	dcrt, dkey := writePair(t, dir, "def", def)
	icrt, ikey := writePair(t, dir, "ingest", ingest)
	wcrt, wkey := writePair(t, dir, "wild", wild)
	s, err := NewStore(Config{Cert: dcrt, Key: dkey, SNI: []SNIConfig{
		{Name: "ingest.example.com", Cert: icrt, Key: ikey, Backend: "uploads"},
		{Name: "*.live.example.com", Cert: wcrt, Key: wkey, Backend: "players"},
		{Name: "routed.example.com", Backend: "other"}, // name only: default certificate
	}})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		sni     string
		cn      string
		index   int
		backend string
	}{
		{"", "default", -1, ""},
		{"unknown.example.com", "default", -1, ""},
		{"ingest.example.com", "ingest", 0, "uploads"},
		{"INGEST.Example.COM", "ingest", 0, "uploads"},
		{"a.live.example.com", "wild", 1, "players"},
		{"live.example.com", "default", -1, ""},     // a wildcard needs a label
		{"a.b.live.example.com", "default", -1, ""}, // and only one
		{"routed.example.com", "default", 2, "other"},
	}
	for _, tc := range cases {
		t.Run(tc.sni, func(t *testing.T) {
			st, m, err := handshake(t, s, &tls.Config{InsecureSkipVerify: true, ServerName: tc.sni})
			if err != nil {
				t.Fatal(err)
			}
			if cn := st.PeerCertificates[0].Subject.CommonName; cn != tc.cn {
				t.Errorf("certificate %q, want %q", cn, tc.cn)
			}
			if m.Index != tc.index || m.Backend != tc.backend {
				t.Errorf("match %+v, want index %d backend %q", m, tc.index, tc.backend)
			}
		})
	}
	want := "CN=default until " + def.cert.NotAfter.UTC().Format(time.DateOnly)
	if d := s.Describe(); !strings.HasPrefix(d, want) || !strings.Contains(d, "; sni ingest.example.com: CN=ingest") ||
		!strings.Contains(d, "; sni *.live.example.com: CN=wild") || strings.Contains(d, "routed") {
		t.Errorf("Describe: %q", d)
	}
	// TLSConfig alone (no Server wrapper) picks the same certificates.
	ln, err := tls.Listen("tcp", "127.0.0.1:0", s.TLSConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err == nil {
			_ = c.(*tls.Conn).Handshake()
			c.Close()
		}
	}()
	c, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{InsecureSkipVerify: true, ServerName: "x.live.example.com"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if cn := c.ConnectionState().PeerCertificates[0].Subject.CommonName; cn != "wild" {
		t.Errorf("TLSConfig: certificate %q, want wild", cn)
	}
}

func TestVersionName(t *testing.T) {
	for v, want := range map[uint16]string{0: "", tls.VersionTLS12: "1.2", tls.VersionTLS13: "1.3", tls.VersionTLS10: "1.0"} {
		if got := VersionName(v); got != want {
			t.Errorf("VersionName(%#x) = %q, want %q", v, got, want)
		}
	}
}

func TestReasonNil(t *testing.T) {
	if r := Reason(nil); r != "" {
		t.Fatalf("Reason(nil) = %q", r)
	}
	if r := Reason(errors.New("something odd")); r != "tls_bad_hello" {
		t.Fatalf("Reason(other) = %q", r)
	}
}

func TestJoinFlat(t *testing.T) {
	a, b, c := errors.New("a: 1"), errors.New("b: 2"), errors.New("c: 3")
	err := joinFlat(nil, errors.Join(a, errors.Join(b, nil)), c)
	j, ok := err.(interface{ Unwrap() []error })
	if !ok || len(j.Unwrap()) != 3 || j.Unwrap()[0] != a || j.Unwrap()[1] != b || j.Unwrap()[2] != c {
		t.Fatalf("joinFlat: %#v", err)
	}
	if joinFlat(nil, errors.Join(nil)) != nil {
		t.Fatal("joinFlat of nothing is not nil")
	}
}
