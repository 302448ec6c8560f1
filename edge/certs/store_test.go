package certs

import (
	"bytes"
	"crypto/tls"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// handshake runs one TLS handshake of client against s over loopback and
// returns what the client saw and what the server recorded. The error is
// the client's.
func handshake(t *testing.T, s *Store, client *tls.Config) (tls.ConnectionState, Match, error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	got := make(chan Match, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			got <- Match{Index: -2}
			return
		}
		defer c.Close()
		tc := s.Server(c)
		_ = tc.SetDeadline(time.Now().Add(30 * time.Second))
		_ = tc.Handshake()
		got <- tc.Match()
		// Hold the conn until the client has read the handshake's end.
		_, _ = io.Copy(io.Discard, tc)
	}()
	raw, err := net.DialTimeout("tcp", ln.Addr().String(), 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	c := tls.Client(raw, client)
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	err = c.Handshake()
	st := c.ConnectionState()
	c.Close()
	return st, <-got, err
}

// serverHandshakeErr runs the server side against whatever client does on
// the raw conn, and returns the server's handshake error.
func serverHandshakeErr(t *testing.T, s *Store, timeout time.Duration, client func(net.Conn)) error {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	res := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			res <- err
			return
		}
		defer c.Close()
		tc := s.Server(c)
		_ = tc.SetDeadline(time.Now().Add(timeout))
		res <- tc.Handshake()
	}()
	raw, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	_ = raw.SetDeadline(time.Now().Add(30 * time.Second))
	client(raw)
	select {
	case err := <-res:
		return err
	case <-time.After(30 * time.Second):
		t.Fatal("server handshake did not end")
		return nil
	}
}

func TestReloadKeepsOpenSessionAndServesNewCertificate(t *testing.T) {
	dir := t.TempDir()
	first := makeCert(t, certOpts{cn: "first"})
	crt, key := writePair(t, dir, "edge", first)
	s, err := NewStore(Config{Cert: crt, Key: key})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	// An echo server: what an open rtmps session looks like to the store.
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				tc := s.Server(c)
				_ = tc.SetDeadline(time.Now().Add(60 * time.Second))
				_, _ = io.Copy(tc, tc)
			}()
		}
	}()
	dial := func() *tls.Conn {
		t.Helper()
		c, err := tls.DialWithDialer(&net.Dialer{Timeout: 30 * time.Second}, "tcp", ln.Addr().String(), &tls.Config{InsecureSkipVerify: true})
		if err != nil {
			t.Fatal(err)
		}
		_ = c.SetDeadline(time.Now().Add(60 * time.Second))
		return c
	}
	echo := func(c *tls.Conn, msg string) {
		t.Helper()
		if _, err := io.WriteString(c, msg); err != nil {
			t.Fatalf("write on open session: %v", err)
		}
		buf := make([]byte, len(msg))
		if _, err := io.ReadFull(c, buf); err != nil || string(buf) != msg {
			t.Fatalf("echo on open session: %q, %v", buf, err)
		}
	}
	cn := func(c *tls.Conn) string { return c.ConnectionState().PeerCertificates[0].Subject.CommonName }

	open := dial()
	defer open.Close()
	echo(open, "before reload")
	if got := cn(open); got != "first" {
		t.Fatalf("first certificate: %q", got)
	}

	// The operator renews in place (same paths) and sends SIGHUP.
	second := makeCert(t, certOpts{cn: "second"})
	writePair(t, dir, "edge", second)
	if err := s.Reload(); err != nil {
		t.Fatal(err)
	}
	echo(open, "after reload: the open session goes on")
	fresh := dial()
	defer fresh.Close()
	echo(fresh, "new session")
	if d := s.Describe(); !strings.HasPrefix(d, "CN=second until ") || !strings.Contains(d, " sha256:") {
		t.Fatalf("Describe after reload: %q", d)
	}
	if got := cn(fresh); got != "second" {
		t.Fatalf("after reload a new handshake got %q, want second", got)
	}

	// A renewal gone wrong: the key no longer matches. Reload refuses it
	// and the second certificate keeps serving.
	third := makeCert(t, certOpts{cn: "third"})
	writeFile(t, dir, "edge.crt", third.certPEM)
	err = s.Reload()
	if err == nil || !strings.HasPrefix(err.Error(), "key: ") || !strings.Contains(err.Error(), "does not match") {
		t.Fatalf("reload with a mismatched key: %v", err)
	}
	again := dial()
	defer again.Close()
	echo(again, "still the second")
	if got := cn(again); got != "second" {
		t.Fatalf("after a failed reload a new handshake got %q, want second", got)
	}
	// And a file that vanished.
	if err := os.Remove(filepath.Join(dir, "edge.key")); err != nil {
		t.Fatal(err)
	}
	if err := s.Reload(); err == nil || !strings.HasPrefix(err.Error(), "key: stat ") {
		t.Fatalf("reload with a missing key: %v", err)
	}
	echo(open, "the first session outlived two failed reloads")
	if got := s.NotAfter(); !got.Equal(second.cert.NotAfter) {
		t.Fatalf("NotAfter %v, want the second certificate's %v", got, second.cert.NotAfter)
	}
}

func TestUpdateSwapsConfig(t *testing.T) {
	dir := t.TempDir()
	a, b := makeCert(t, certOpts{cn: "a"}), makeCert(t, certOpts{cn: "b"})
	acrt, akey := writePair(t, dir, "a", a)
	bcrt, bkey := writePair(t, dir, "b", b)
	s, err := NewStore(Config{Cert: acrt, Key: akey})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Update(Config{Cert: bcrt, Key: bkey, MinVersion: "1.3", SNI: []SNIConfig{{Name: "x.test", Backend: "x"}}}); err != nil {
		t.Fatal(err)
	}
	st, m, err := handshake(t, s, &tls.Config{InsecureSkipVerify: true, ServerName: "x.test"})
	if err != nil {
		t.Fatal(err)
	}
	if st.PeerCertificates[0].Subject.CommonName != "b" || st.Version != tls.VersionTLS13 || m.Backend != "x" {
		t.Fatalf("after Update: cn %q version %x match %+v", st.PeerCertificates[0].Subject.CommonName, st.Version, m)
	}
	// A broken update changes nothing, not even the parts that were fine.
	if err := s.Update(Config{Cert: acrt, Key: bkey}); err == nil {
		t.Fatal("mismatched update accepted")
	}
	st, m, err = handshake(t, s, &tls.Config{InsecureSkipVerify: true, ServerName: "x.test"})
	if err != nil || st.PeerCertificates[0].Subject.CommonName != "b" || m.Backend != "x" {
		t.Fatalf("after a failed Update: %v cn %q match %+v", err, st.PeerCertificates[0].Subject.CommonName, m)
	}
	// Reload re-reads the config Update installed, not the first one.
	if err := s.Reload(); err != nil {
		t.Fatal(err)
	}
	if st, _, _ := handshake(t, s, &tls.Config{InsecureSkipVerify: true}); st.PeerCertificates[0].Subject.CommonName != "b" {
		t.Fatal("Reload went back to the first config")
	}
}

// The failures a listener must tell apart in its log and metric.
func TestHandshakeFailureReasons(t *testing.T) {
	dir := t.TempDir()
	crt, key := writePair(t, dir, "edge", makeCert(t, certOpts{dns: []string{"edge.test"}}))
	s, err := NewStore(Config{Cert: crt, Key: key})
	if err != nil {
		t.Fatal(err)
	}
	s13, err := NewStore(Config{Cert: crt, Key: key, MinVersion: "1.3"})
	if err != nil {
		t.Fatal(err)
	}
	clientHandshake := func(cfg *tls.Config) func(net.Conn) {
		return func(raw net.Conn) { _ = tls.Client(raw, cfg).Handshake() }
	}
	cases := []struct {
		name   string
		store  *Store
		client func(net.Conn)
		want   string
	}{
		// A verifying client meets a self-signed certificate.
		{"client rejects certificate", s, clientHandshake(&tls.Config{ServerName: "edge.test"}), "tls_rejected_cert"},
		{"stalled ClientHello", s, func(raw net.Conn) {
			_, _ = raw.Write([]byte{0x16, 0x03, 0x01}) // a record header begun, then nothing
			buf := make([]byte, 1)
			_, _ = raw.Read(buf) // wait for the server to give up
		}, "tls_timeout"},
		{"silent client", s, func(raw net.Conn) { _, _ = raw.Read(make([]byte, 1)) }, "tls_timeout"},
		{"plain RTMP into TLS", s, func(raw net.Conn) {
			_, _ = raw.Write(append([]byte{0x03}, bytes.Repeat([]byte{0}, 1536)...))
			_, _ = raw.Read(make([]byte, 1))
		}, "tls_bad_hello"},
		{"HTTP into TLS", s, func(raw net.Conn) {
			_, _ = io.WriteString(raw, "POST /open/1 HTTP/1.1\r\n\r\n")
			_, _ = raw.Read(make([]byte, 1))
		}, "tls_bad_hello"},
		{"hang up mid-hello", s, func(raw net.Conn) {
			_, _ = raw.Write([]byte{0x16, 0x03, 0x01, 0x02, 0x00, 0x01})
			raw.Close()
		}, "tls_eof"},
		{"old client vs min 1.3", s13, clientHandshake(&tls.Config{InsecureSkipVerify: true, MaxVersion: tls.VersionTLS12}), "tls_version"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := serverHandshakeErr(t, tc.store, 2*time.Second, tc.client)
			if got := Reason(err); got != tc.want {
				t.Fatalf("server error %v: reason %q, want %q", err, got, tc.want)
			}
		})
	}
}

func TestMatchBeforeHandshake(t *testing.T) {
	dir := t.TempDir()
	crt, key := writePair(t, dir, "edge", makeCert(t, certOpts{}))
	s, err := NewStore(Config{Cert: crt, Key: key})
	if err != nil {
		t.Fatal(err)
	}
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	c := s.Server(a)
	if m := c.Match(); m.Index != -1 {
		t.Fatalf("Match before handshake: %+v", m)
	}
	if c.NetConn() != a {
		t.Fatal("NetConn is not the accepted conn")
	}
}

// FuzzLoadPair: whatever the files hold, loading returns an error or a
// usable certificate, and never panics.
func FuzzLoadPair(f *testing.F) {
	good := makeCert(f, certOpts{})
	f.Add(good.certPEM, good.keyPEM)
	f.Add(good.keyPEM, good.certPEM)
	f.Add([]byte("-----BEGIN CERTIFICATE-----\n\n-----END CERTIFICATE-----\n"), good.keyPEM)
	f.Add(append(append([]byte{}, good.certPEM...), good.certPEM...), good.keyPEM)
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, certPEM, keyPEM []byte) {
		crt := writeFile(t, dir, "f.crt", certPEM)
		key := writeFile(t, dir, "f.key", keyPEM)
		c, err := loadPair("cert", "key", crt, key, time.Now())
		if err != nil {
			if !strings.HasPrefix(err.Error(), "cert: ") && !strings.HasPrefix(err.Error(), "key: ") {
				t.Fatalf("error without its field: %v", err)
			}
			return
		}
		if c.Leaf == nil || c.PrivateKey == nil {
			t.Fatal("loaded pair without leaf or key")
		}
	})
}

// FuzzPick: any server name a client sends picks some entry without panic.
func FuzzPick(f *testing.F) {
	l := &loaded{exact: map[string]*entry{"a.test": {}}, wild: map[string]*entry{"w.test": {}}}
	for _, s := range []string{"", ".", "..", "a.test", "x.w.test", "w.test.", "*.w.test", "\x00", strings.Repeat("a.", 200)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		if l.pick(name) == nil {
			t.Fatal("nil entry")
		}
	})
}

// countingCache counts the session tickets a client is handed.
type countingCache struct{ puts atomic.Int32 }

func (c *countingCache) Get(string) (*tls.ClientSessionState, bool) { return nil, false }
func (c *countingCache) Put(_ string, cs *tls.ClientSessionState) {
	if cs != nil {
		c.puts.Add(1)
	}
}

// librtmp fails its RTMP handshake when a TLS 1.3 NewSessionTicket arrives
// where it expects S0, so the edge sends none, in either version.
func TestNoSessionTickets(t *testing.T) {
	dir := t.TempDir()
	crt, key := writePair(t, dir, "edge", makeCert(t, certOpts{}))
	s, err := NewStore(Config{Cert: crt, Key: key})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				tc := s.Server(c)
				_ = tc.SetDeadline(time.Now().Add(30 * time.Second))
				// A ticket, if any, goes out before this byte (as S0 would).
				_, _ = tc.Write([]byte{3})
				_, _ = io.Copy(io.Discard, tc)
			}()
		}
	}()
	for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		cache := &countingCache{}
		c, err := tls.DialWithDialer(&net.Dialer{Timeout: 30 * time.Second}, "tcp", ln.Addr().String(),
			&tls.Config{InsecureSkipVerify: true, MaxVersion: v, ClientSessionCache: cache})
		if err != nil {
			t.Fatal(err)
		}
		_ = c.SetDeadline(time.Now().Add(30 * time.Second))
		b := make([]byte, 1)
		if _, err := io.ReadFull(c, b); err != nil || b[0] != 3 {
			t.Fatalf("TLS %s: first byte %v, %v", VersionName(v), b, err)
		}
		c.Close()
		if n := cache.puts.Load(); n != 0 {
			t.Errorf("TLS %s: client got %d session tickets, want none", VersionName(v), n)
		}
	}
}

// recordCounter counts the TLS records a client receives.
type recordCounter struct {
	net.Conn
	raw []byte
}

func (r *recordCounter) Read(p []byte) (int, error) {
	n, err := r.Conn.Read(p)
	r.raw = append(r.raw, p[:n]...)
	return n, err
}

func (r *recordCounter) records() int {
	n := 0
	for i := 0; i+5 <= len(r.raw); i += 5 + (int(r.raw[i+3])<<8 | int(r.raw[i+4])) {
		n++
	}
	return n
}

// Close cuts the TCP connection without the close_notify alert, whose write
// could block; CloseWrite still sends it. The same exchange ended both ways
// must differ by exactly that one record.
func TestCloseSendsNoAlertButCloseWriteDoes(t *testing.T) {
	dir := t.TempDir()
	crt, key := writePair(t, dir, "edge", makeCert(t, certOpts{}))
	s, err := NewStore(Config{Cert: crt, Key: key})
	if err != nil {
		t.Fatal(err)
	}
	records := map[bool]int{}
	for _, half := range []bool{false, true} {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		go func() {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			tc := s.Server(c)
			_ = tc.SetDeadline(time.Now().Add(30 * time.Second))
			if tc.Handshake() != nil {
				c.Close()
				return
			}
			_, _ = tc.Write([]byte("x"))
			if half {
				_ = tc.CloseWrite()
			}
			_ = tc.Close()
		}()
		raw, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		rc := &recordCounter{Conn: raw}
		c := tls.Client(rc, &tls.Config{InsecureSkipVerify: true, MaxVersion: tls.VersionTLS13})
		_ = c.SetDeadline(time.Now().Add(30 * time.Second))
		if b, _ := io.ReadAll(c); string(b) != "x" {
			t.Fatalf("half=%v: read %q", half, b)
		}
		c.Close()
		ln.Close()
		records[half] = rc.records()
	}
	if records[true] != records[false]+1 {
		t.Fatalf("records received: %d after Close, %d after CloseWrite+Close; want CloseWrite to add exactly the alert", records[false], records[true])
	}
}
