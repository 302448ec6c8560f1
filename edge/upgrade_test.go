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
	logs := &logBuffer{}
	reg := prometheus.NewRegistry()
	ne, err := New(cfg, Options{Logger: slog.New(slog.NewJSONHandler(logs, nil)), Registry: reg, Inherit: in})
	if err != nil {
		t.Fatal(err)
	}
	if err := ne.Listen(); err != nil {
		t.Fatalf("the new edge could not use the inherited socket: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan struct{})
	go func() { defer close(served); _ = ne.Serve(ctx, 0) }()
	t.Cleanup(func() { cancel(); <-served })
	<-ne.Started()
	if _, err := ne.TakeSessions(in); err != nil {
		t.Fatal(err)
	}
	r := <-handed
	if r.err != nil || r.rep.Listeners != 1 {
		t.Fatalf("hand-over: %+v, %v", r.rep, r.err)
	}
	if st := ne.rt.Load().backends["media"].pool.Server("other").State(); st != routing.StateDrain {
		t.Errorf("server other is %s in the new edge, was drained", st)
	}
	if v := gatherValue(t, reg, "rtmp_edge_bytes_total", map[string]string{"direction": "in"}); int64(v) != p.sent.Load() {
		t.Errorf("the new edge's bytes_total{in} starts at %v, the old one had %d", v, p.sent.Load())
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
