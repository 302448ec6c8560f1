package edge

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"runtime/debug"
	"sync"
	"time"

	"github.com/rtmp-edge/rtmp-edge/rtmpt"
)

// listener accepts clients on one address and runs each through the
// pipeline towards its backend.
type listener struct {
	e       *Edge
	cfg     ListenerConfig
	backend *backend
	ln      net.Listener
	ctx     context.Context
	// slots holds one token per open client connection when maxconn is set:
	// the accept loop waits for a free slot before accepting, so clients past
	// the limit wait in the kernel backlog, as with HAProxy.
	slots  chan struct{}
	tunnel *rtmpt.Server
	wg     sync.WaitGroup
}

// First bytes of a client connection.
const (
	c0RTMPE = 0x06
	c0XTEA  = 0x08
	c0Blow  = 0x09
	// tlsHandshake starts a TLS ClientHello (an rtmps:// client).
	tlsHandshake = 0x16
)

func (l *listener) acceptLoop() {
	defer l.wg.Done()
	backoff := 5 * time.Millisecond
	for {
		if l.slots != nil {
			select {
			case l.slots <- struct{}{}:
			case <-l.ctx.Done():
				return
			}
		}
		c, err := l.ln.Accept()
		if err != nil {
			l.freeSlot()
			if l.ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			// EMFILE and friends: back off instead of spinning.
			l.e.log.Error("accept failed", "listener", l.cfg.Name, "err", err.Error(), "retry_in", backoff.String())
			select {
			case <-time.After(backoff):
			case <-l.ctx.Done():
				return
			}
			backoff = min(backoff*2, time.Second)
			continue
		}
		backoff = 5 * time.Millisecond
		l.wg.Add(1)
		go l.handleConn(c)
	}
}

func (l *listener) freeSlot() {
	if l.slots != nil {
		<-l.slots
	}
}

// handleConn sniffs one accepted connection and hands it to the RTMP pipeline
// or the RTMPT tunnel.
func (l *listener) handleConn(c net.Conn) {
	defer l.wg.Done()
	defer l.freeSlot()
	l.e.metrics.connOpened(l.cfg.Name)
	defer l.e.metrics.connClosed(l.cfg.Name)
	untrack := l.e.track(c)
	defer untrack()

	s := &session{listener: l.cfg.Name, proto: ProtoRTMP, client: addrPort(c.RemoteAddr()), local: addrPort(c.LocalAddr()), start: time.Now()}
	defer l.recoverSession(c, s)

	r := bufio.NewReaderSize(c, 4096)
	_ = c.SetReadDeadline(time.Now().Add(l.cfg.HandshakeTimeout))
	var remote net.Addr
	if l.cfg.AcceptProxy {
		src, dst, ok, err := readProxyHeader(r)
		if err != nil {
			c.Close()
			l.rejected(s, rejectionFor("proxy_header", err))
			return
		}
		if ok {
			s.client, s.local = src, dst
			remote = net.TCPAddrFromAddrPort(src)
		}
	}
	first, err := r.Peek(1)
	if err != nil {
		c.Close()
		l.rejected(s, rejectionFor("sniff", err))
		return
	}
	switch b := first[0]; {
	case b == tlsHandshake:
		c.Close()
		l.rejected(s, reject("tls", errors.New("TLS (rtmps://) is not served on this listener; terminate TLS in front of the edge")))
	case (b == c0RTMPE || b == c0XTEA || b == c0Blow) && l.cfg.serves(ProtoRTMP):
		c.Close()
		l.rejected(s, reject("rtmpe", fmt.Errorf("handshake: RTMPE (encrypted RTMP, C0=%d) cannot be routed; the client must use plain rtmp", b)))
	case b < ' ' && l.cfg.serves(ProtoRTMP):
		// 0x03 or another binary version byte: the handshake judges it.
		l.serveRTMP(c, r, s)
	case isHTTPStart(b) && l.tunnel != nil:
		_ = c.SetReadDeadline(time.Time{})
		_ = l.tunnel.ServeConn(&sniffedConn{Conn: c, r: r, remote: remote})
		c.Close()
	default:
		c.Close()
		l.rejected(s, reject("not_rtmp", fmt.Errorf("first byte 0x%02x is not %v on this listener", b, l.cfg.Protocols)))
	}
}

// isHTTPStart: HTTP methods start with an upper-case ASCII letter.
func isHTTPStart(b byte) bool { return b >= 'A' && b <= 'Z' }

// serveTunnel runs one RTMPT tunnel session through the RTMP pipeline.
func (l *listener) serveTunnel(tc *rtmpt.Conn) {
	l.wg.Add(1)
	defer l.wg.Done()
	untrack := l.e.track(tc)
	defer untrack()
	s := &session{listener: l.cfg.Name, proto: ProtoRTMPT, client: addrPort(tc.RemoteAddr()), local: addrPort(tc.LocalAddr()), start: time.Now()}
	defer l.recoverSession(tc, s)
	l.serveRTMP(tc, bufio.NewReaderSize(tc, 4096), s)
}

// recoverSession keeps a bug in one session from taking down the others.
func (l *listener) recoverSession(c net.Conn, s *session) {
	if v := recover(); v != nil {
		c.Close()
		l.e.metrics.panicked()
		l.e.log.Error("session panicked (bug)", "client", s.client.String(), "listener", s.listener,
			"panic", fmt.Sprint(v), "stack", string(debug.Stack()))
	}
}
