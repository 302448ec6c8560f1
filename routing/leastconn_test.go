package routing

import (
	"testing"
)

func leastConnPool(t *testing.T, weights ...int) *Pool {
	t.Helper()
	return newTestPool(t, func(c *PoolConfig) {
		c.Balance = BalanceLeastConn
		c.Servers = nil
		for i, w := range weights {
			c.Servers = append(c.Servers, ServerConfig{Name: string(rune('a' + i)), Address: "10.0.0.1:1935", Weight: new(w)})
		}
	})
}

func TestLeastConnTiesRotate(t *testing.T) {
	p := leastConnPool(t, 1, 1, 1)
	if got := sequence(pickNames(t, p, Play, 9)); got != "abcabcabc" {
		t.Errorf("idle equal servers picked %s, want abcabcabc", got)
	}
}

func TestLeastConnLowestActivePerWeight(t *testing.T) {
	tests := []struct {
		name    string
		weights []int
		open    int
		want    map[string]int // sessions per server once open are held
	}{
		{"equal weights spread evenly", []int{1, 1, 1}, 9, map[string]int{"a": 3, "b": 3, "c": 3}},
		{"double weight takes double", []int{2, 1}, 6, map[string]int{"a": 4, "b": 2}},
		{"seed weights", []int{10, 10, 8}, 28, map[string]int{"a": 10, "b": 10, "c": 8}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := leastConnPool(t, tt.weights...)
			for range tt.open {
				l := mustAcquire(t, p, Request{Kind: Play})
				t.Cleanup(l.Release)
			}
			for name, want := range tt.want {
				if got := p.Server(name).Active(); got != want {
					t.Errorf("%s holds %d sessions, want %d", name, got, want)
				}
			}
		})
	}
}

func TestLeastConnPrefersTheIdleServer(t *testing.T) {
	p := leastConnPool(t, 1, 1, 1)
	hold(t, p, "a", 2)
	hold(t, p, "c", 1)
	l := mustAcquire(t, p, Request{Kind: Play})
	defer l.Release()
	if l.Server.Name != "b" || l.Reason != "leastconn" {
		t.Errorf("picked %s (%q), want b (leastconn)", l.Server.Name, l.Reason)
	}
}

func TestLeastConnSkipsUnusable(t *testing.T) {
	p := leastConnPool(t, 1, 1, 1)
	p.Server("a").SetHealthy(false)
	p.Server("b").SetDraining(true)
	for _, n := range pickNames(t, p, Play, 5) {
		if n != "c" {
			t.Fatalf("picked %s, only c is usable", n)
		}
	}
}
