package upstream

import (
	"bytes"
	"context"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/yutopp/go-rtmp/handshake"
)

// poolServer is a media server for the pool's tests: it answers the
// handshake (verifying C2), then keeps each conn, reading what arrives.
type poolServer struct {
	addr       string
	handshakes atomic.Int64 // completed
	mu         sync.Mutex
	conns      []net.Conn
	got        map[net.Conn]*bytes.Buffer
	closedByUs atomic.Int64 // conns whose peer (the edge) closed them
}

func startPoolServer(t *testing.T) *poolServer {
	t.Helper()
	ln := listen(t, "127.0.0.1:0")
	ps := &poolServer{addr: ln.Addr().String(), got: map[net.Conn]*bytes.Buffer{}}
	t.Cleanup(func() { ps.closeAll() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				_ = c.SetDeadline(time.Now().Add(waitGuard))
				if err := handshake.HandshakeWithClient(c, c, &handshake.Config{}); err != nil {
					c.Close()
					return
				}
				_ = c.SetDeadline(time.Time{})
				buf := &bytes.Buffer{}
				ps.mu.Lock()
				ps.conns = append(ps.conns, c)
				ps.got[c] = buf
				ps.mu.Unlock()
				ps.handshakes.Add(1)
				b := make([]byte, 512)
				for {
					n, err := c.Read(b)
					ps.mu.Lock()
					buf.Write(b[:n])
					ps.mu.Unlock()
					if err != nil {
						ps.closedByUs.Add(1)
						return
					}
				}
			}()
		}
	}()
	return ps
}

// received is every conn's bytes after the handshake, concatenated in no
// particular order (each test sends one distinct message per conn).
func (ps *poolServer) received() string {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	var all []string
	for _, b := range ps.got {
		all = append(all, b.String())
	}
	return strings.Join(all, "|")
}

func (ps *poolServer) closeAll() {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	for _, c := range ps.conns {
		c.Close()
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(waitGuard); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting: %s", what)
		}
	}
}

func (p *connPool) readyFor(addr string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if st := p.byAddr[addr]; st != nil {
		return len(st.ready)
	}
	return 0
}

// Without Preconnect, Open dials, handshakes and delivers the first bytes
// right after the handshake.
func TestOpenSendsFirstBytesAfterTheHandshake(t *testing.T) {
	ps := startPoolServer(t)
	d, err := NewDialer(DialConfig{})
	if err != nil {
		t.Fatal(err)
	}
	c, err := d.Open(context.Background(), ps.addr, netip.AddrPort{}, netip.AddrPort{}, []byte("connect-bytes"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	waitFor(t, "the server receives the first bytes", func() bool { return ps.received() == "connect-bytes" })
	if hits, misses := d.PoolStats(); hits != 0 || misses != 0 {
		t.Errorf("pool stats without preconnect: %d hits, %d misses", hits, misses)
	}
}

// With Preconnect, the first Open dials (nothing is ready yet) and starts
// the stock; later Opens take made connections, each delivering its bytes.
func TestPreconnectServesFromItsStock(t *testing.T) {
	ps := startPoolServer(t)
	d, err := NewDialer(DialConfig{Preconnect: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	open := func(msg string) net.Conn {
		c, err := d.Open(context.Background(), ps.addr, netip.AddrPort{}, netip.AddrPort{}, []byte(msg))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	open("a")
	waitFor(t, "two connections in stock", func() bool { return d.pool.readyFor(ps.addr) == 2 })
	open("b")
	open("c")
	if hits, misses := d.PoolStats(); hits != 2 || misses != 1 {
		t.Errorf("pool stats: %d hits, %d misses; want 2 and 1", hits, misses)
	}
	waitFor(t, "every session's bytes at the server", func() bool {
		got := ps.received()
		return strings.Count(got, "a") == 1 && strings.Count(got, "b") == 1 && strings.Count(got, "c") == 1
	})
	// The stock refills after each take; never beyond its size.
	waitFor(t, "the stock refilled", func() bool { return d.pool.readyFor(ps.addr) == 2 })
	waitFor(t, "5 handshakes at the server (3 sessions + 2 in stock)", func() bool { return ps.handshakes.Load() == 5 })
	d.pool.mu.Lock()
	if st := d.pool.byAddr[ps.addr]; len(st.ready) != 2 || st.dialing != 0 {
		t.Errorf("stock %d ready, %d dialing; want 2 and 0", len(st.ready), st.dialing)
	}
	d.pool.mu.Unlock()
}

// A made connection the server closed meanwhile is never handed out: the
// session gets a fresh one and its bytes arrive.
func TestPreconnectDropsConnectionsTheServerClosed(t *testing.T) {
	ps := startPoolServer(t)
	d, err := NewDialer(DialConfig{Preconnect: 3})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	c, err := d.Open(context.Background(), ps.addr, netip.AddrPort{}, netip.AddrPort{}, []byte("first"))
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	waitFor(t, "three connections in stock", func() bool { return d.pool.readyFor(ps.addr) == 3 })
	waitFor(t, "the server holds all four", func() bool { return ps.handshakes.Load() == 4 })
	ps.closeAll() // a media server restart
	d.pool.mu.Lock()
	stock := append([]pooledConn(nil), d.pool.byAddr[ps.addr].ready...)
	d.pool.mu.Unlock()
	waitFor(t, "the edge's side sees the closes", func() bool {
		for _, pc := range stock {
			if connAlive(pc.c) {
				return false
			}
		}
		return true
	})
	before := ps.handshakes.Load()
	c, err = d.Open(context.Background(), ps.addr, netip.AddrPort{}, netip.AddrPort{}, []byte("second"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// Only a live connection delivers (a closed one was taken out of the
	// server's list and reads nothing more); a refill made while Open
	// discarded the dead ones may serve it.
	waitFor(t, "the second session's bytes at the server", func() bool { return strings.Contains(ps.received(), "second") })
	if ps.handshakes.Load() == before {
		t.Error("the second session did not get a fresh connection")
	}
}

// A stock nobody takes from is closed after maxAge, and nothing is made
// again until the next take.
func TestPreconnectStockExpires(t *testing.T) {
	ps := startPoolServer(t)
	d, err := NewDialer(DialConfig{})
	if err != nil {
		t.Fatal(err)
	}
	d.pool = newConnPool(d, 2, 20*time.Millisecond)
	defer d.Close()
	if c := d.pool.get(ps.addr); c != nil {
		t.Fatal("a connection before any was made")
	}
	waitFor(t, "the server sees both made connections closed", func() bool { return ps.closedByUs.Load() == 2 })
	waitFor(t, "the pool forgets the server", func() bool {
		d.pool.mu.Lock()
		defer d.pool.mu.Unlock()
		return len(d.pool.byAddr) == 0 && d.pool.sweep == nil
	})
	if n := ps.handshakes.Load(); n != 2 {
		t.Errorf("%d handshakes, want the 2 of the stock only", n)
	}
}

func TestPreconnectValidated(t *testing.T) {
	for _, tt := range []struct {
		cfg  DialConfig
		want string
	}{
		{DialConfig{Preconnect: -1}, "preconnect: must be 0..64"},
		{DialConfig{Preconnect: 65}, "preconnect: must be 0..64"},
		{DialConfig{Preconnect: 4, Source: SourceClientIP}, "preconnect: needs source: edge"},
		{DialConfig{Preconnect: 4, Source: SourceClient}, "preconnect: needs source: edge"},
		{DialConfig{Preconnect: 4, ProxyProtocol: ProxyProtocolV2}, "preconnect: cannot be used with proxy_protocol"},
	} {
		err := tt.cfg.Validate()
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%+v: error %v, want %q", tt.cfg, err, tt.want)
		}
	}
	if err := (&DialConfig{Preconnect: 64}).Validate(); err != nil {
		t.Errorf("preconnect 64 with source edge: %v", err)
	}
}
