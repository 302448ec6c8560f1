package routing

import (
	"context"
	"errors"
	"testing"
	"time"
)

// smallPool: two play servers with one slot each, no upload server.
func smallPool(t *testing.T, queueTimeout time.Duration, stick bool) *Pool {
	t.Helper()
	return newTestPool(t, func(c *PoolConfig) {
		c.QueueTimeout = queueTimeout
		c.Servers = []ServerConfig{
			{Name: "a", Address: "10.0.0.1:1935", MaxConn: 1},
			{Name: "b", Address: "10.0.0.2:1935", MaxConn: 1},
		}
		if stick {
			withStick(c)
		}
	})
}

type result struct {
	lease *Lease
	err   error
}

// acquireAsync starts an Acquire and waits until it is queued (or finished).
func acquireAsync(t *testing.T, ctx context.Context, p *Pool, req Request, queuedBefore int) <-chan result {
	t.Helper()
	ch := make(chan result, 1)
	go func() {
		l, err := p.Acquire(ctx, req)
		ch <- result{l, err}
	}()
	waitFor(t, "the session to queue", func() bool { return p.Waiting() > queuedBefore })
	return ch
}

func receive(t *testing.T, ch <-chan result) result {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(10 * time.Second):
		t.Fatal("queued Acquire never returned")
		return result{}
	}
}

func TestQueueServedWhenASlotFrees(t *testing.T) {
	p := smallPool(t, time.Hour, false)
	la := mustAcquire(t, p, Request{Kind: Play})
	lb := mustAcquire(t, p, Request{Kind: Play})
	defer lb.Release()
	ch := acquireAsync(t, context.Background(), p, Request{Kind: Play}, 0)
	la.Release()
	r := receive(t, ch)
	if r.err != nil {
		t.Fatalf("queued Acquire: %v", r.err)
	}
	defer r.lease.Release()
	if r.lease.Server != la.Server || r.lease.Waited <= 0 {
		t.Errorf("served on %s after %v, want the freed server %s and Waited > 0", r.lease.Server, r.lease.Waited, la.Server)
	}
	if a := p.Server("a").Active(); a != 1 {
		t.Errorf("server a Active = %d, want 1 (maxconn 1)", a)
	}
}

// TestQueueIsFIFOAndNewcomersDoNotJumpIt: a freed slot goes to the oldest waiter, in the
// Release call itself, so a session arriving just after finds no free slot.
func TestQueueIsFIFOAndNewcomersDoNotJumpIt(t *testing.T) {
	p := smallPool(t, time.Hour, false)
	la := mustAcquire(t, p, Request{Kind: Play})
	lb := mustAcquire(t, p, Request{Kind: Play})
	first := acquireAsync(t, context.Background(), p, Request{Client: addr("127.0.0.1"), Kind: Play}, 0)
	second := acquireAsync(t, context.Background(), p, Request{Client: addr("127.0.0.2"), Kind: Play}, 1)

	la.Release()
	if got := p.Waiting(); got != 1 {
		t.Fatalf("Waiting = %d after one release, want 1", got)
	}
	r1 := receive(t, first)
	if r1.err != nil {
		t.Fatalf("first waiter: %v", r1.err)
	}
	select {
	case r := <-second:
		t.Fatalf("second waiter served before a second slot freed: %+v", r)
	default:
	}
	newcomer, cancel := context.WithCancel(context.Background())
	cancel() // it must queue, and with a dead context give up at once
	if l, err := p.Acquire(newcomer, Request{Kind: Play}); !errors.Is(err, ErrQueueTimeout) {
		t.Fatalf("newcomer got %v, %v; the only free slot belonged to the queue", l, err)
	}
	lb.Release()
	r2 := receive(t, second)
	if r2.err != nil {
		t.Fatalf("second waiter: %v", r2.err)
	}
	r1.lease.Release()
	r2.lease.Release()
	for _, s := range p.Servers() {
		if s.Active() != 0 {
			t.Errorf("%s Active = %d at the end", s, s.Active())
		}
	}
}

func TestQueueTimeout(t *testing.T) {
	p := smallPool(t, 20*time.Millisecond, false)
	hold(t, p, "a", 1)
	hold(t, p, "b", 1)
	l, err := p.Acquire(context.Background(), Request{Kind: Play})
	if !errors.Is(err, ErrQueueTimeout) {
		t.Fatalf("Acquire = %v, %v; want ErrQueueTimeout", l, err)
	}
	if p.Waiting() != 0 {
		t.Errorf("timed-out session left in the queue (Waiting %d)", p.Waiting())
	}
}

func TestQueueContextCancel(t *testing.T) {
	p := smallPool(t, time.Hour, false)
	hold(t, p, "a", 1)
	hold(t, p, "b", 1)
	ctx, cancel := context.WithCancel(context.Background())
	ch := acquireAsync(t, ctx, p, Request{Kind: Play}, 0)
	cancel()
	r := receive(t, ch)
	if !errors.Is(r.err, ErrQueueTimeout) || !errors.Is(r.err, context.Canceled) {
		t.Fatalf("Acquire = %v; want ErrQueueTimeout wrapping context.Canceled", r.err)
	}
	if p.Waiting() != 0 {
		t.Errorf("cancelled session left in the queue (Waiting %d)", p.Waiting())
	}
}

func TestQueuedSessionFailsWhenLastServerGoesDown(t *testing.T) {
	p := smallPool(t, time.Hour, false)
	hold(t, p, "a", 1)
	hold(t, p, "b", 1)
	ch := acquireAsync(t, context.Background(), p, Request{Kind: Play}, 0)
	p.Server("a").SetHealthy(false)
	select {
	case r := <-ch:
		t.Fatalf("waiter returned while b could still free a slot: %+v", r)
	default:
	}
	p.Server("b").SetDraining(true)
	r := receive(t, ch)
	if !errors.Is(r.err, ErrNoServer) {
		t.Fatalf("Acquire = %+v; want ErrNoServer once nothing is eligible", r)
	}
}

func TestQueuedSessionServedWhenAServerComesBack(t *testing.T) {
	p := smallPool(t, time.Hour, false)
	hold(t, p, "a", 1)
	p.Server("b").SetHealthy(false)
	ch := acquireAsync(t, context.Background(), p, Request{Kind: Play}, 0)
	p.Server("b").SetHealthy(true)
	r := receive(t, ch)
	if r.err != nil || r.lease.Server.Name != "b" {
		t.Fatalf("Acquire = %+v; want server b", r)
	}
	r.lease.Release()
}

// TestQueuedSessionRerunsAffinity: the waiter's pick after the wake-up honours stickiness.
func TestQueuedSessionRerunsAffinity(t *testing.T) {
	p := smallPool(t, time.Hour, true)
	stickTo(t, p, client1, "b")
	ha := hold(t, p, "a", 1)
	hb := hold(t, p, "b", 1)
	ch := acquireAsync(t, context.Background(), p, Request{Client: client1, Kind: Play}, 0)
	hb[0].Release()
	r := receive(t, ch)
	if r.err != nil || r.lease.Server.Name != "b" || r.lease.Reason != "stick" {
		t.Fatalf("Acquire = %+v; want b by stick", r)
	}
	r.lease.Release()
	ha[0].Release()
}

func TestNoWaitWhenNothingIsEligible(t *testing.T) {
	p := smallPool(t, time.Hour, false)
	hold(t, p, "a", 1)
	p.Server("b").SetHealthy(false)
	excl := []*Server{p.Server("a")}
	if _, err := p.Acquire(context.Background(), Request{Kind: Play, Exclude: excl}); !errors.Is(err, ErrNoServer) {
		t.Fatalf("Acquire = %v; want ErrNoServer at once (a is excluded, b is down)", err)
	}
	if p.Waiting() != 0 {
		t.Errorf("Waiting = %d", p.Waiting())
	}
}
