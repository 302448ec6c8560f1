package edge

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
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	rtmp "github.com/yutopp/go-rtmp"
	rtmpmsg "github.com/yutopp/go-rtmp/message"

	"github.com/rtmp-edge/rtmp-edge/edge/certs"
	"github.com/rtmp-edge/rtmp-edge/routing"
)

// writeTestCert writes a self-signed certificate (CN=cn) and its key into
// dir and returns their paths.
func writeTestCert(t *testing.T, dir, cn string) (string, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	crt, k := filepath.Join(dir, cn+".crt"), filepath.Join(dir, cn+".key")
	if err := os.WriteFile(crt, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(k, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	return crt, k
}

func TestValidateTLSListener(t *testing.T) {
	dir := t.TempDir()
	crt, key := writeTestCert(t, dir, "edge")
	base := func(protos []string, tc certs.Config) Config {
		cfg := testConfig(routing.ServerConfig{Name: "s", Address: "127.0.0.1:1"})
		cfg.Listeners[0].Protocols = protos
		cfg.Listeners[0].TLS = tc
		return cfg
	}
	cases := []struct {
		name string
		cfg  Config
		want []string // FieldError paths, in order
	}{
		{"ok", base([]string{ProtoRTMPS, ProtoRTMPTS, ProtoRTMP, ProtoRTMPT}, certs.Config{Cert: crt, Key: key}), nil},
		{"rtmps without tls", base([]string{ProtoRTMPS}, certs.Config{}), []string{"listeners[0].tls"}},
		{"rtmpts without tls", base([]string{ProtoRTMPTS}, certs.Config{}), []string{"listeners[0].tls"}},
		{"tls without rtmps", base([]string{ProtoRTMP}, certs.Config{Cert: crt, Key: key}), []string{"listeners[0].tls"}},
		{"unknown protocol", base([]string{"rtmpe"}, certs.Config{}), []string{"listeners[0].protocols[0]"}},
		{"file errors by field", base([]string{ProtoRTMPS}, certs.Config{Cert: filepath.Join(dir, "nope"), Key: filepath.Join(dir, "nope.key"), MinVersion: "1.1"}),
			[]string{"listeners[0].tls.min_version", "listeners[0].tls.cert", "listeners[0].tls.key"}},
		{"sni backend", base([]string{ProtoRTMPS}, certs.Config{Cert: crt, Key: key, SNI: []certs.SNIConfig{{Name: "a.test", Backend: "media"}, {Name: "b.test", Backend: "nope"}}}),
			[]string{"listeners[0].tls.sni[1].backend"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			var got []string
			if j, ok := err.(interface{ Unwrap() []error }); ok {
				for _, e := range j.Unwrap() {
					var fe *FieldError
					if !errors.As(e, &fe) {
						t.Fatalf("not a FieldError: %v", e)
					}
					got = append(got, fe.Path)
				}
			}
			if strings.Join(got, " ") != strings.Join(tc.want, " ") {
				t.Fatalf("paths %v, want %v; errors:\n%v", got, tc.want, err)
			}
		})
	}
}

// A go-rtmp encoder publishes over rtmps:// and a plain one over rtmp:// on
// the same port; both reach the media server. Plain bytes into a TLS-only
// listener and TLS into a listener without it are rejected with their labels.
func TestRTMPSOnOnePort(t *testing.T) {
	backends, servers := threeServers(t)
	dir := t.TempDir()
	crt, key := writeTestCert(t, dir, "edge")
	cfg := testConfig(servers...)
	cfg.Listeners[0].Protocols = []string{ProtoRTMPS, ProtoRTMP}
	cfg.Listeners[0].TLS = certs.Config{Cert: crt, Key: key}
	cfg.Listeners = append(cfg.Listeners,
		ListenerConfig{Name: "tls-only", Address: "127.0.0.2:0", Protocols: []string{ProtoRTMPS}, Backend: "media",
			HandshakeTimeout: time.Second, TLS: certs.Config{Cert: crt, Key: key}},
		ListenerConfig{Name: "plain", Address: "127.0.0.3:0", Protocols: []string{ProtoRTMP}, Backend: "media", HandshakeTimeout: time.Second})
	// Distinct addresses: sockets are kept across reloads by address.
	e := startEdge(t, cfg)

	d := &tls.Dialer{NetDialer: &net.Dialer{Timeout: 5 * time.Second}, Config: &tls.Config{InsecureSkipVerify: true}}
	sc, err := rtmp.DialWithTLSDialer(d, "rtmps", e.addr, &rtmp.ConnConfig{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sc.Close() })
	if err := bounded(sc, func() error { return sc.Connect(&rtmpmsg.NetConnectionConnect{Command: encoderConnect}) }); err != nil {
		t.Fatalf("connect over rtmps: %v", err)
	}
	publish(t, sc, "secure")
	if ev := waitEvent(t, "publish", backends...); ev.value != "secure" {
		t.Fatalf("publish event %+v", ev)
	}
	l := e.log.wait(t, "session start", func(r map[string]any) bool { return r["stream"] == "secure" })
	if l["proto"] != ProtoRTMPS || l["tls_version"] != "1.3" || l["sni"] != "" {
		t.Fatalf("session start of the rtmps publish: %v", l)
	}

	plain := goClient(t, e.addr, encoderConnect)
	publish(t, plain, "plain")
	if ev := waitEvent(t, "publish", backends...); ev.value != "plain" {
		t.Fatalf("publish event %+v", ev)
	}
	l = e.log.wait(t, "session start", func(r map[string]any) bool { return r["stream"] == "plain" })
	if l["proto"] != ProtoRTMP || l["tls_version"] != nil {
		t.Fatalf("session start of the plain publish: %v", l)
	}

	for _, tc := range []struct {
		listener, label string
		first           []byte
	}{
		{"tls-only", "not_tls", append([]byte{0x03}, make([]byte, 1536)...)},
		{"plain", "tls", []byte{0x16, 0x03, 0x01, 0x00, 0x10}},
		{"tls-only", "tls_timeout", []byte{0x16}},
	} {
		c, err := net.Dial("tcp", e.Addr(tc.listener).String())
		if err != nil {
			t.Fatal(err)
		}
		_, _ = c.Write(tc.first)
		l := e.log.wait(t, "session rejected", func(r map[string]any) bool {
			return r["listener"] == tc.listener && r["label"] == tc.label
		})
		c.Close()
		t.Logf("%s: %v", tc.label, l["reason"])
	}
}

// TestReloadRemovingAListenerKeepsItsSessions: a reload that removes a
// listener stops its accepting only; an rtmps session that came through it
// goes on (its TLS conn is still tracked by that listener: closing the
// listener's conns would cut it).
func TestReloadRemovingAListenerKeepsItsSessions(t *testing.T) {
	backends, servers := threeServers(t)
	dir := t.TempDir()
	crt, key := writeTestCert(t, dir, "edge")
	cfg := testConfig(servers...)
	cfg.Listeners = append(cfg.Listeners,
		ListenerConfig{Name: "tls-only", Address: "127.0.0.2:0", Protocols: []string{ProtoRTMPS}, Backend: "media",
			HandshakeTimeout: time.Second, TLS: certs.Config{Cert: crt, Key: key}})
	e := startEdge(t, cfg)
	tlsAddr := e.Addr("tls-only").String()

	d := &tls.Dialer{NetDialer: &net.Dialer{Timeout: 5 * time.Second}, Config: &tls.Config{InsecureSkipVerify: true}}
	sc, err := rtmp.DialWithTLSDialer(d, "rtmps", tlsAddr, &rtmp.ConnConfig{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sc.Close() })
	if err := bounded(sc, func() error { return sc.Connect(&rtmpmsg.NetConnectionConnect{Command: encoderConnect}) }); err != nil {
		t.Fatalf("connect over rtmps: %v", err)
	}
	publish(t, sc, "kept")
	waitEvent(t, "publish", backends...)
	e.log.wait(t, "session start", func(r map[string]any) bool { return r["stream"] == "kept" })

	cfg2 := cfg
	cfg2.Listeners = cfg.Listeners[:1]
	if _, err := e.Reload(cfg2); err != nil {
		t.Fatal(err)
	}
	if _, err := net.DialTimeout("tcp", tlsAddr, time.Second); err == nil {
		t.Error("the removed listener still accepts")
	}
	// The session goes on: a second publish on the same connection reaches
	// the media server.
	publish(t, sc, "kept-2")
	if ev := waitEvent(t, "publish", backends...); ev.value != "kept-2" {
		t.Fatalf("publish event %+v after the reload, want kept-2 on the same rtmps session", ev)
	}
	for _, s := range (adminSource{e.Edge}).Sessions() {
		if s.Listener == "tls-only" {
			return
		}
	}
	t.Error("the rtmps session of the removed listener is gone from the API")
}
