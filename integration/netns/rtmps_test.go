//go:build linux

package netns

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/rtmp-edge/rtmp-edge/integration/harness"
)

// edgeTLS is the lab's four-protocol TLS listener.
var edgeTLS = hostPort(EdgeClientIP, 443)

// TestRTMPSTransparentInLab: TLS clients in the client namespace publish and
// play through a [rtmps, rtmpts, rtmp] listener whose backend dials from the
// client's address; the media servers see the client's IP, not the edge's,
// for rtmps and rtmpts alike (TLS ends at the edge, transparency survives).
func TestRTMPSTransparentInLab(t *testing.T) {
	lab := NewLab(t)
	media := StartMedia(t, lab)
	crt, key := labCert(t)
	cfg := fmt.Sprintf(`admin:
  address: "%s"
listeners:
  - name: secure
    address: "%s"
    protocols: [rtmps, rtmpts, rtmp]
    backend: transparent
    tls: { cert: %q, key: %q }
backends:
  - name: transparent
    balance: roundrobin
    stick: { size: 1000, expire: 20m }
    source: clientip
    check: { type: rtmp, interval: 1s, rise: 1, fall: 3, timeout: 2s, app: live }
    servers:
      - { name: media01, address: "%s:%d", weight: 10, maxconn: 200 }
      - { name: media02, address: "%s:%d", weight: 10, maxconn: 200 }
      - { name: media03, address: "%s:%d", weight: 8, maxconn: 200, upload: true }
`, EdgeMetricsAddr, edgeTLS, crt, key, MediaIPs[0], MediaRTMPPort, MediaIPs[1], MediaRTMPPort, MediaIPs[2], MediaRTMPPort)
	var servers []string
	for _, m := range media {
		servers = append(servers, "transparent/"+m.Name)
	}
	StartEdge(t, lab, cfg, []string{edgeTLS}, servers)

	stream := "secure"
	StartPublisher(t, lab.Client, stream, "rtmps://"+edgeTLS+"/live/"+stream)
	waitClients(t, media, stream, 1)
	players := []string{
		"rtmps://" + edgeTLS + "/live/" + stream,
		"rtmpts://" + edgeTLS + "/live/" + stream,
	}
	var procs []*harness.Proc
	for _, url := range players {
		procs = append(procs, StartPlayer(t, lab.Client, url, url))
	}
	clients := waitClients(t, media, stream, 1+len(players))
	assertAddresses(t, clients, ClientIP)
	t.Logf("clients of %s: %s", stream, describe(clients))
	waitPlayed(t, procs)
}

// labCert writes a self-signed certificate and key for the edge.
func labCert(t *testing.T) (string, string) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "lab edge"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	crt, key := filepath.Join(dir, "edge.crt"), filepath.Join(dir, "edge.key")
	if err := os.WriteFile(crt, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(key, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	return crt, key
}
