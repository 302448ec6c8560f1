// Package mediaserver is a small real RTMP media server for the lab and for
// tests that must run without nginx: publish and play of live H.264/AAC, with
// metadata, sequence headers and the current GOP for late joiners, many players
// per stream, and push (re-publishing every stream to other servers, like
// nginx-rtmp's push). It is built on go-rtmp, guarded against its defects
// (go-rtmp v0.0.7; each guard names the defect it keeps out):
//
//   - its own accept loop back-off (go-rtmp's Serve spins on EMFILE);
//   - deadlines go-rtmp lacks: handshake and connect, idle publishers, stalled
//     receivers, push set-up;
//   - a 4 MiB read budget for clients that do not publish (go-rtmp would
//     buffer up to 16 MiB on each of 64 chunk streams);
//   - panics recovered in every goroutine of ours; go-rtmp recovers its own
//     message loop (a zero-length message panics there and ends only that
//     connection), and zero-length messages are never forwarded;
//   - no standalone ChunkStreamer (it panics after ~1 GB).
//
// Known limits, fine for a lab: go-rtmp neither reads nor writes extended
// timestamps on type-3 chunks, so a stream desynchronises after about 4.6
// hours; players and pushes get 128-byte chunks (go-rtmp's writer cannot
// change its chunk size safely while another goroutine writes).
package mediaserver

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"sort"
	"sync"
	"time"

	"github.com/yutopp/go-rtmp"
)

// Config configures a Server.
type Config struct {
	// Name identifies the server in logs (e.g. "media03").
	Name string
	// Push lists RTMP addresses (host:port) that every stream published here is
	// re-published to, under the same app and stream name. A push that fails
	// is retried while the stream is live.
	Push []string
	// Logger receives the server's logs; nil means slog.Default().
	Logger *slog.Logger
}

// Client is one connected client, as nginx-rtmp's /stat shows it.
type Client struct {
	Addr       string // remote address, host:port
	App        string // from connect; "" before connect
	Stream     string // from publish or play; "" before either
	Publishing bool
}

// Timeouts for clients. go-rtmp itself has none.
const (
	handshakeTimeout = 10 * time.Second // TCP accept → RTMP connect command
	publishIdle      = 30 * time.Second // a publisher that sends nothing this long is dropped
	writeTimeout     = 30 * time.Second // a receiver that takes nothing this long is dropped
)

// timeouts are the client timeouts one Server applies; New sets the
// constants above, tests shorten them.
type timeouts struct {
	handshake, publishIdle, write time.Duration
}

// Limits on what one client can make go-rtmp allocate.
const (
	maxChunkStreams   = 64
	maxMessageStreams = 8
)

// Server is an RTMP media server. Create it with New, run it with Serve.
type Server struct {
	cfg  Config
	log  *slog.Logger
	rtmp *rtmp.Server
	hub  *hub
	to   timeouts

	ctx    context.Context // cancelled by Close: stops pushes
	cancel context.CancelFunc
	wg     sync.WaitGroup // push loops

	mu       sync.Mutex
	conns    map[*connHandler]struct{}
	serveErr error // why Accept stopped, when it was not Close
}

// New returns a Server; it does nothing until Serve.
func New(cfg Config) *Server {
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	if cfg.Name != "" {
		log = log.With("server", cfg.Name)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{
		cfg:    cfg,
		log:    log,
		hub:    newHub(),
		to:     timeouts{handshake: handshakeTimeout, publishIdle: publishIdle, write: writeTimeout},
		ctx:    ctx,
		cancel: cancel,
		conns:  make(map[*connHandler]struct{}),
	}
	s.rtmp = rtmp.NewServer(&rtmp.ServerConfig{OnConnect: s.onAccept})
	return s
}

// Serve accepts connections on ln until Close (then it returns nil) or until
// ln fails for good. Temporary Accept errors are retried with back-off.
func (s *Server) Serve(ln net.Listener) error {
	wrapped := &backoffListener{Listener: ln, closing: s.ctx.Done(), onFatal: s.acceptFailed}
	// go-rtmp closes only a listener it has registered; Close may come first.
	served := make(chan struct{})
	defer close(served)
	go func() {
		select {
		case <-s.ctx.Done():
			_ = ln.Close()
		case <-served:
		}
	}()
	err := s.rtmp.Serve(wrapped)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.serveErr != nil {
		return s.serveErr
	}
	if errors.Is(err, rtmp.ErrClosed) {
		return nil
	}
	return err
}

// acceptFailed records why the listener stopped and makes go-rtmp's Serve return.
func (s *Server) acceptFailed(err error) {
	s.mu.Lock()
	s.serveErr = err
	s.mu.Unlock()
	_ = s.rtmp.Close()
}

// Close stops accepting, disconnects every client and stops every push.
func (s *Server) Close() error {
	s.cancel()
	err := s.rtmp.Close()
	s.mu.Lock()
	conns := make([]*connHandler, 0, len(s.conns))
	for h := range s.conns {
		conns = append(conns, h)
	}
	s.mu.Unlock()
	for _, h := range conns {
		_ = h.gc.Close()
	}
	s.wg.Wait()
	if errors.Is(err, net.ErrClosed) {
		err = nil
	}
	return err
}

// Clients lists the clients connected now, sorted by address.
func (s *Server) Clients() []Client {
	s.mu.Lock()
	out := make([]Client, 0, len(s.conns))
	for h := range s.conns {
		out = append(out, h.client())
	}
	s.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Addr < out[j].Addr })
	return out
}

// onAccept is go-rtmp's per-connection hook: it wraps the connection with
// deadlines and gives it a handler.
func (s *Server) onAccept(c net.Conn) (io.ReadWriteCloser, *rtmp.ConnConfig) {
	_ = c.SetReadDeadline(time.Now().Add(s.to.handshake))
	gc := &guardedConn{Conn: c, writeTimeout: s.to.write}
	gc.readBudget.Store(nonPublisherBudget)
	h := &connHandler{srv: s, gc: gc, addr: c.RemoteAddr().String()}
	h.log = s.log.With("client", h.addr)
	s.mu.Lock()
	s.conns[h] = struct{}{}
	s.mu.Unlock()
	select {
	case <-s.ctx.Done(): // raced with Close
		_ = c.Close()
	default:
	}
	return gc, &rtmp.ConnConfig{
		Handler: h,
		ControlState: rtmp.StreamControlStateConfig{
			DefaultBandwidthWindowSize: 6 * 1024 * 1024 / 8,
			MaxChunkStreams:            maxChunkStreams,
			MaxMessageStreams:          maxMessageStreams,
		},
		// Logger nil: go-rtmp discards its logrus output.
	}
}

func (s *Server) forget(h *connHandler) {
	s.mu.Lock()
	delete(s.conns, h)
	s.mu.Unlock()
}
