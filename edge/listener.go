package edge

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/rtmp-edge/rtmp-edge/edge/certs"
	"github.com/rtmp-edge/rtmp-edge/rtmpt"
)

// listener is one listener of a runtime: its config and backend. Its
// acceptor (the socket) may be shared with the listeners of earlier and later
// runtimes that have the same address.
type listener struct {
	e       *Edge
	rt      *runtime
	cfg     ListenerConfig
	backend *backend
	acc     *acceptor
	// certs serves the TLS of rtmps and rtmpts; nil when the listener
	// serves neither. Built with the runtime, so SIGHUP reads the files
	// again and a session keeps the certificates it was handed.
	certs *certs.Store
}

// acceptor owns one listening socket across reloads: it accepts clients and
// hands each to the listener of the current runtime for its address.
type acceptor struct {
	addr string // its socketKey: the configured address
	ln   net.Listener
	cur  atomic.Pointer[listener]
	// slots is the listener's maxconn: the accept loop waits for a free slot
	// before accepting, so clients past the limit wait in the kernel backlog,
	// as with HAProxy.
	slots  slots
	tunnel *rtmpt.Server // created when a listener on this socket serves RTMPT

	mu      sync.Mutex
	conns   map[net.Conn]struct{} // accepted conns not yet finished: closed at shutdown
	started bool
	stopped chan struct{}
	wg      sync.WaitGroup
}

// bindAcceptors binds the addresses of cfg that have no socket yet and
// returns the new acceptors (already in e.acceptors). On error every socket
// bound by this call is closed again.
func (e *Edge) bindAcceptors(cfg Config) ([]*acceptor, error) {
	var bound []*acceptor
	for _, lc := range cfg.Listeners {
		key := lc.socketKey()
		if _, ok := e.acceptors[key]; ok {
			continue
		}
		ln, err := e.inherit.listener(key) // an upgrade's inherited socket
		if ln == nil && err == nil {
			// No TCP keep-alive on accepted conns (an inherited socket keeps
			// Go's default): the relay's idle and write timeouts end a session
			// whose client is gone, and keep-alive costs four setsockopt calls
			// per accepted conn.
			noKeepAlive := net.ListenConfig{KeepAlive: -1}
			ln, err = noKeepAlive.Listen(context.Background(), "tcp", lc.Address)
		}
		if err != nil {
			for _, a := range bound {
				a.close()
				delete(e.acceptors, a.addr)
			}
			return nil, fmt.Errorf("listener %s: %w", lc.Name, listenHint(err, lc.Address))
		}
		a := &acceptor{addr: key, ln: ln, conns: map[net.Conn]struct{}{}, stopped: make(chan struct{})}
		e.acceptors[key] = a
		bound = append(bound, a)
	}
	return bound, nil
}

// socketKey names the socket a listener uses across reloads and upgrades:
// its address, unless the port is 0 (a program or a test asking for any
// free port), where each listener gets a socket of its own.
func (l *ListenerConfig) socketKey() string {
	if _, port, err := net.SplitHostPort(l.Address); err == nil && port == "0" {
		return l.Address + " " + l.Name
	}
	return l.Address
}

// listenHint adds the fix to the errors an operator meets when binding.
func listenHint(err error, addr string) error {
	if errors.Is(err, syscall.EACCES) {
		return fmt.Errorf("%w (ports below 1024 need root or the capability: sudo setcap cap_net_bind_service=ep ./rtmp-edge, or AmbientCapabilities=CAP_NET_BIND_SERVICE in systemd)", err)
	}
	if errors.Is(err, syscall.EADDRINUSE) {
		return fmt.Errorf("%w (another process listens on %s)", err, addr)
	}
	return err
}

// attach points each acceptor at the runtime's listener for its address and
// applies the listener's limits. Called with e.mu held.
func (e *Edge) attach(rt *runtime) {
	for addr, l := range rt.listeners {
		a := e.acceptors[addr]
		l.acc = a
		a.slots.setMax(l.cfg.MaxConn)
		if (l.cfg.serves(ProtoRTMPT) || l.cfg.serves(ProtoRTMPTS)) && a.tunnel == nil {
			name := l.cfg.Name
			ts, err := rtmpt.NewServer(l.cfg.RTMPT, a.serveTunnel, rtmpt.Options{
				Logger: e.log.With("listener", name),
				// Counted in the server's Stats (exported at scrape time);
				// logged like an RTMP rejection, rate-limited.
				OnRefuse: func(reason string, remote net.Addr, err error) {
					e.rejections.Log(context.Background(), slog.LevelWarn, name+"/rtmpt/"+reason, "rtmpt refused",
						slog.String("listener", name), slog.String("client", addrString(remote)),
						slog.String("label", reason), slog.String("reason", errString(err)))
				},
			})
			if err != nil { // validated with the config; kept so a bug cannot panic here
				e.log.Error("rtmpt tunnel cannot start", "listener", l.cfg.Name, "err", err.Error())
			} else {
				a.tunnel = ts
			}
		}
		a.cur.Store(l)
		if l.certs != nil {
			e.metrics.tlsCertificates(l.cfg.Name, l.certs.NotAfter())
		}
	}
}

func (a *acceptor) start(e *Edge) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.started {
		return
	}
	a.started = true
	a.wg.Add(1)
	go a.acceptLoop(e)
}

func (a *acceptor) acceptLoop(e *Edge) {
	defer a.wg.Done()
	backoff := 5 * time.Millisecond
	for {
		if !a.slots.acquire(a.stopped) {
			return
		}
		c, err := a.ln.Accept()
		if err != nil {
			a.slots.release()
			if errors.Is(err, net.ErrClosed) || a.isStopped() {
				return
			}
			// EMFILE and friends: back off instead of spinning.
			e.log.Error("accept failed", "listener", a.cur.Load().cfg.Name, "err", err.Error(), "retry_in", backoff.String())
			select {
			case <-time.After(backoff):
			case <-a.stopped:
				return
			}
			backoff = min(backoff*2, time.Second)
			continue
		}
		backoff = 5 * time.Millisecond
		if !a.track(c) { // closed in the same instant
			a.slots.release()
			_ = c.Close()
			return
		}
		go a.cur.Load().handleConn(c)
	}
}

func (a *acceptor) isStopped() bool {
	select {
	case <-a.stopped:
		return true
	default:
		return false
	}
}

// stopAccepting closes the socket; conns already accepted go on.
func (a *acceptor) stopAccepting() {
	a.mu.Lock()
	select {
	case <-a.stopped:
	default:
		close(a.stopped)
	}
	a.mu.Unlock()
	_ = a.ln.Close()
	a.wg.Wait()
}

// close stops accepting and closes every conn still open on this socket,
// RTMPT tunnels included.
func (a *acceptor) close() {
	a.stopAccepting()
	if a.tunnel != nil {
		_ = a.tunnel.Close()
	}
	a.mu.Lock()
	for c := range a.conns {
		_ = c.Close()
	}
	a.mu.Unlock()
}

// track registers an accepted conn until done(c); false once closed.
func (a *acceptor) track(c net.Conn) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.isStopped() {
		return false
	}
	a.conns[c] = struct{}{}
	return true
}

// done forgets a conn and frees its slot.
func (a *acceptor) done(c net.Conn) {
	a.mu.Lock()
	delete(a.conns, c)
	a.mu.Unlock()
	a.slots.release()
}

// handOff forgets c, whose relay owns it now (a session cut at shutdown
// closes it through its relay), and returns what frees its slot instead of
// done(c): a closure that does not hold the conn, so an idle relayed session
// does not keep the closed conn's objects alive.
func (a *acceptor) handOff(c net.Conn, m *metrics, listener string) func() {
	a.mu.Lock()
	delete(a.conns, c)
	a.mu.Unlock()
	return func() {
		a.slots.release()
		m.connClosed(listener)
	}
}

// First bytes of a client connection.
const (
	c0RTMPE = 0x06
	c0XTEA  = 0x08
	c0Blow  = 0x09
	// tlsHandshake starts a TLS ClientHello (an rtmps:// client).
	tlsHandshake = 0x16
)

// handleConn sniffs one accepted connection and hands it to the RTMP pipeline
// or the RTMPT tunnel. It owns c: the session (or this function) closes it,
// and frees its slot, exactly once.
func (l *listener) handleConn(c net.Conn) {
	a := l.acc
	m := l.e.metrics
	m.connOpened(l.cfg.Name)
	client, local := addrPort(c.RemoteAddr()), addrPort(c.LocalAddr())
	closeConn := func() {
		_ = c.Close()
		a.done(c)
		m.connClosed(l.cfg.Name)
	}
	defer l.recoverConn(c, closeConn)

	r := sniffReaders.Get().(*bufio.Reader)
	r.Reset(c)
	handshakeBy := time.Now().Add(l.cfg.HandshakeTimeout)
	_ = c.SetReadDeadline(handshakeBy)
	var remote net.Addr
	if l.cfg.AcceptProxy {
		src, dst, ok, err := readProxyHeader(r)
		if err != nil {
			closeConn()
			l.rejectConn(client, ProtoRTMP, rejectionFor("proxy_header", err))
			return
		}
		if ok {
			client, local = src, dst
			remote = net.TCPAddrFromAddrPort(src)
		}
	}
	first, err := r.Peek(1)
	if err != nil {
		closeConn()
		l.rejectConn(client, ProtoRTMP, rejectionFor("sniff", err))
		return
	}
	switch b := first[0]; {
	case b == tlsHandshake && l.certs != nil:
		l.serveTLS(c, r, client, local, remote, handshakeBy, closeConn)
	case b == tlsHandshake:
		closeConn()
		l.rejectConn(client, ProtoRTMP, reject("tls", errors.New("TLS (rtmps://) is not served on this listener")))
	case (b == c0RTMPE || b == c0XTEA || b == c0Blow) && l.cfg.serves(ProtoRTMP):
		closeConn()
		l.rejectConn(client, ProtoRTMP, reject("rtmpe", fmt.Errorf("handshake: RTMPE (encrypted RTMP, C0=%d) cannot be routed; the client must use plain rtmp", b)))
	case b < ' ' && l.cfg.serves(ProtoRTMP):
		// 0x03 or another binary version byte: the handshake judges it.
		s := l.newSession(c, ProtoRTMP, client, local, closeConn)
		s.tracked = true
		s.run(r)
		// The set-up drained r (what it read ahead went into the replay):
		// nothing reads it any more.
		r.Reset(nil)
		sniffReaders.Put(r)
	case isHTTPStart(b) && a.tunnel != nil && l.cfg.serves(ProtoRTMPT):
		_ = c.SetReadDeadline(time.Time{})
		_ = a.tunnel.ServeConn(&sniffedConn{Conn: c, r: r, remote: remote})
		closeConn()
	case l.cfg.onlyTLS():
		closeConn()
		l.rejectConn(client, ProtoRTMP, reject("not_tls", fmt.Errorf("first byte 0x%02x is not a TLS ClientHello; this listener serves only %v (rtmps:// or rtmpts:// URLs)", b, l.cfg.Protocols)))
	default:
		closeConn()
		l.rejectConn(client, ProtoRTMP, reject("not_rtmp", fmt.Errorf("first byte 0x%02x is not %v on this listener", b, l.cfg.Protocols)))
	}
}

// sniffReaders lends handleConn its reader: an RTMP session needs it for its
// set-up only (TLS and RTMPT conns keep theirs).
var sniffReaders = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 4096) }}

// isHTTPStart: HTTP methods start with an upper-case ASCII letter.
func isHTTPStart(b byte) bool { return b >= 'A' && b <= 'Z' }

// serveTunnel runs one RTMPT tunnel session through the RTMP pipeline of the
// current listener of this socket.
func (a *acceptor) serveTunnel(tc *rtmpt.Conn) {
	l := a.cur.Load()
	proto, info := ProtoRTMPT, tunnelTLS(tc.LocalAddr())
	if info != nil {
		proto = ProtoRTMPTS
	}
	s := l.newSession(tc, proto, addrPort(tc.RemoteAddr()), addrPort(tc.LocalAddr()), func() { _ = tc.Close() })
	s.tls, s.backend = info, l.backendFor(info)
	s.run(bufio.NewReaderSize(tc, 4096))
}

// recoverConn keeps a bug in the sniffing of one connection from taking down
// the others.
func (l *listener) recoverConn(c net.Conn, closeConn func()) {
	if v := recover(); v != nil {
		closeConn()
		l.e.metrics.panicked()
		l.e.log.Error("connection panicked (bug)", "client", c.RemoteAddr().String(), "listener", l.cfg.Name,
			"panic", fmt.Sprint(v), "stack", stack())
	}
}

// slots is a counting semaphore whose limit can change (reload).
type slots struct {
	mu    sync.Mutex
	n     int
	max   int // 0 = unlimited
	freed chan struct{}
}

// acquire takes a slot, waiting for one; false when stop closed first.
func (s *slots) acquire(stop <-chan struct{}) bool {
	for {
		s.mu.Lock()
		if s.max == 0 || s.n < s.max {
			s.n++
			s.mu.Unlock()
			return true
		}
		if s.freed == nil {
			s.freed = make(chan struct{})
		}
		ch := s.freed
		s.mu.Unlock()
		select {
		case <-ch:
		case <-stop:
			return false
		}
	}
}

func (s *slots) release() {
	s.mu.Lock()
	s.n--
	s.wakeLocked()
	s.mu.Unlock()
}

func (s *slots) setMax(n int) {
	s.mu.Lock()
	s.max = n
	s.wakeLocked()
	s.mu.Unlock()
}

func (s *slots) wakeLocked() {
	if s.freed != nil {
		close(s.freed)
		s.freed = nil
	}
}

func addrString(a net.Addr) string {
	if a == nil {
		return ""
	}
	return a.String()
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
