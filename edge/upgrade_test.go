package edge

import (
	"context"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rtmp-edge/rtmp-edge/edge/handover"
	"github.com/rtmp-edge/rtmp-edge/routing"
)

// TestUpgradeHandsOverSocketsAndState: the old edge hands its listening
// socket, an operator's drain and its byte totals to a new edge (in this
// process, over the real channel); new clients reach the new edge on the same
// address, and the old one accepts no more.
func TestUpgradeHandsOverSocketsAndState(t *testing.T) {
	sink := startSinkServer(t, false)
	other := startSinkServer(t, false)
	cfg := testConfig(
		routing.ServerConfig{Name: "sink", Address: sink.addr, Upload: true},
		routing.ServerConfig{Name: "other", Address: other.addr},
	)
	cfg.Listeners[0].Address = freeAddr(t) // a fixed address, as a config file has
	old := serveEdge(t, cfg, 0)
	old.rt.Load().backends["media"].pool.Server("other").SetState(routing.StateDrain)
	p := startRawPublisher(t, old.addr)
	old.waitSession(t, phaseRelay)
	p.write(t, make([]byte, 3000))
	p.c.Close()
	old.log.wait(t, "session end", nil)

	u := upgrade(t, old, cfg)
	ne, reg := u.e, u.reg
	if u.rep.Listeners != 1 {
		t.Fatalf("hand-over: %+v, want 1 socket", u.rep)
	}
	if st := ne.rt.Load().backends["media"].pool.Server("other").State(); st != routing.StateDrain {
		t.Errorf("server other is %s in the new edge, was drained", st)
	}
	if v := gatherValue(t, reg, "rtmp_edge_bytes_total", map[string]string{"direction": "in"}); int64(v) != p.sent.Load() {
		t.Errorf("the new edge's bytes_total{in} starts at %v, the old one had %d", v, p.sent.Load())
	}
	if v := gatherValue(t, reg, "rtmp_edge_sessions_total", map[string]string{"server": "sink"}); v != 1 {
		t.Errorf("the new edge's sessions_total starts at %v, the old one had counted 1", v)
	}
	if old.Ready() {
		t.Error("the old edge still says ready after handing over")
	}
	p2 := startRawPublisher(t, old.addr)
	for deadline := time.Now().Add(5 * time.Second); len((adminSource{ne}).Sessions()) < 1 && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	if n := len((adminSource{ne}).Sessions()); n != 1 || old.Sessions() != 0 {
		t.Errorf("after the hand-over a new client made %d sessions in the new edge and %d in the old, want 1 and 0", n, old.Sessions())
	}
	p2.c.Close()
}

// TestUpgradeMovesSocketsStateAndSessions: the old edge hands its listening
// socket, an operator's drain, its byte totals and a relaying session to a new
// edge (in this process, over the real channel); the session's bytes keep
// flowing on the same two sockets, exactly once, and new clients reach the
// new edge on the same address.
func TestUpgradeMovesSocketsStateAndSessions(t *testing.T) {
	sink := startSinkServer(t, false)
	other := startSinkServer(t, false)
	cfg := testConfig(
		routing.ServerConfig{Name: "sink", Address: sink.addr, Upload: true},
		routing.ServerConfig{Name: "other", Address: other.addr},
	)
	cfg.Listeners[0].Address = freeAddr(t) // a fixed address, as a config file has
	old := serveEdge(t, cfg, 0)
	old.rt.Load().backends["media"].pool.Server("other").SetState(routing.StateDrain)
	p := startRawPublisher(t, old.addr)
	id := old.waitSession(t, phaseRelay)
	// Its play ends the edge's watch for publish/play: only then can it move.
	p.write(t, command("play", append([]byte{5}, amfString("s")...)))
	old.log.wait(t, "session start", nil)
	p.write(t, make([]byte, 3000))

	u := upgrade(t, old, cfg)
	ne, took := u.e, u.took
	if took != 1 || u.rep.Moved != 1 || u.rep.Stayed != 0 {
		t.Logf("old edge log:\n%s", old.log.String())
		t.Fatalf("took %d, report %+v: want the one session moved", took, u.rep)
	}
	if old.Sessions() != 0 {
		t.Errorf("the old edge still holds %d sessions", old.Sessions())
	}

	// The session goes on in the new edge, with its id and counters.
	all := adminSource{ne}.Sessions()
	if len(all) != 1 || all[0].ID != id || all[0].Server != "sink" {
		t.Fatalf("new edge sessions %+v, want %s on sink", all, id)
	}
	p.write(t, make([]byte, 2000))
	want := p.sent.Load()
	for deadline := time.Now().Add(5 * time.Second); sink.received.Load() < want && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	if got := sink.received.Load(); got != want {
		t.Fatalf("the media server received %d bytes, the client sent %d", got, want)
	}
	if got := (adminSource{ne}).Sessions()[0].BytesIn; got != want {
		t.Errorf("the new edge counts %d bytes in, the client sent %d", got, want)
	}
	// The operator's drain came along.
	if st := ne.rt.Load().backends["media"].pool.Server("other").State(); st != routing.StateDrain {
		t.Errorf("server other is %s in the new edge, was drained", st)
	}
	// New clients reach the new edge on the same address.
	p2 := startRawPublisher(t, old.addr)
	for deadline := time.Now().Add(5 * time.Second); len((adminSource{ne}).Sessions()) < 2 && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	if n := len(adminSource{ne}.Sessions()); n != 2 {
		t.Errorf("the new edge has %d sessions after a new client, want 2", n)
	}
	p.c.Close()
	p2.c.Close()
}

// TestUpgradeToANewProcessThatFails: a new process that closes the channel
// before it is ready changes nothing: the old edge keeps accepting.
func TestUpgradeToANewProcessThatFails(t *testing.T) {
	sink := startSinkServer(t, false)
	old := serveEdge(t, testConfig(routing.ServerConfig{Name: "sink", Address: sink.addr, Upload: true}), 0)
	oldCh, childEnd, err := handover.Pair()
	if err != nil {
		t.Fatal(err)
	}
	newCh, err := handoverFromFile(childEnd)
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		_, _ = ReceiveInheritance(newCh) // takes the sockets, then dies
		newCh.Close()
	}()
	if _, err := old.HandOver(oldCh); err == nil {
		t.Fatal("HandOver to a process that never got ready: no error")
	}
	p := startRawPublisher(t, old.addr)
	old.waitSession(t, phaseRelay)
	p.c.Close()
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestUpgradeThousandSessions moves 1,000 relaying sessions and reports the
// longest pause one of them saw (detach to resumed); it asserts that every
// one moved and still relays afterwards, not on the time.
func TestUpgradeThousandSessions(t *testing.T) {
	const n = 1000
	sink := startSinkServer(t, false)
	cfg := testConfig(routing.ServerConfig{Name: "sink", Address: sink.addr, Upload: true})
	cfg.Listeners[0].Address = freeAddr(t)
	old := serveEdge(t, cfg, 0)
	clients := make([]*rawPublisher, n)
	for i := range clients {
		clients[i] = startRawPublisher(t, old.addr)
		clients[i].write(t, command("play", append([]byte{5}, amfString("s")...)))
	}
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		ready := 0
		for _, s := range (adminSource{old.Edge}).Sessions() {
			if s.Phase == phaseRelay && s.Stream == "s" {
				ready++
			}
		}
		if ready == n {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d sessions relaying with their play seen: %+v", ready, n, (adminSource{old.Edge}).Sessions()[0])
		}
	}

	start := time.Now()
	u := upgrade(t, old, cfg)
	rep, took := u.rep, u.took
	t.Logf("moved %d sessions in %s; longest pause of one session %s", rep.Moved, time.Since(start).Round(time.Millisecond), rep.LongestPause)
	if took != n || rep.Moved != n {
		t.Fatalf("moved %d, adopted %d, want %d", rep.Moved, took, n)
	}
	before := sink.received.Load()
	for _, c := range clients {
		c.write(t, []byte{0})
	}
	for deadline := time.Now().Add(10 * time.Second); sink.received.Load() < before+n && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	if got := sink.received.Load() - before; got != n {
		t.Fatalf("after the move the media server got %d of the %d bytes the clients sent", got, n)
	}
	for _, c := range clients {
		c.c.Close()
	}
}

// upgraded is the new side of an in-process upgrade.
type upgraded struct {
	e    *Edge
	reg  *prometheus.Registry
	rep  UpgradeReport // the old side's report
	took int           // sessions the new side adopted
}

// upgrade runs an upgrade from old to a new edge built from cfg in this
// process, over the real channel, and returns once both sides are done.
func upgrade(t *testing.T, old *runningEdge, cfg Config) upgraded {
	t.Helper()
	oldCh, childEnd, err := handover.Pair()
	if err != nil {
		t.Fatal(err)
	}
	newCh, err := handoverFromFile(childEnd)
	if err != nil {
		t.Fatal(err)
	}
	type result struct {
		rep UpgradeReport
		err error
	}
	handed := make(chan result, 1)
	go func() {
		rep, err := old.HandOver(oldCh)
		handed <- result{rep, err}
	}()
	in, err := ReceiveInheritance(newCh)
	if err != nil {
		t.Fatal(err)
	}
	u := upgraded{reg: prometheus.NewRegistry()}
	u.e, err = New(cfg, Options{Logger: slog.New(slog.DiscardHandler), Registry: u.reg, Inherit: in})
	if err != nil {
		t.Fatal(err)
	}
	if err := u.e.Listen(); err != nil {
		t.Fatalf("the new edge could not use the inherited socket: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan struct{})
	go func() { defer close(served); _ = u.e.Serve(ctx, 0) }()
	t.Cleanup(func() { cancel(); <-served })
	<-u.e.Started()
	if u.took, err = u.e.TakeSessions(in); err != nil {
		t.Fatal(err)
	}
	r := <-handed
	if r.err != nil {
		t.Fatalf("hand-over: %v", r.err)
	}
	u.rep = r.rep
	return u
}
