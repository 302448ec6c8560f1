package load

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"

	"testing"
	"time"
)

// selfSigned is a throwaway server certificate for 127.0.0.1.
func selfSigned(t *testing.T) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "bench"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

func TestParseTargetRTMPS(t *testing.T) {
	got, _, err := ParseTarget("rtmps://127.0.0.1/live/x")
	want := Target{"rtmps", "127.0.0.1:443", "live", "rtmps://127.0.0.1/live"}
	if err != nil || got != want || got.Host() != "127.0.0.1" {
		t.Fatalf("ParseTarget = %+v, %v; want %+v", got, err, want)
	}
}

// Publishers and players over rtmps:// through a TLS listener in front of
// the bench server: the clients do the TLS handshake and then plain RTMP.
func TestRunOverRTMPS(t *testing.T) {
	sink, _ := startBenchServer(t, true)
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{selfSigned(t)}})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	handshakes := make(chan struct{}, 64)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				if err := c.(*tls.Conn).Handshake(); err != nil {
					c.Close()
					return
				}
				handshakes <- struct{}{}
				sink.ServeConn(c)
			}()
		}
	}()
	sum := runLoad(t, Config{
		PublishTargets: targets(t, "rtmps://"+ln.Addr().String()+"/live"),
		Publishers:     1, Players: 2, Bitrate: 1_000_000,
	})
	if sum.PublishersUp != 1 || sum.PlayersMedia != 2 || sum.BytesOut == 0 {
		t.Errorf("publishers up %d, players with media %d, bytes out %d", sum.PublishersUp, sum.PlayersMedia, sum.BytesOut)
	}
	if n := len(handshakes); n < 3 {
		t.Errorf("%d TLS handshakes, want one per client (3)", n)
	}
}
