package upstream

// Connections made ahead of need (DialConfig.Preconnect).
//
// A session's set-up waits, after the client's handshake and connect, for
// the TCP connect to its media server and the RTMP handshake with it: two
// round trips and four wake-ups of the edge, most of a session's set-up
// latency on a LAN. With source edge and no PROXY header, a connection to a
// server does not depend on the client, so it can be made before the client
// arrives: the pool keeps up to Preconnect of them per server, handshaken
// (C2 sent), and a session takes one and writes its replay to it.
//
// This is impossible with a transparent source (clientip/client) or a PROXY
// header: the server learns the client's address from the connection's
// source or from its first bytes, both fixed before the client is known.
// NewDialer refuses the combination.
//
// Refill is on demand: every take (hit or miss) starts dials for what the
// server's stock lacks, so a pool never dials for a server no session went
// to, and a server that gets no sessions keeps nothing after maxAge.
// maxAge stays far below what media servers allow between the handshake and
// connect (nginx-rtmp's timeout is 60 s by default). A connection the server
// closed meanwhile (restart, its own timeout) is found by a non-blocking
// peek when it is taken and dropped; it never reaches a client.
//
// Cost: at most Preconnect idle connections per server in use, and at low
// session rates up to one handshake per session that nobody uses (it
// expires): the server sees connections that close without a connect.

import (
	"context"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

const (
	// maxPreconnect bounds DialConfig.Preconnect.
	maxPreconnect = 64
	// preconnectMaxAge is how long a made connection waits for a session.
	preconnectMaxAge = 5 * time.Second
	// refillDelay is how long a refill waits (refillLocked): about a set-up's
	// exchange with its server on a LAN. A stock of N keeps up with N
	// sessions per refillDelay to one server; beyond that, sessions dial.
	refillDelay = 5 * time.Millisecond
)

type connPool struct {
	d      *Dialer
	size   int
	maxAge time.Duration

	mu     sync.Mutex
	byAddr map[string]*poolStock
	sweep  *time.Timer // armed while any connection waits
	closed bool

	hits, misses atomic.Int64
}

// poolStock is one server's connections.
type poolStock struct {
	ready   []pooledConn // oldest first
	dialing int
}

type pooledConn struct {
	c  net.Conn
	at time.Time
}

func newConnPool(d *Dialer, size int, maxAge time.Duration) *connPool {
	return &connPool{d: d, size: size, maxAge: maxAge, byAddr: map[string]*poolStock{}}
}

// get returns a live handshaken connection to addr, or nil when none is
// ready; either way it starts refilling addr's stock.
func (p *connPool) get(addr string) net.Conn {
	for {
		now := time.Now()
		var c net.Conn
		var stale []net.Conn
		p.mu.Lock()
		st := p.byAddr[addr]
		if st == nil {
			st = &poolStock{}
			p.byAddr[addr] = st
		}
		for len(st.ready) > 0 && c == nil {
			pc := st.ready[0]
			st.ready[0] = pooledConn{}
			st.ready = st.ready[1:]
			if now.Sub(pc.at) < p.maxAge {
				c = pc.c
			} else {
				stale = append(stale, pc.c)
			}
		}
		p.refillLocked(addr, st)
		p.mu.Unlock()
		for _, sc := range stale {
			_ = sc.Close()
		}
		if c == nil {
			p.misses.Add(1)
			return nil
		}
		if connAlive(c) {
			p.hits.Add(1)
			return c
		}
		_ = c.Close() // the server closed it (or sent something unasked): try the next
	}
}

// refillLocked starts the dials that bring addr's stock back to size, after
// refillDelay: the session that just took a connection is in the middle of
// its exchange with that server, and a handshake started now would compete
// with it for the server's and the edge's CPU, on its critical path.
func (p *connPool) refillLocked(addr string, st *poolStock) {
	if p.closed {
		return
	}
	for ; len(st.ready)+st.dialing < p.size; st.dialing++ {
		time.AfterFunc(refillDelay, func() { p.make(addr) })
	}
}

// make dials one connection for addr's stock. A failure is not retried
// here: the next take tries again (and the session that found the stock
// empty dials on its own, with its own retries).
func (p *connPool) make(addr string) {
	c, err := p.d.dial(context.Background(), addr, netip.AddrPort{}, netip.AddrPort{}, nil)
	p.mu.Lock()
	st := p.byAddr[addr]
	st.dialing--
	if err != nil || p.closed {
		p.mu.Unlock()
		if c != nil {
			_ = c.Close()
		}
		return
	}
	st.ready = append(st.ready, pooledConn{c: c, at: time.Now()})
	if p.sweep == nil {
		p.sweep = time.AfterFunc(p.maxAge, p.expire)
	}
	p.mu.Unlock()
}

// expire closes the connections that waited maxAge, and re-arms itself
// while any wait.
func (p *connPool) expire() {
	now := time.Now()
	var stale []net.Conn
	var next time.Duration
	p.mu.Lock()
	if p.sweep == nil { // closed meanwhile
		p.mu.Unlock()
		return
	}
	for addr, st := range p.byAddr {
		i := 0
		for i < len(st.ready) && now.Sub(st.ready[i].at) >= p.maxAge {
			stale = append(stale, st.ready[i].c)
			st.ready[i] = pooledConn{}
			i++
		}
		st.ready = st.ready[i:]
		if len(st.ready) > 0 {
			if wait := p.maxAge - now.Sub(st.ready[0].at); next == 0 || wait < next {
				next = wait
			}
		} else if st.dialing == 0 {
			delete(p.byAddr, addr) // a server no session went to for maxAge (or gone)
		}
	}
	if next > 0 {
		p.sweep.Reset(next)
	} else {
		p.sweep = nil
	}
	p.mu.Unlock()
	for _, c := range stale {
		_ = c.Close()
	}
}

// close closes every waiting connection and stops refilling.
func (p *connPool) close() {
	var all []net.Conn
	p.mu.Lock()
	p.closed = true
	for _, st := range p.byAddr {
		for _, pc := range st.ready {
			all = append(all, pc.c)
		}
		st.ready = nil
	}
	if p.sweep != nil {
		p.sweep.Stop()
		p.sweep = nil
	}
	p.mu.Unlock()
	for _, c := range all {
		_ = c.Close()
	}
}

// PoolStats reports how many Opens took a connection made ahead of need
// (hits) and how many found none ready (misses); zeros without Preconnect.
func (d *Dialer) PoolStats() (hits, misses int64) {
	if d.pool == nil {
		return 0, 0
	}
	return d.pool.hits.Load(), d.pool.misses.Load()
}

// Close closes the connections the Dialer made ahead of need and stops
// making them; Dial and Open go on working, dialing for each call.
func (d *Dialer) Close() {
	if d.pool != nil {
		d.pool.close()
	}
}
