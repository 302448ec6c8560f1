package replicate

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rtmp-edge/rtmp-edge/edge/chunk"
	"github.com/rtmp-edge/rtmp-edge/edge/handshake"
	"github.com/rtmp-edge/rtmp-edge/integration/harness"
	"github.com/rtmp-edge/rtmp-edge/upstream"
)

// teeProxy stands where the edge stands: it answers a publisher's
// handshake, relays its bytes to the origin server and feeds every
// client→server byte after the handshake to a Publish, as the edge's relay
// tee does. One publisher per proxy.
type teeProxy struct {
	ln      net.Listener
	origin  string
	dialer  *upstream.Dialer
	newPub  func() *Publish
	mu      sync.Mutex
	pub     *Publish
	reports chan []Report
	maxFeed time.Duration // the longest Feed call
}

func startTeeProxy(t *testing.T, origin string, newPub func() *Publish) *teeProxy {
	t.Helper()
	ln, err := net.Listen("tcp", harness.FreeAddr(t))
	if err != nil {
		t.Fatal(err)
	}
	d, err := upstream.NewDialer(upstream.DialConfig{})
	if err != nil {
		t.Fatal(err)
	}
	p := &teeProxy{ln: ln, origin: origin, dialer: d, newPub: newPub, reports: make(chan []Report, 1)}
	t.Cleanup(func() { ln.Close() })
	go p.serve(t)
	return p
}

func (p *teeProxy) URL(stream string) string {
	return "rtmp://" + p.ln.Addr().String() + "/live/" + stream
}

func (p *teeProxy) publish() *Publish {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.pub
}

func (p *teeProxy) serve(t *testing.T) {
	c, err := p.ln.Accept()
	if err != nil {
		return
	}
	defer c.Close()
	br := bufio.NewReader(c)
	if _, err := handshake.Serve(br, c); err != nil {
		t.Errorf("tee proxy: handshake: %v", err)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	s, err := p.dialer.Dial(ctx, p.origin, netipZero, netipZero)
	cancel()
	if err != nil {
		t.Errorf("tee proxy: dial origin: %v", err)
		return
	}
	defer s.Close()
	pub := p.newPub()
	p.mu.Lock()
	p.pub = pub
	p.mu.Unlock()
	go func() { _, _ = io.Copy(c, s); c.Close() }()
	buf := make([]byte, 32<<10)
	for {
		n, err := br.Read(buf)
		if n > 0 {
			start := time.Now()
			pub.Feed(buf[:n])
			if d := time.Since(start); d > p.maxFeed {
				p.mu.Lock()
				p.maxFeed = max(p.maxFeed, d)
				p.mu.Unlock()
			}
			if _, werr := s.Write(buf[:n]); werr != nil {
				break
			}
		}
		if err != nil {
			break
		}
	}
	p.reports <- pub.Close()
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(b), "\n"))
	return len(b), nil
}

func startMedia(t *testing.T, name string) *harness.Nginx {
	return harness.StartNginx(t, harness.NginxOptions{Name: name, RTMPAddr: harness.FreeAddr(t), HTTPAddr: harness.FreeAddr(t)})
}

// waitPublished waits (bounded) until the server's /stat lists a publisher
// of stream.
func waitPublished(t *testing.T, n *harness.Nginx, stream string, timeout time.Duration) {
	t.Helper()
	n.WaitStat(t, "publisher of "+stream, func(s *harness.Stat) bool { return len(s.Stream(stream).Publishers) > 0 }, timeout)
}

func waitReplica(t *testing.T, pub *Publish, server string, what string, ok func(ReplicaInfo) bool, timeout time.Duration) ReplicaInfo {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		for _, ri := range pub.Replicas() {
			if ri.Server == server && ok(ri) {
				return ri
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("replica %s: not %s within %s: %+v", server, what, timeout, pub.Replicas())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestNginxReplicas: ffmpeg publishes to an origin nginx through a tee;
// the Publish replicates to two more nginx-rtmp with no push configured.
// Players reading each replica directly get packets of the source, a
// killed replica is dropped and rejoins once it is back, and a frozen one
// is dropped after MaxLag with its queue inside Buffer.
func TestNginxReplicas(t *testing.T) {
	if testing.Short() {
		t.Skip("starts nginx-rtmp and ffmpeg")
	}
	origin, m1, m2 := startMedia(t, "origin"), startMedia(t, "media01"), startMedia(t, "media02")
	src := harness.MakeTestStream(t, 8)
	published := harness.MustFrameMD5(t, src)
	d, err := upstream.NewDialer(upstream.DialConfig{})
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{Buffer: 1 << 20, MaxLag: 2 * time.Second, Backoff: 500 * time.Millisecond}
	var liveMu sync.Mutex
	live := map[string]int{}
	proxy := startTeeProxy(t, origin.Opts.RTMPAddr, func() *Publish {
		return New(Options{
			Config: cfg,
			Dial: func(ctx context.Context, server string) (net.Conn, error) {
				return d.Dial(ctx, server, netipZero, netipZero)
			},
			Logger: testLogger(t),
			App:    "live",
			TcURL:  "rtmp://127.0.0.1/live",
			OnLive: func(server string, up bool) {
				liveMu.Lock()
				if up {
					live[server]++
				} else {
					live[server]--
				}
				liveMu.Unlock()
			},
		})
	})
	harness.Publish(t, proxy.URL("repl"), src)
	waitPublished(t, origin, "repl", 20*time.Second)
	pub := proxy.publish()
	pub.Add(m1.Opts.RTMPAddr)
	pub.Add(m2.Opts.RTMPAddr)
	for _, m := range []*harness.Nginx{m1, m2} {
		waitPublished(t, m, "repl", 20*time.Second)
	}
	liveMu.Lock()
	if live[m1.Opts.RTMPAddr] != 1 || live[m2.Opts.RTMPAddr] != 1 {
		t.Errorf("OnLive: %v, want each server live once", live)
	}
	liveMu.Unlock()

	play := func(name string, n *harness.Nginx) {
		t.Helper()
		ps, err := harness.PlayFFmpeg("rtmp://"+n.Opts.RTMPAddr+"/live/repl", 3*time.Second)
		if err != nil {
			t.Fatalf("play %s: %v", name, err)
		}
		if err := ps.CheckSubsetOf(published, 20); err != nil {
			t.Fatalf("ffmpeg playing %s: %v", name, err)
		}
		t.Logf("ffmpeg playing %s: %d packets, all of the source", name, len(ps))
	}
	play("media01", m1)
	ps, err := harness.PlayRTMPDump(t, "rtmp://"+m2.Opts.RTMPAddr+"/live/repl", 3*time.Second)
	if err != nil {
		t.Fatalf("rtmpdump playing media02: %v", err)
	}
	if err := ps.CheckSubsetOf(published, 20); err != nil {
		t.Fatalf("rtmpdump playing media02: %v", err)
	}

	// kill -9 media01: dropped; the other replica and the origin carry on.
	m1.Stop()
	ri := waitReplica(t, pub, m1.Opts.RTMPAddr, "dropped", func(ri ReplicaInfo) bool { return ri.Drops >= 1 }, 20*time.Second)
	t.Logf("media01 after kill -9: %+v", ri)
	if ri.End != "server closed" && !strings.HasPrefix(ri.End, "dial") {
		t.Errorf("media01 ended with %q, want server closed", ri.End)
	}
	play("media02 while media01 is down", m2)
	play("origin while media01 is down", origin)
	m1.Start()
	waitPublished(t, m1, "repl", 40*time.Second)
	play("media01 restarted", m1)
	ri = waitReplica(t, pub, m1.Opts.RTMPAddr, "rejoined", func(ri ReplicaInfo) bool { return ri.Rejoins >= 1 && ri.State == StateLive }, 5*time.Second)
	t.Logf("media01 rejoined: %+v", ri)

	// SIGSTOP media02: dropped for lag or a full buffer, its queue bounded.
	m2.Freeze(t)
	deadline := time.Now().Add(90 * time.Second)
	maxQueued := 0
	for {
		var m2i ReplicaInfo
		for _, ri := range pub.Replicas() {
			if ri.Server == m2.Opts.RTMPAddr {
				m2i = ri
			}
		}
		maxQueued = max(maxQueued, m2i.Queued)
		if m2i.Drops >= 1 {
			t.Logf("media02 frozen: dropped (%q), largest queue seen %d bytes (Buffer %d)", m2i.End, maxQueued, cfg.Buffer)
			if !strings.HasPrefix(m2i.End, "lag ") && m2i.End != "buffer full" {
				t.Errorf("media02 dropped for %q, want lag or buffer full", m2i.End)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("frozen media02 not dropped within 90 s: %+v", m2i)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if maxQueued > cfg.Buffer {
		t.Errorf("queue of the frozen replica reached %d bytes, over Buffer %d", maxQueued, cfg.Buffer)
	}
	play("media01 while media02 is frozen", m1)
	play("origin while media02 is frozen", origin)
	proxy.mu.Lock()
	t.Logf("longest Feed call: %s", proxy.maxFeed)
	proxy.mu.Unlock()
	m2.Thaw()
}

var netipZero = netip.AddrPort{}

// TestNginxAcceptsThePublishersConnect: a real nginx-rtmp accepts a
// replica's connect that carries everything an Enhanced RTMP publisher
// sent (fourCcList, capsEx, swfUrl, pageUrl, objectEncoding, an extra
// argument) and its publish: the stream is live there, and the server
// shows the publisher's flashVer for the replica's session.
func TestNginxAcceptsThePublishersConnect(t *testing.T) {
	if testing.Short() {
		t.Skip("starts nginx-rtmp")
	}
	m := startMedia(t, "media01")
	d, err := upstream.NewDialer(upstream.DialConfig{})
	if err != nil {
		t.Fatal(err)
	}
	p := New(Options{
		Config: Config{Backoff: 200 * time.Millisecond},
		Dial: func(ctx context.Context, server string) (net.Conn, error) {
			return d.Dial(ctx, server, netipZero, netipZero)
		},
		Logger: testLogger(t),
	})
	t.Cleanup(func() { p.Close() })
	src := &publisher{w: chunk.NewWriter()}
	src.command(t, 0, "connect", 1, richConnect, richConnectArgs...)
	src.command(t, 0, "createStream", 2, nil)
	src.command(t, 1, "publish", 3, nil, "rich", "live")
	src.media(chunk.TypeDataAMF0, 0, metaPayload).media(chunk.TypeVideo, 0, avcConfig).media(chunk.TypeVideo, 0, avcKey)
	p.Feed(src.b)
	p.Add(m.Opts.RTMPAddr)
	waitReplica(t, p, m.Opts.RTMPAddr, "live", func(ri ReplicaInfo) bool { return ri.State == StateLive }, 20*time.Second)
	st := m.WaitStat(t, "publisher of rich", func(s *harness.Stat) bool { return len(s.Stream("rich").Publishers) == 1 }, 20*time.Second)
	// nginx-rtmp keeps a flashVer in 32 bytes, NUL included: 31 of it.
	if got, want := st.Stream("rich").Publishers[0].FlashVer, "FMLE/3.0 (compatible; Lavf61.7.100)"[:31]; got != want {
		t.Errorf("nginx-rtmp shows the replica's flashver %q, want the publisher's %q", got, want)
	}
	if ri := p.Replicas()[0]; ri.Drops != 0 {
		t.Errorf("the replica was dropped: %+v", ri)
	}
}
