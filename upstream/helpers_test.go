package upstream

import (
	"io"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	rtmp "github.com/yutopp/go-rtmp"
	"github.com/yutopp/go-rtmp/handshake"
	"github.com/yutopp/go-rtmp/message"
)

// waitGuard bounds every wait in the tests; it is not a timing assertion, only a way to fail
// instead of hanging when something is broken.
const waitGuard = 10 * time.Second

// listen opens a TCP listener on addr (a 127.x address) closed at the end of the test.
func listen(t testing.TB, addr string) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listen %s: %v", addr, err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

// refusedAddr returns a 127.0.0.1 address with nothing listening (listen on :0, then close).
func refusedAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// accepted is what a test server saw on one connection.
type accepted struct {
	remote netip.AddrPort
	header []byte // raw bytes before the handshake (the PROXY header), if any were expected
	after  []byte // bytes read after the handshake
	err    error
}

// handshakeServer accepts connections; on each it reads headerLen raw bytes, then runs
// go-rtmp's server-side handshake WITH verification (so a wrong C2 fails), then reads
// afterLen bytes. One result per connection is sent on the returned channel.
func handshakeServer(t testing.TB, headerLen, afterLen int) (string, <-chan accepted) {
	t.Helper()
	ln := listen(t, "127.0.0.1:0")
	results := make(chan accepted, 16)
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				_ = conn.SetDeadline(time.Now().Add(waitGuard))
				res := accepted{remote: conn.RemoteAddr().(*net.TCPAddr).AddrPort()}
				res.header = make([]byte, headerLen)
				if _, err := io.ReadFull(conn, res.header); err != nil {
					res.err = err
					results <- res
					return
				}
				if err := handshake.HandshakeWithClient(conn, conn, &handshake.Config{}); err != nil {
					res.err = err
					results <- res
					return
				}
				res.after = make([]byte, afterLen)
				_, res.err = io.ReadFull(conn, res.after)
				results <- res
			}()
		}
	}()
	return ln.Addr().String(), results
}

// hungServer accepts TCP connections and never sends a byte (a wedged media server).
func hungServer(t testing.TB) string {
	t.Helper()
	ln := listen(t, "127.0.0.1:0")
	var mu sync.Mutex
	var conns []net.Conn
	t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	return ln.Addr().String()
}

// rtmpHandler is a go-rtmp server handler that accepts or rejects connect.
type rtmpHandler struct {
	rtmp.DefaultHandler
	reject bool
}

func (h *rtmpHandler) OnConnect(uint32, *message.NetConnectionConnect) error {
	if h.reject {
		return io.ErrUnexpectedEOF // any error makes go-rtmp answer _error
	}
	return nil
}

// rtmpServer starts a go-rtmp server on 127.0.0.1 and returns its address.
func rtmpServer(t testing.TB, reject bool) string {
	t.Helper()
	ln := listen(t, "127.0.0.1:0")
	srv := rtmp.NewServer(&rtmp.ServerConfig{
		OnConnect: func(conn net.Conn) (io.ReadWriteCloser, *rtmp.ConnConfig) {
			return conn, &rtmp.ConnConfig{Handler: &rtmpHandler{reject: reject}}
		},
	})
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

// receive waits for one result or fails the test.
func receive[T any](t testing.TB, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(waitGuard):
		t.Fatal("nothing received")
		panic("unreachable")
	}
}
