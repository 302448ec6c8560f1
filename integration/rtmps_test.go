package integration

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rtmp-edge/rtmp-edge/integration/harness"
)

// Client IP blocks of the RTMPS tests (disjoint from the other tests').
const (
	rtmpsPlayerBlock  = 120
	rtmpsHostileBlock = 121
	rtmpsReloadBlock  = 122
)

// testCert writes a self-signed certificate for localhost and 127.0.0.1
// (subject CN=cn) and its key to dir as name.crt and name.key, valid from
// notBefore to notAfter.
func testCert(t *testing.T, dir, name, cn string, notBefore, notAfter time.Time) (certPath, keyPath string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, err := rand.Int(rand.Reader, big.NewInt(1<<62))
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: cn},
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    notBefore,
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certPath, keyPath = filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key")
	// Write each through a rename, as certbot and friends replace files,
	// so an edge reading at that moment sees the old file or the new one.
	for path, block := range map[string]*pem.Block{certPath: {Type: "CERTIFICATE", Bytes: der}, keyPath: {Type: "PRIVATE KEY", Bytes: kder}} {
		tmp := path + ".tmp"
		if err := os.WriteFile(tmp, pem.EncodeToMemory(block), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, path); err != nil {
			t.Fatal(err)
		}
	}
	return certPath, keyPath
}

func validCert(t *testing.T, dir, name, cn string) (string, string) {
	return testCert(t, dir, name, cn, time.Now().Add(-time.Hour), time.Now().Add(24*time.Hour))
}

// tlsCluster is an edge with TLS listeners in front of two nginx-rtmp media
// servers: media03 takes uploads and pushes them to media01.
type tlsCluster struct {
	media   map[string]*harness.Nginx
	edge    *harness.Edge
	cfg     string
	all     string // listener "all": [rtmps, rtmpts, rtmp, rtmpt]
	tlsOnly string // listener "tls-only": [rtmps]
	dir     string // where the certificate files are
	cert    string
	key     string
}

// startTLSCluster: listener "all" serves the four protocols on one port, and
// clients that ask for the name "localhost" (SNI) go to backend "mirror",
// which is media01 alone; "tls-only" serves rtmps alone.
func startTLSCluster(t *testing.T) *tlsCluster {
	t.Helper()
	c := &tlsCluster{media: map[string]*harness.Nginx{}, dir: t.TempDir(), all: harness.FreeAddr(t), tlsOnly: harness.FreeAddr(t)}
	c.cert, c.key = validCert(t, c.dir, "edge", "edge one")
	c.media["media01"] = harness.StartNginx(t, harness.NginxOptions{Name: "media01", RTMPAddr: harness.FreeAddr(t), HTTPAddr: harness.FreeAddr(t)})
	c.media["media03"] = harness.StartNginx(t, harness.NginxOptions{Name: "media03", RTMPAddr: harness.FreeAddr(t), HTTPAddr: harness.FreeAddr(t),
		Push: []string{"rtmp://" + c.media["media01"].Opts.RTMPAddr + "/live"}})
	c.cfg = fmt.Sprintf(`admin:
  address: %q
listeners:
  - name: all
    address: %q
    protocols: [rtmps, rtmpts, rtmp, rtmpt]
    backend: media
    handshake_timeout: 2s
    tls:
      cert: %q
      key: %q
      sni:
        - { name: localhost, backend: mirror }
  - name: tls-only
    address: %q
    protocols: [rtmps]
    backend: media
    handshake_timeout: 2s
    tls: { cert: %q, key: %q, min_version: "1.2" }
backends:
  - name: media
    balance: roundrobin
    check: { type: rtmp, interval: 300ms, rise: 2, fall: 2, timeout: 1s, app: live }
    connect_timeout: 2s
    handshake_timeout: 3s
    servers:
      - { name: media01, address: %q, weight: 10 }
      - { name: media03, address: %q, weight: 8, upload: true }
  - name: mirror
    check: { type: rtmp, interval: 300ms, rise: 2, fall: 2, timeout: 1s, app: live }
    servers:
      - { name: media01, address: %q }
`, harness.FreeAddr(t), c.all, c.cert, c.key, c.tlsOnly, c.cert, c.key,
		c.media["media01"].Opts.RTMPAddr, c.media["media03"].Opts.RTMPAddr, c.media["media01"].Opts.RTMPAddr)
	c.edge = harness.StartEdge(t, c.cfg)
	c.edge.WaitServersUp(t, "media", []string{"media01", "media03"}, 15*time.Second)
	c.edge.WaitServersUp(t, "mirror", []string{"media01"}, 15*time.Second)
	return c
}

// peerCN dials addr over TLS (no verification: the certificate is
// self-signed) and returns the CN of the certificate the edge presented.
func peerCN(t *testing.T, addr, serverName string) string {
	t.Helper()
	d := &net.Dialer{Timeout: 10 * time.Second}
	c, err := tls.DialWithDialer(d, "tcp", addr, &tls.Config{InsecureSkipVerify: true, ServerName: serverName})
	if err != nil {
		t.Fatalf("TLS dial %s: %v", addr, err)
	}
	defer c.Close()
	return c.ConnectionState().PeerCertificates[0].Subject.CommonName
}

// tlsPlayer is a Go player whose connection is TLS from source ip.
func tlsPlayer(t *testing.T, addr, ip, stream string) *harness.Player {
	t.Helper()
	return harness.StartPlayer(t, harness.PlayerOptions{
		Addr: addr, Stream: stream, TcURL: "rtmps://" + addr + "/live",
		Dial: func(ctx context.Context) (net.Conn, error) {
			d := &tls.Dialer{NetDialer: &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}, Config: &tls.Config{InsecureSkipVerify: true}}
			return d.DialContext(ctx, "tcp", addr)
		},
	})
}

// waitSessionEnd waits for the "session end" line of a session on listener
// with proto and stream and returns it.
func waitSessionEnd(t *testing.T, e *harness.Edge, mark int, listener, proto, stream string) harness.LogLine {
	t.Helper()
	return e.WaitLogSince(t, mark, func(l harness.LogLine) bool {
		return l.Msg() == "session end" && l.Str("listener") == listener && l.Str("proto") == proto && l.Str("stream") == stream
	}, 20*time.Second)
}

// TestRTMPS: ffmpeg publishes over rtmps:// through the edge and lands on the
// upload server; ffmpeg plays over rtmps, rtmpts, rtmp and rtmpt on the same
// port, rtmpdump over rtmps, all hash-equal to the source; a client asking
// for the name "localhost" is answered by its SNI entry's backend; the
// session lines say the protocol, TLS version and SNI name.
func TestRTMPS(t *testing.T) {
	t.Parallel()
	c := startTLSCluster(t)
	flv := harness.MakeTestStream(t, 4)
	published := harness.MustFrameMD5(t, flv)

	mark := c.edge.LogMark()
	pub := harness.Publish(t, url("rtmps", c.all, "sec"), flv)
	c.media["media03"].WaitStat(t, "publisher of sec (over rtmps)", hasPublisher("sec"), 20*time.Second)
	c.media["media01"].WaitStat(t, "publisher of sec (pushed)", hasPublisher("sec"), 20*time.Second)
	start := c.edge.WaitLogSince(t, mark, func(l harness.LogLine) bool {
		return l.Msg() == "session start" && l.Str("stream") == "sec" && l.Str("kind") == "publish"
	}, 15*time.Second)
	if start.Str("proto") != "rtmps" || start.Str("server") != "media03" || start.Str("tls_version") == "" {
		t.Errorf("publish session start: proto %q server %q tls_version %q; want rtmps, media03, a version", start.Str("proto"), start.Str("server"), start.Str("tls_version"))
	}

	t.Run("four-protocols-one-port", func(t *testing.T) {
		var wg sync.WaitGroup
		var mu sync.Mutex
		errs := map[string]error{}
		mark := c.edge.LogMark()
		for _, scheme := range []string{"rtmps", "rtmpts", "rtmp", "rtmpt"} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				got, err := harness.PlayFFmpeg(url(scheme, c.all, "sec"), 3*time.Second)
				if err == nil {
					err = got.CheckSubsetOf(published, 20)
				}
				mu.Lock()
				errs[scheme] = err
				mu.Unlock()
			}()
		}
		wg.Wait()
		for scheme, err := range errs {
			if err != nil {
				t.Errorf("ffmpeg %s:// player on the four-protocol port: %v", scheme, err)
			}
		}
		for _, proto := range []string{"rtmps", "rtmpts", "rtmp", "rtmpt"} {
			l := waitSessionEnd(t, c.edge, mark, "all", proto, "sec")
			tlsVersion := l.Str("tls_version")
			if secure := proto == "rtmps" || proto == "rtmpts"; secure != (tlsVersion != "") {
				t.Errorf("%s session: tls_version %q", proto, tlsVersion)
			}
			if l.Str("sni") != "" {
				t.Errorf("%s session to 127.0.0.1 (no server name): sni %q", proto, l.Str("sni"))
			}
		}
	})

	t.Run("rtmpdump-rtmps", func(t *testing.T) {
		got, err := harness.PlayRTMPDump(t, url("rtmps", c.all, "sec"), 3*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if err := got.CheckSubsetOf(published, 20); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("rtmps-only-listener", func(t *testing.T) {
		got, err := harness.PlayFFmpeg(url("rtmps", c.tlsOnly, "sec"), 3*time.Second)
		if err == nil {
			err = got.CheckSubsetOf(published, 20)
		}
		if err != nil {
			t.Fatal(err)
		}
	})

	t.Run("sni-picks-backend", func(t *testing.T) {
		// ffmpeg sends the URL's host name as SNI (none for an IP address).
		port := c.all[strings.LastIndexByte(c.all, ':')+1:]
		mark := c.edge.LogMark()
		for _, scheme := range []string{"rtmps", "rtmpts"} {
			got, err := harness.PlayFFmpeg(scheme+"://localhost:"+port+"/live/sec", 3*time.Second)
			if err == nil {
				err = got.CheckSubsetOf(published, 20)
			}
			if err != nil {
				t.Fatalf("%s://localhost: %v", scheme, err)
			}
			// By its tcUrl: the rtmpdump session of the subtest before may
			// log its end after mark.
			l := c.edge.WaitLogSince(t, mark, func(l harness.LogLine) bool {
				return l.Msg() == "session end" && l.Str("proto") == scheme && strings.Contains(l.Str("tcurl"), "://localhost:")
			}, 20*time.Second)
			if l.Str("sni") != "localhost" || l.Str("server") != "media01" {
				t.Errorf("%s://localhost session: sni %q server %q; want localhost, media01 (backend mirror)", scheme, l.Str("sni"), l.Str("server"))
			}
		}
		n, err := c.edge.MetricSum("rtmp_edge_tls_handshakes_total", map[string]string{"listener": "all", "sni": "localhost"})
		if err != nil || n < 2 {
			t.Errorf("rtmp_edge_tls_handshakes_total{listener=all,sni=localhost} = %v (%v), want at least 2", n, err)
		}
	})

	pub.Stop()
	l := c.edge.WaitLogSince(t, mark, func(l harness.LogLine) bool {
		return l.Msg() == "session end" && l.Str("listener") == "all" && l.Str("proto") == "rtmps" && l.Str("command") == "publish"
	}, 20*time.Second)
	if l.Str("server") != "media03" {
		t.Errorf("rtmps publish ended on %q, want media03", l.Str("server"))
	}
	n, err := c.edge.MetricSum("rtmp_edge_sessions_total", map[string]string{"listener": "all", "proto": "rtmps"})
	if err != nil || n < 2 {
		t.Errorf("rtmp_edge_sessions_total{listener=all,proto=rtmps} = %v (%v), want at least 2", n, err)
	}
}

// TestRTMPSCertificateReload: a player over rtmps keeps playing across a
// certificate change and SIGHUP; new handshakes get the new certificate; a
// broken renewal is refused with the error logged, and the last good
// certificate keeps serving.
func TestRTMPSCertificateReload(t *testing.T) {
	t.Parallel()
	c := startTLSCluster(t)
	flv := harness.MakeTestStream(t, 4)
	published := harness.MustFrameMD5(t, flv)
	harness.Publish(t, url("rtmp", c.media["media03"].Opts.RTMPAddr, "rot"), flv)
	c.media["media03"].WaitStat(t, "publisher of rot", hasPublisher("rot"), 20*time.Second)
	c.media["media01"].WaitStat(t, "publisher of rot (pushed)", hasPublisher("rot"), 20*time.Second)

	if cn := peerCN(t, c.all, ""); cn != "edge one" {
		t.Fatalf("first certificate: CN %q", cn)
	}
	player := tlsPlayer(t, c.all, harness.ClientIP(rtmpsReloadBlock, 1), "rot")
	if err := player.WaitPackets(20, 15*time.Second); err != nil {
		t.Fatal(err)
	}

	// Renewal in place, then SIGHUP with the config unchanged.
	validCert(t, c.dir, "edge", "edge two")
	if l := c.edge.Reload(t, c.cfg); l.Msg() != "config reloaded" {
		t.Fatalf("reload after renewal: %s %v", l.Msg(), l)
	}
	for _, addr := range []string{c.all, c.tlsOnly} {
		if cn := peerCN(t, addr, ""); cn != "edge two" {
			t.Fatalf("after SIGHUP a new handshake on %s got CN %q, want edge two", addr, cn)
		}
	}
	m := player.Mark()
	if err := m.Wait(25, 20*time.Second); err != nil {
		t.Fatalf("player across the certificate change: %v", err)
	}

	// A renewal gone wrong: an expired certificate. Refused, logged by
	// field, the second certificate stays.
	testCert(t, c.dir, "edge", "edge expired", time.Now().Add(-48*time.Hour), time.Now().Add(-time.Hour))
	l := c.edge.Reload(t, c.cfg)
	if l.Msg() != "config reload failed" || !regexp.MustCompile(`listeners\[0\]\.tls\.cert:.*expired`).MatchString(fmt.Sprint(l["errors"])) {
		t.Fatalf("reload with an expired certificate: %s %v", l.Msg(), l)
	}
	if cn := peerCN(t, c.all, ""); cn != "edge two" {
		t.Fatalf("after a failed reload a new handshake got CN %q, want edge two", cn)
	}
	m = player.Mark()
	if err := m.Wait(25, 20*time.Second); err != nil {
		t.Fatalf("player across the failed reload: %v", err)
	}
	if err := player.Packets().CheckSubsetOf(published, 20); err != nil {
		t.Fatalf("player's packets: %v", err)
	}
	if err := player.Err(); err != nil {
		t.Fatalf("player ended: %v", err)
	}
}

// TestRTMPSHostile: a stalled ClientHello, plain RTMP and HTTP into a
// TLS-only listener, a client that rejects the certificate (Go's verifying
// client sends an alert; ffmpeg with -tls_verify 1 hangs up after the
// handshake): each is closed with a "session rejected" line and its metric
// label, while a good rtmps player keeps playing.
func TestRTMPSHostile(t *testing.T) {
	t.Parallel()
	c := startTLSCluster(t)
	flv := harness.MakeTestStream(t, 4)
	harness.Publish(t, url("rtmp", c.media["media03"].Opts.RTMPAddr, "hard"), flv)
	c.media["media03"].WaitStat(t, "publisher of hard", hasPublisher("hard"), 20*time.Second)
	c.media["media01"].WaitStat(t, "publisher of hard (pushed)", hasPublisher("hard"), 20*time.Second)
	good := tlsPlayer(t, c.tlsOnly, harness.ClientIP(rtmpsPlayerBlock, 1), "hard")
	if err := good.WaitPackets(20, 15*time.Second); err != nil {
		t.Fatal(err)
	}

	type hostile struct {
		name     string
		listener string
		send     func(t *testing.T, conn *net.TCPConn)
		label    string
		reason   string // regexp on the reason field
	}
	cases := []hostile{
		{"StalledClientHello", "all", func(t *testing.T, conn *net.TCPConn) {
			write(t, conn, []byte{0x16, 0x03, 0x01, 0x00}) // a record header begun, then silence
		}, "tls_timeout", `timeout|deadline`},
		{"StalledClientHelloTLSOnly", "tls-only", func(t *testing.T, conn *net.TCPConn) {
			write(t, conn, []byte{0x16})
		}, "tls_timeout", `timeout|deadline`},
		{"PlainRTMPIntoTLSOnly", "tls-only", func(t *testing.T, conn *net.TCPConn) {
			write(t, conn, harness.C0C1())
		}, "not_tls", `not TLS|rtmps`},
		{"HTTPIntoTLSOnly", "tls-only", func(t *testing.T, conn *net.TCPConn) {
			write(t, conn, []byte("POST /open/1 HTTP/1.1\r\nHost: x\r\n\r\n"))
		}, "not_tls", `not TLS|rtmps`},
		{"GarbageRecord", "all", func(t *testing.T, conn *net.TCPConn) {
			// A handshake record whose body is not a ClientHello.
			write(t, conn, append([]byte{0x16, 0x03, 0x01, 0x00, 0x20}, randomBytes(32)...))
		}, "tls_bad_hello", `tls`},
		{"GoClientRejectsCertificate", "all", func(t *testing.T, conn *net.TCPConn) {
			tc := tls.Client(conn, &tls.Config{ServerName: "localhost"}) // verifies: self-signed fails
			_ = tc.SetDeadline(time.Now().Add(10 * time.Second))
			if err := tc.Handshake(); err == nil {
				t.Fatal("a verifying client accepted the self-signed certificate")
			}
		}, "tls_rejected_cert", `certificate`},
		{"TLSThenNothing", "all", func(t *testing.T, conn *net.TCPConn) {
			tc := tls.Client(conn, &tls.Config{InsecureSkipVerify: true})
			_ = tc.SetDeadline(time.Now().Add(10 * time.Second))
			if err := tc.Handshake(); err != nil {
				t.Fatal(err)
			}
			// Then no C0 within handshake_timeout.
		}, "handshake_timeout|sniff_timeout|timeout", `timeout|deadline`},
	}
	for i, hc := range cases {
		t.Run(hc.name, func(t *testing.T) {
			addr := c.all
			if hc.listener == "tls-only" {
				addr = c.tlsOnly
			}
			conn := dialFrom(t, harness.ClientIP(rtmpsHostileBlock, i+1), addr)
			hc.send(t, conn)
			waitClosed(t, conn, 15*time.Second)
			l := c.edge.WaitLog(t, func(l harness.LogLine) bool {
				return l.Msg() == "session rejected" && l.Str("client") == conn.LocalAddr().String()
			}, 10*time.Second)
			t.Logf("rejected: reason %q, label %q", l.Str("reason"), l.Str("label"))
			if !regexp.MustCompile(`^(` + hc.label + `)$`).MatchString(l.Str("label")) {
				t.Errorf("label %q, want %s", l.Str("label"), hc.label)
			}
			if !regexp.MustCompile(`(?i)` + hc.reason).MatchString(l.Str("reason")) {
				t.Errorf("reason %q does not match /%s/", l.Str("reason"), hc.reason)
			}
			if l.Str("listener") != hc.listener {
				t.Errorf("listener %q, want %s", l.Str("listener"), hc.listener)
			}
		})
	}

	t.Run("FFmpegRejectsCertificate", func(t *testing.T) {
		// GnuTLS in ffmpeg checks the certificate after the handshake and
		// hangs up: the edge sees a TLS session that closes before C0.
		mark := c.edge.LogMark()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		out, err := harness.RunTool(ctx, "ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-tls_verify", "1",
			"-rw_timeout", "10000000", "-i", url("rtmps", c.all, "hard"), "-t", "1", "-f", "null", "-")
		if err == nil {
			t.Fatalf("ffmpeg -tls_verify 1 played from a self-signed edge:\n%s", out)
		}
		l := c.edge.WaitLogSince(t, mark, func(l harness.LogLine) bool {
			return l.Msg() == "session rejected" && l.Str("listener") == "all"
		}, 15*time.Second)
		t.Logf("ffmpeg: %v; edge: reason %q label %q", err, l.Str("reason"), l.Str("label"))
		if l.Str("label") != "tls_closed" && l.Str("label") != "tls_rejected_cert" {
			t.Errorf("label %q, want tls_closed or tls_rejected_cert", l.Str("label"))
		}
	})

	for _, label := range []string{"tls_timeout", "not_tls", "tls_rejected_cert", "tls_bad_hello"} {
		n, err := c.edge.MetricSum("rtmp_edge_rejected_total", map[string]string{"reason": label})
		if err != nil || n < 1 {
			t.Errorf("rtmp_edge_rejected_total{reason=%q} = %v (%v), want at least 1", label, n, err)
		}
	}
	if err := good.WaitPackets(25, 15*time.Second); err != nil {
		t.Fatalf("good rtmps player during the hostile clients: %v", err)
	}
	if err := good.Err(); err != nil {
		t.Fatalf("good rtmps player ended: %v", err)
	}
	fresh := tlsPlayer(t, c.all, harness.ClientIP(rtmpsPlayerBlock, 2), "hard")
	if err := fresh.WaitPackets(10, 15*time.Second); err != nil {
		t.Fatalf("new rtmps player after the hostile clients: %v", err)
	}
}

// TestRTMPSCheck: -check loads every certificate and key of the config and
// names each problem by its field.
func TestRTMPSCheck(t *testing.T) {
	t.Parallel()
	bin := harness.BuildEdge(t)
	dir := t.TempDir()
	goodCrt, goodKey := validCert(t, dir, "good", "good")
	_, otherKey := validCert(t, dir, "other", "other")
	expCrt, expKey := testCert(t, dir, "expired", "expired", time.Now().Add(-48*time.Hour), time.Now().Add(-time.Hour))
	cfg := fmt.Sprintf(`listeners:
  - { name: a, address: "127.0.0.1:1", protocols: [rtmps], backend: m, tls: { cert: %q, key: %q } }
  - { name: b, address: "127.0.0.1:2", protocols: [rtmps], backend: m, tls: { cert: %q, key: %q } }
  - { name: c, address: "127.0.0.1:3", protocols: [rtmps], backend: m, tls: { cert: %q, key: %q } }
  - { name: d, address: "127.0.0.1:4", protocols: [rtmpts], backend: m }
  - { name: e, address: "127.0.0.1:5", protocols: [rtmps], backend: m, tls: { cert: %q, key: %q, min_version: "1.0", sni: [{ name: x.test, backend: nope }] } }
backends:
  - name: m
    servers: [{ name: s, address: "127.0.0.1:6" }]
`, goodCrt, otherKey, expCrt, expKey, filepath.Join(dir, "missing.crt"), goodKey, goodCrt, goodKey)
	path := filepath.Join(dir, "edge.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := harness.RunTool(ctx, bin, "-check", "-config", path)
	if err == nil {
		t.Fatalf("-check accepted a config with broken certificates:\n%s", out)
	}
	// RunTool's error carries the stderr tail, where -check reports.
	out = append(out, err.Error()...)
	for _, want := range []string{
		`listeners\[0\]\.tls\.key: .*does not match`,
		`listeners\[1\]\.tls\.cert: .*expired`,
		`listeners\[2\]\.tls\.cert: .*missing\.crt`,
		`listeners\[3\]\.tls: .*required`,
		`listeners\[4\]\.tls\.min_version: `,
		`listeners\[4\]\.tls\.sni\[0\]\.backend: .*nope`,
	} {
		if !regexp.MustCompile(want).Match(out) {
			t.Errorf("-check output lacks /%s/:\n%s", want, out)
		}
	}
}
