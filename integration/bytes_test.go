package integration

import (
	"context"
	"fmt"
	"net"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rtmp-edge/rtmp-edge/integration/harness"
	"github.com/rtmp-edge/rtmp-edge/rtmpt"
)

// TestExactBytes: 50 concurrent sessions through the edge to one nginx-rtmp
// (10 ffmpeg publishers and 40 Go players; half of each over RTMP, half over
// RTMPT). Each session's bytes_in and bytes_out in its "session end" line
// equal what nginx counted for that connection: bytes_in is what the client
// sent after its handshake (the connect the edge read and replayed
// included), nginx's $bytes_received; bytes_out is what the client received
// after its handshake, nginx's $bytes_sent (which leaves nginx's own
// handshake with the edge out too).
//
// nginx sees every client at the edge's address (plain dialing), and /stat
// has no per-client byte counts, so each client carries a flashVer of its
// own, which nginx's per-connection access log and the edge's line both
// show: that is how lines are matched (nginx keeps 31 characters of it,
// hence the short names). The players' live counters in the
// admin API, read once nothing more flows, must equal their final counts.
//
// To make "what was sent" well defined, no byte may be in flight when a
// session ends: the publishers are killed (SIGKILL: no goodbye that nginx
// could answer after the edge closed), then the players are closed once
// their counters stand still.
func TestExactBytes(t *testing.T) {
	t.Parallel()
	c := startFaultCluster(t, faultOptions{servers: 1, check: "tcp", rtmpt: "{ idle_timeout: 3s }",
		nginx: harness.NginxExtra{AccessLog: true}})
	n := c.media["media01"]
	flv := harness.MakeTestStream(t, 4)
	const publishers, playersPerStream = 10, 4

	type client struct {
		flashver, scheme, kind string
		proc                   *harness.Proc   // publishers
		player                 *harness.Player // players
	}
	var clients []*client
	for i := range publishers {
		scheme, addr := "rtmp", c.rtmp
		if i%2 == 1 {
			scheme, addr = "rtmpt", c.rtmpt
		}
		cl := &client{flashver: fmt.Sprintf("FMLE/3.0 (xbytes pub%d)", i), scheme: scheme, kind: "publish"}
		cl.proc = harness.StartProc(t, "ffmpeg publish "+cl.flashver, "ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "warning",
			"-re", "-stream_loop", "-1", "-i", flv, "-c", "copy", "-f", "flv", "-rtmp_flashver", cl.flashver,
			url(scheme, addr, fmt.Sprintf("bytes%d", i)))
		clients = append(clients, cl)
	}
	n.WaitStat(t, "10 publishers", func(s *harness.Stat) bool {
		for i := range publishers {
			if len(s.Stream(fmt.Sprintf("bytes%d", i)).Publishers) != 1 {
				return false
			}
		}
		return true
	}, 30*time.Second)

	var players []*harness.Player
	var mu sync.Mutex
	var wg sync.WaitGroup
	errs := make([]error, publishers*playersPerStream)
	for j := range publishers * playersPerStream {
		cl := &client{flashver: fmt.Sprintf("LNX 9,0,124,2 xbytes play%d", j), scheme: "rtmp", kind: "play"}
		o := harness.PlayerOptions{Addr: c.rtmp, Stream: fmt.Sprintf("bytes%d", j%publishers), FlashVer: cl.flashver}
		block, host := blockExactBytes, j/2+1
		if j%2 == 1 {
			cl.scheme, block = "rtmpt", blockExactBytesT
			local := &net.TCPAddr{IP: net.ParseIP(harness.ClientIP(block, host))}
			o.TcURL = "rtmpt://" + c.rtmpt + "/live"
			o.Dial = func(ctx context.Context) (net.Conn, error) {
				return rtmpt.Dial(ctx, c.rtmpt, rtmpt.ClientOptions{LocalAddr: local, PollInterval: 20 * time.Millisecond})
			}
		} else {
			o.LocalIP = harness.ClientIP(block, host)
		}
		clients = append(clients, cl)
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			p, err := harness.Play(ctx, o)
			if err != nil {
				errs[j] = fmt.Errorf("player %d (%s): %w", j, cl.scheme, err)
				return
			}
			t.Cleanup(p.Close)
			cl.player = p
			mu.Lock()
			players = append(players, p)
			mu.Unlock()
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := harness.WaitAllGrown(harness.MarkAll(players), 10, 30*time.Second); err != nil {
		t.Fatal(err)
	}

	// While all 50 are live: the API lists them with moving counters and
	// nginx lists every publisher and player.
	live := waitAPISessions(t, c.edge, publishers*(1+playersPerStream), 20*time.Second)
	for _, s := range live {
		if s.BytesIn == 0 || s.BytesOut == 0 {
			t.Errorf("live session %s (%s %s) shows bytes_in %d bytes_out %d", s.ID, s.Proto, s.Kind, s.BytesIn, s.BytesOut)
		}
	}
	st := n.Stat(t)
	nPlayers := 0
	for i := range publishers {
		nPlayers += len(st.Stream(fmt.Sprintf("bytes%d", i)).Players)
	}
	if nPlayers != publishers*playersPerStream {
		t.Errorf("/stat lists %d players while all are live, want %d: %s", nPlayers, publishers*playersPerStream, st)
	}

	// End the publishers, then wait for their session lines (the RTMPT ones
	// come after the tunnel's 3 s idle timeout).
	for _, cl := range clients[:publishers] {
		cl.proc.Kill()
	}
	ends := map[string]harness.Session{}
	waitEnds := func(want int, timeout time.Duration) {
		t.Helper()
		deadline := time.Now().Add(timeout)
		for {
			for _, s := range c.edge.Sessions() {
				if strings.Contains(s.FlashVer, "xbytes") {
					ends[s.FlashVer] = s
				}
			}
			if len(ends) >= want {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d session end lines of %d within %s", len(ends), want, timeout)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	waitEnds(publishers, 30*time.Second)

	// The players' counters stand still (nginx has sent the unpublish
	// notices): read the live counters, then close the players.
	var liveByID map[string]harness.APISession
	for attempt := 0; ; attempt++ {
		a := apiByID(t, c.edge)
		time.Sleep(1500 * time.Millisecond) // the live counters are at most 1 s behind
		b := apiByID(t, c.edge)
		if len(a) == len(b) && len(b) == publishers*playersPerStream && equalCounters(a, b) {
			liveByID = b
			break
		}
		if attempt > 20 {
			t.Fatalf("players' counters still move or sessions missing: %d then %d sessions", len(a), len(b))
		}
	}
	for _, cl := range clients[publishers:] {
		cl.player.Close()
	}
	waitEnds(len(clients), 30*time.Second)

	// nginx logs each connection when it ends.
	var access map[string]harness.AccessEntry
	deadline := time.Now().Add(20 * time.Second)
	for {
		entries, err := n.AccessLog()
		if err != nil {
			t.Fatal(err)
		}
		access = map[string]harness.AccessEntry{}
		for _, e := range entries {
			if strings.Contains(e.FlashVer, "xbytes") {
				access[e.FlashVer] = e
			}
		}
		if len(access) >= len(clients) || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}

	var bad []string
	var sumIn, sumOut int64
	for _, cl := range clients {
		s, ok1 := ends[cl.flashver]
		a, ok2 := access[cl.flashver]
		if !ok1 || !ok2 {
			bad = append(bad, fmt.Sprintf("%s: edge line %v, nginx line %v", cl.flashver, ok1, ok2))
			continue
		}
		sumIn += s.BytesIn
		sumOut += s.BytesOut
		wantOut := a.BytesSent
		if s.BytesIn != a.BytesReceived || s.BytesOut != wantOut {
			bad = append(bad, fmt.Sprintf("%s over %s (%s): edge in %d out %d, nginx received %d sent %d: Δin %+d Δout %+d",
				cl.kind, cl.scheme, cl.flashver, s.BytesIn, s.BytesOut, a.BytesReceived, a.BytesSent,
				s.BytesIn-a.BytesReceived, s.BytesOut-wantOut))
		}
		if cl.kind == "play" {
			if l, ok := liveByID[s.ID]; !ok || l.BytesIn != s.BytesIn || l.BytesOut != s.BytesOut {
				bad = append(bad, fmt.Sprintf("player %s: live counters in %d out %d (listed %v), session end in %d out %d",
					cl.flashver, l.BytesIn, l.BytesOut, ok, s.BytesIn, s.BytesOut))
			}
		}
	}
	sort.Strings(bad)
	if len(bad) > 0 {
		t.Fatalf("%d of %d sessions disagree:\n%s", len(bad), len(clients), strings.Join(bad, "\n"))
	}
	t.Logf("%d sessions (%d publishers, %d players; rtmp and rtmpt): %d bytes in, %d bytes out, every one matched nginx's count",
		len(clients), publishers, len(clients)-publishers, sumIn, sumOut)
}

// apiByID is the live sessions of the API by session id (the session end
// lines, which carry the flashVer, name the same ids).
func apiByID(t *testing.T, e *harness.Edge) map[string]harness.APISession {
	t.Helper()
	ss, err := e.Admin().Sessions()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]harness.APISession{}
	for _, s := range ss {
		out[s.ID] = s
	}
	return out
}

func equalCounters(a, b map[string]harness.APISession) bool {
	for k, x := range a {
		y, ok := b[k]
		if !ok || x.BytesIn != y.BytesIn || x.BytesOut != y.BytesOut {
			return false
		}
	}
	return true
}
