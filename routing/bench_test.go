package routing

import (
	"context"
	"net/netip"
	"testing"
)

// BenchmarkAcquireConfirmReleaseStick200k is the full per-session routing cost with a
// stick table holding 200k distinct clients (the reference `size 200k`): every
// session is a stick hit that pins and then unpins its entry.
func BenchmarkAcquireConfirmReleaseStick200k(b *testing.B) {
	const clients = 200_000
	p := newTestPool(b, func(c *PoolConfig) { c.Stick = StickConfig{Size: 200 * 1024} })
	addrs := make([]netip.Addr, clients)
	servers := p.Servers()
	for i := range addrs {
		addrs[i] = netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		p.stick.idle.Add(addrs[i], servers[i%len(servers)])
	}
	if p.StickLen() != clients {
		b.Fatalf("StickLen = %d", p.StickLen())
	}
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		l, err := p.Acquire(ctx, Request{Client: addrs[i%clients], Kind: Play})
		if err != nil {
			b.Fatal(err)
		}
		l.Confirm()
		l.Release()
	}
}

// BenchmarkAcquireReleaseRoundRobin: a pick without affinity, slot taken and given back.
func BenchmarkAcquireReleaseRoundRobin(b *testing.B) {
	p := newTestPool(b, nil)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		l, err := p.Acquire(ctx, Request{Kind: Play})
		if err != nil {
			b.Fatal(err)
		}
		l.Release()
	}
}

// BenchmarkRoundRobinPick is the bare balancer decision: must not allocate.
func BenchmarkRoundRobinPick(b *testing.B) {
	p := newTestPool(b, nil)
	rr := p.all.bal
	b.ReportAllocs()
	for b.Loop() {
		if rr.pick(filter{}) == nil {
			b.Fatal("no server")
		}
	}
}

func BenchmarkAcquireReleaseParallel(b *testing.B) {
	p := newTestPool(b, func(c *PoolConfig) {
		for i := range c.Servers {
			c.Servers[i].MaxConn = 0
		}
	})
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			l, err := p.Acquire(ctx, Request{Kind: Play})
			if err != nil {
				b.Error(err)
				return
			}
			l.Release()
		}
	})
}
