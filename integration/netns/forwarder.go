package netns

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"runtime/debug"
	"sync"
)

// Forwarder accepts connections and relays each to a connection its DialFunc
// opens: a transparent hop (a minimal stand-in for the edge) or a PROXY-sending
// front (an L4 balancer in front of the edge).
type Forwarder struct {
	ln     net.Listener
	dial   DialFunc
	ctx    context.Context
	cancel context.CancelFunc

	mu    sync.Mutex
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup

	errMu  sync.Mutex
	errors []error
}

// DialFunc opens the next hop for one accepted connection.
type DialFunc func(ctx context.Context, accepted net.Conn) (net.Conn, error)

// closeWriter is a conn whose sending half can be shut alone (TCP, TLS, unix).
type closeWriter interface{ CloseWrite() error }

// NewForwarder serves ln until Close; it takes ownership of ln.
func NewForwarder(ln net.Listener, dial DialFunc) *Forwarder {
	ctx, cancel := context.WithCancel(context.Background())
	f := &Forwarder{ln: ln, dial: dial, ctx: ctx, cancel: cancel, conns: map[net.Conn]struct{}{}}
	f.wg.Add(1)
	go f.serve()
	return f
}

// Addr is where the forwarder listens.
func (f *Forwarder) Addr() net.Addr { return f.ln.Addr() }

// Errors returns the dial errors seen so far (a failed hop closes its client).
func (f *Forwarder) Errors() []error {
	f.errMu.Lock()
	defer f.errMu.Unlock()
	return append([]error(nil), f.errors...)
}

// Close stops accepting, closes every relayed connection and waits for the
// forwarder's goroutines to end.
func (f *Forwarder) Close() error {
	f.cancel()
	err := f.ln.Close()
	f.mu.Lock()
	for c := range f.conns {
		_ = c.Close()
	}
	f.mu.Unlock()
	f.wg.Wait()
	return err
}

func (f *Forwarder) serve() {
	defer f.wg.Done()
	defer func() {
		if r := recover(); r != nil {
			f.noteError(fmt.Errorf("netns forwarder: panic in accept loop: %v\n%s", r, debug.Stack()))
		}
	}()
	for {
		c, err := f.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			f.noteError(err)
			return
		}
		f.wg.Add(1)
		go f.handle(c)
	}
}

// track registers c for Close; false when the forwarder is already closing.
func (f *Forwarder) track(c net.Conn) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.ctx.Err() != nil {
		_ = c.Close()
		return false
	}
	f.conns[c] = struct{}{}
	return true
}

func (f *Forwarder) untrack(c net.Conn) {
	f.mu.Lock()
	delete(f.conns, c)
	f.mu.Unlock()
	_ = c.Close()
}

func (f *Forwarder) noteError(err error) {
	f.errMu.Lock()
	f.errors = append(f.errors, err)
	f.errMu.Unlock()
}

func (f *Forwarder) handle(client net.Conn) {
	defer f.wg.Done()
	defer func() {
		if r := recover(); r != nil {
			slog.Error("netns forwarder: panic", "panic", r, "stack", string(debug.Stack()))
		}
	}()
	if !f.track(client) {
		return
	}
	defer f.untrack(client)
	upstream, err := f.dial(f.ctx, client)
	if err != nil {
		f.noteError(err)
		return
	}
	if !f.track(upstream) {
		return
	}
	defer f.untrack(upstream)
	var copiers sync.WaitGroup
	copiers.Add(2)
	go copyHalf(&copiers, upstream, client)
	go copyHalf(&copiers, client, upstream)
	copiers.Wait()
}

// copyHalf copies one direction and then half-closes the destination, so the
// other direction can still drain; both directions are waited for.
func copyHalf(wg *sync.WaitGroup, dst, src net.Conn) {
	defer wg.Done()
	defer func() {
		if r := recover(); r != nil {
			slog.Error("netns forwarder: panic in copy", "panic", r, "stack", string(debug.Stack()))
		}
	}()
	_, err := io.Copy(dst, src)
	if cw, ok := dst.(closeWriter); ok && err == nil {
		_ = cw.CloseWrite()
		return
	}
	_ = dst.Close()
	_ = src.Close()
}
