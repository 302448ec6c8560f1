package routing

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestConcurrentLeasesNeverOversubscribeAndDrainToZero hammers a pool with small
// maxconn from many goroutines while health and drain flip, then checks that no
// server ever held more than maxconn sessions and every count returns to 0.
func TestConcurrentLeasesNeverOversubscribeAndDrainToZero(t *testing.T) {
	const (
		workers    = 48
		iterations = 150
		maxConn    = 3
	)
	p := newTestPool(t, func(c *PoolConfig) {
		withStick(c)
		c.QueueTimeout = time.Minute
		for i := range c.Servers {
			c.Servers[i].MaxConn = maxConn
		}
	})
	var inUse [3]atomic.Int32 // sessions the test itself sees on each server
	index := map[*Server]int{}
	for i, s := range p.Servers() {
		index[s] = i
	}
	var over atomic.Int32
	var wg sync.WaitGroup
	stop := make(chan struct{})
	var flipper sync.WaitGroup
	flipper.Add(1)
	go func() { // media03 always stays up, so nobody can get ErrNoServer
		defer flipper.Done()
		m1, m2 := p.Server("media01"), p.Server("media02")
		for i := 0; ; i++ {
			select {
			case <-stop:
				m1.SetDraining(false)
				m2.SetHealthy(true)
				return
			default:
			}
			m1.SetDraining(i%3 == 0)
			m2.SetHealthy(i%2 == 0)
			time.Sleep(50 * time.Microsecond)
		}
	}()
	errs := make(chan error, workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 1))
			for range iterations {
				req := Request{Client: addr(fmt.Sprintf("127.0.%d.%d", w%4, rng.IntN(8)+1)), Kind: Kind(rng.IntN(2))}
				l, err := p.Acquire(context.Background(), req)
				if err != nil {
					errs <- err
					return
				}
				i := index[l.Server]
				if n := inUse[i].Add(1); n > maxConn || l.Server.Active() > maxConn {
					over.Add(1)
				}
				if rng.IntN(4) != 0 {
					l.Confirm()
				}
				if rng.IntN(8) == 0 {
					time.Sleep(time.Duration(rng.IntN(100)) * time.Microsecond)
				}
				inUse[i].Add(-1)
				l.Release()
				if rng.IntN(5) == 0 {
					l.Release() // idempotent
				}
			}
		}()
	}
	wg.Wait()
	close(stop)
	flipper.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("Acquire: %v", err)
	}
	if n := over.Load(); n > 0 {
		t.Errorf("maxconn %d exceeded %d times", maxConn, n)
	}
	for _, s := range p.Servers() {
		if s.Active() != 0 {
			t.Errorf("%s Active = %d after every lease was released", s, s.Active())
		}
	}
	p.mu.Lock()
	pinned := len(p.stick.pinned)
	p.mu.Unlock()
	if p.Waiting() != 0 || pinned != 0 {
		t.Errorf("Waiting %d, pinned %d; want 0, 0", p.Waiting(), pinned)
	}
}

// TestConcurrentOpenThenRelease opens N leases at once, holds them, releases them
// concurrently, and checks every Active() returns to 0.
func TestConcurrentOpenThenRelease(t *testing.T) {
	const n = 300
	p := newTestPool(t, func(c *PoolConfig) { c.QueueTimeout = time.Minute })
	leases := make([]*Lease, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			l, err := p.Acquire(context.Background(), Request{Client: addr(fmt.Sprintf("127.0.1.%d", i%250+1)), Kind: Kind(i % 2)})
			if err != nil {
				t.Errorf("Acquire: %v", err)
				return
			}
			leases[i] = l
		})
	}
	wg.Wait()
	total := 0
	for _, s := range p.Servers() {
		if s.Active() > s.MaxConn() {
			t.Errorf("%s Active %d > maxconn %d", s, s.Active(), s.MaxConn())
		}
		total += s.Active()
	}
	if total != n {
		t.Fatalf("%d slots held for %d leases", total, n)
	}
	for i := range n {
		wg.Go(func() {
			leases[i].Confirm()
			leases[i].Release()
		})
	}
	wg.Wait()
	for _, s := range p.Servers() {
		if s.Active() != 0 {
			t.Errorf("%s Active = %d, want 0", s, s.Active())
		}
	}
}
