package harness

import (
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// CountingProxy is a TCP forwarder on its own loopback port that counts the
// bytes it passes each way. Put in front of the edge, it tells exactly how many
// bytes a real client (ffmpeg) sent to the edge and received from it, which
// the client itself does not report; the edge's byte counters are checked
// against it. It dials the target from SourceIP, so the edge sees that address
// as the client.
type CountingProxy struct {
	Addr string // where clients connect, "127.0.0.1:port"

	target   string
	sourceIP string
	ln       net.Listener
	up       atomic.Int64 // client → target, counted once written to the target
	down     atomic.Int64 // target → client, counted once written to the client
	mu       sync.Mutex
	conns    []net.Conn
	wg       sync.WaitGroup
}

// StartCountingProxy listens on a free loopback port and forwards each
// connection to target from sourceIP; it is closed in t.Cleanup.
func StartCountingProxy(t testing.TB, target, sourceIP string) *CountingProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("counting proxy: listen: %v", err)
	}
	p := &CountingProxy{Addr: ln.Addr().String(), target: target, sourceIP: sourceIP, ln: ln}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(p.Close)
	return p
}

// Up is the number of bytes written to the target so far (what the client sent).
func (p *CountingProxy) Up() int64 { return p.up.Load() }

// Down is the number of bytes written to the client so far.
func (p *CountingProxy) Down() int64 { return p.down.Load() }

// Close stops listening, closes every forwarded connection and waits for the
// copies to end.
func (p *CountingProxy) Close() {
	p.ln.Close()
	p.mu.Lock()
	for _, c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}

func (p *CountingProxy) track(c net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.conns = append(p.conns, c)
}

func (p *CountingProxy) accept() {
	defer p.wg.Done()
	for {
		client, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.track(client)
		p.wg.Add(1)
		go p.forward(client)
	}
}

func (p *CountingProxy) forward(client net.Conn) {
	defer p.wg.Done()
	defer client.Close()
	d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(p.sourceIP)}}
	server, err := d.Dial("tcp", p.target)
	if err != nil {
		return
	}
	p.track(server)
	defer server.Close()
	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn, n *atomic.Int64) {
		// A small buffer and a count after each write keep the counter as close
		// to what the peer was handed as the test's bound needs.
		buf := make([]byte, 16<<10)
		for {
			k, err := src.Read(buf)
			if k > 0 {
				w, werr := dst.Write(buf[:k])
				n.Add(int64(w))
				if werr != nil {
					break
				}
			}
			if err != nil {
				break
			}
		}
		// Half-close so the other side sees the end, then let the other copy finish.
		if tc, ok := dst.(*net.TCPConn); ok {
			_ = tc.CloseWrite()
		}
		done <- struct{}{}
	}
	go pipe(server, client, &p.up)
	go pipe(client, server, &p.down)
	<-done
	<-done
}
