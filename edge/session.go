package edge

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rtmp-edge/rtmp-edge/edge/amf0"
	"github.com/rtmp-edge/rtmp-edge/edge/chunk"
	"github.com/rtmp-edge/rtmp-edge/edge/handshake"
	"github.com/rtmp-edge/rtmp-edge/edge/replicate"
	"github.com/rtmp-edge/rtmp-edge/routing"
	"github.com/rtmp-edge/rtmp-edge/upstream"
)

// Session phases, as the API shows them.
const (
	phaseHandshake = "handshake"
	phaseConnect   = "connect"
	phaseRouting   = "routing"
	phaseRelay     = "relay"
)

// End reasons set from outside the session.
const (
	endShutdown   = "shutdown"
	endOperator   = "ended by operator"
	endServerDown = "server down"
	endTakenOver  = "taken over by a new publish"
	// endHandedOver is the relay's end when an upgrade detached it.
	endHandedOver = "handed over"
)

// session is one client from accept (or RTMPT /open) to the end of its relay.
// It is registered in the edge's session table while it lives and ended
// exactly once by finish, which settles the lease, the listener slot, the
// metrics, the registry entry and the log line.
type session struct {
	id string
	e  *Edge
	l  *listener // of the runtime the session started with
	// backend is the listener's, or the one a TLS client's SNI entry names.
	backend *backend
	proto   string
	// tls is set for rtmps and rtmpts sessions.
	tls *tlsInfo
	// handshakeBy, when set, is the deadline of the client handshake and
	// connect: a TLS client's budget started at accept, before its TLS
	// handshake, not when its RTMP handshake began.
	handshakeBy time.Time
	client      netip.AddrPort
	local       netip.AddrPort
	start       time.Time
	// conn is the client conn until the relay owns it (nil from then on,
	// under mu).
	conn net.Conn
	// release frees what the accepting side holds for this conn (its
	// listener slot); called once, by finish.
	release func()
	// ctx bounds the session's dials and queue wait; cancelled by cut and
	// finish, or once the relay started (both nil from then on, under mu).
	ctx    context.Context
	cancel context.CancelFunc
	// counters are the session's bytes, live: the replayed bytes after the
	// client's handshake plus everything the relay moved.
	counters upstream.Counters

	mu     sync.Mutex // guards what follows: the session advances while the API reads it
	phase  string
	digest bool // the client got the FP9 (digest) handshake
	// tracked: conn is a plain accepted conn its acceptor tracks (handleConn);
	// the relay's start hands it off (acceptor.handOff).
	tracked    bool
	connect    amf0.Connect
	kind       routing.Kind
	kindReason string
	routed     bool // kind is meaningful
	server     *routing.Server
	pickReason string
	attempts   int
	command    *amf0.StreamCommand
	stream     string // routing.StreamKey of the real command, when routed on it
	misrouted  bool
	relayMode  string // route: command: how the server's bytes reach the client (commandRelayMode)
	lease      *routing.Lease
	serverConn net.Conn // while dialing and replaying
	relay      *upstream.Relaying
	// repl replicates a publish to further servers (replicate.go), its
	// reports are how each replica ended (set by finish).
	repl        *replicate.Publish
	replReports []replicate.Report
	cutReason   string // set by cut: wins over what the relay reports
	finished    bool
	ended       chan struct{} // closed by finish

	// handingOver is set while an upgrade detaches the relay: its "handed
	// over" end is then reported on detached instead of finishing the session.
	handingOver atomic.Bool
	detached    chan struct{}

	// What the stall sweeper saw last (only its goroutine touches these):
	// the server→client byte count and since when it has not moved.
	stallBytes int64
	stallSince time.Time
}

func (l *listener) newSession(c net.Conn, proto string, client, local netip.AddrPort, release func()) *session {
	s := &session{
		e: l.e, l: l, backend: l.backend, proto: proto, client: client, local: local, start: time.Now(), conn: c,
		release: release, phase: phaseHandshake, ended: make(chan struct{}),
	}
	s.ctx, s.cancel = context.WithCancel(l.e.base)
	l.e.sessions.add(s)
	return s
}

// rejection is why a client was closed before (or instead of) relaying:
// label is the metric's reason, err the full story for the log.
type rejection struct {
	label string
	err   error
}

func (r *rejection) Error() string { return r.err.Error() }

func reject(label string, err error) *rejection { return &rejection{label: label, err: err} }

// rejectionFor names the failures of the client handshake and connect phase.
func rejectionFor(stage string, err error) *rejection {
	var label string
	switch {
	case errors.Is(err, os.ErrDeadlineExceeded):
		label = stage + "_timeout"
	case errors.Is(err, handshake.ErrRTMPE):
		label = "rtmpe"
	case errors.Is(err, handshake.ErrVersion):
		label = "bad_version"
	case errors.Is(err, chunk.ErrChunkSize):
		label = "bad_chunk_size"
	case errors.Is(err, chunk.ErrTooLarge), errors.Is(err, ErrConnectTooLong):
		label = "connect_too_large"
	case errors.Is(err, ErrNotConnect):
		label = "not_connect"
	case errors.Is(err, ErrBadCommand), errors.Is(err, chunk.ErrMalformed):
		label = "malformed"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		label = stage + "_eof"
	default:
		label = stage + "_error"
	}
	return reject(label, fmt.Errorf("%s: %w", stage, err))
}

// run takes the session through handshake, connect, routing, dial and
// replay, and starts its relay. From then on the relay owns both conns and
// reports its end to finish; any earlier failure finishes the session here.
func (s *session) run(r *bufio.Reader) {
	defer func() {
		if v := recover(); v != nil {
			s.e.metrics.panicked()
			s.e.log.Error("session panicked (bug)", "id", s.id, "client", s.client.String(), "listener", s.l.cfg.Name,
				"panic", fmt.Sprint(v), "stack", stack())
			s.closeConns()
			s.finish(nil, reject("internal_error", fmt.Errorf("panic: %v", v)))
		}
	}()
	if rej := s.setup(r); rej != nil {
		s.closeConns()
		s.finish(nil, rej)
	}
}

func (s *session) setup(r *bufio.Reader) *rejection {
	cfg := &s.l.cfg
	conn := s.conn
	handshakeBy := s.handshakeBy
	if handshakeBy.IsZero() {
		handshakeBy = time.Now().Add(cfg.HandshakeTimeout)
	}
	_ = conn.SetDeadline(handshakeBy)
	hs, err := handshake.Serve(r, conn)
	if err != nil {
		return rejectionFor("handshake", err)
	}
	s.mu.Lock()
	s.digest = hs.Digest
	s.phase = phaseConnect
	s.mu.Unlock()

	cs := newClientStream()
	var replay []byte
	if s.backend.cfg.routeOnCommand() { // session_command.go
		var started bool
		var rej *rejection
		if replay, started, rej = s.converseCommand(r, cs); rej != nil || started {
			return rej
		}
	} else if replay, err = readConnect(r, cs, cfg.MaxConnect); err != nil {
		return rejectionFor("connect", err)
	}
	_ = conn.SetDeadline(time.Time{})

	b := s.backend
	kind, kindReason := b.pool.Classifier().Classify(routing.ConnectInfo{
		App: cs.connect.App, TcURL: cs.connect.TcURL, FlashVer: cs.connect.FlashVer, Type: cs.connect.Type,
	})
	s.mu.Lock()
	s.connect = *cs.connect
	s.kind, s.kindReason, s.routed = kind, kindReason, true
	s.phase = phaseRouting
	s.mu.Unlock()

	server, rej := s.dialServer(replay)
	if rej != nil {
		return rej
	}
	if cs.command != nil {
		// The publish/play came in the same read as connect (a client that
		// does not wait for the connect's answer): known already.
		s.commandSeen(cs.command)
	}

	inspectUntil := time.Now().Add(cfg.InspectTime)
	var inspect func([]byte) bool
	if cs.watching() {
		inspect = func(p []byte) bool {
			_ = cs.feed(p)
			if cs.watching() && cs.fed <= int64(cfg.InspectBytes) && time.Now().Before(inspectUntil) {
				return false
			}
			if cs.command != nil {
				s.commandSeen(cs.command)
			}
			cs.stopWatching() // the scanner's buffers are not needed for the rest of the session
			return true
		}
	}
	s.mu.Lock()
	if s.cutReason != "" { // cut while dialing: do not start what would be closed at once
		s.mu.Unlock()
		_ = server.Close()
		return reject(cutLabel(s.cutReason), errors.New(s.cutReason))
	}
	s.startRelayLocked(conn, server, inspect)
	s.mu.Unlock()
	return nil
}

// relayConfig is the relay's configuration for this session: its backend's
// timeouts, its listener's send buffer, its live counters, the replication's
// tee. Call with s.mu held.
func (s *session) relayConfig() upstream.RelayConfig {
	b := s.backend
	return upstream.RelayConfig{
		IdleTimeout: b.cfg.idleTimeout(), WriteTimeout: b.cfg.writeTimeout(), SndBuf: s.l.cfg.sndBuf(), Counters: &s.counters,
		ClientTee: s.clientTeeLocked(),
	}
}

// startRelayLocked starts the session's relay; it reports the end to
// finish. Call with s.mu held.
func (s *session) startRelayLocked(client, server net.Conn, inspect func([]byte) bool) {
	s.serverConn = nil
	s.phase = phaseRelay
	// What only the set-up needed goes now, before the relay can end: an
	// idle session holds its bookkeeping and nothing more (the conns belong
	// to the relay, which lets them go once on the event loop).
	if s.tracked {
		s.tracked = false
		s.release = s.l.acc.handOff(s.conn, s.e.metrics, s.l.cfg.Name)
	}
	s.conn = nil
	if s.cancel != nil {
		s.cancel()
		s.ctx, s.cancel = nil, nil
	}
	s.relay = upstream.Start(client, server, s.relayConfig(), inspect, func(st upstream.RelayStats) { s.finish(&st, nil) })
}

// commandSeen records the client's real publish or play and logs the session
// start: from here an upload is visible in the log before it ends. Called by
// inspect, on the relay's event loop: the line is written there, in order
// before the session's end line (a log writer that blocks holds up the loop,
// as it would hold up any goroutine writing to it).
func (s *session) commandSeen(cmd *amf0.StreamCommand) {
	s.mu.Lock()
	s.command = cmd
	if cmd.Name == "publish" && !s.server.Upload() && s.backend.hasUploadServer() {
		s.misrouted = true
	}
	if !s.e.log.Enabled(context.Background(), slog.LevelInfo) {
		s.mu.Unlock()
		return
	}
	attrs := []any{
		"id", s.id, "client", s.client.String(), "listener", s.l.cfg.Name, "proto", s.proto,
		"app", s.connect.App, "tcurl", s.connect.TcURL, "stream", cmd.Stream, "kind", commandKind(cmd),
		"server", s.server.Name, "pick", s.pickReason,
	}
	attrs = append(attrs, s.tls.attrs()...)
	s.mu.Unlock()
	s.e.log.Info("session start", attrs...)
}

// commandKind is the real kind a stream command says.
func commandKind(cmd *amf0.StreamCommand) string {
	if cmd.Name == "publish" {
		return routing.Publish.String()
	}
	return routing.Play.String()
}

// readConnect reads client bytes after C2 until the connect command is
// complete. Every byte read is returned, verbatim, for the replay: the ones
// the reader had buffered beyond connect too.
func readConnect(r *bufio.Reader, cs *clientStream, limit int) ([]byte, error) {
	replay := make([]byte, 0, 1024)
	// The bytes are taken from the reader's own (pooled) buffer: a buffer of
	// this function's would escape through Read and cost every session 4 KiB
	// of garbage.
	for cs.connect == nil {
		if r.Buffered() == 0 {
			if _, err := r.Peek(1); err != nil && r.Buffered() == 0 {
				return nil, err
			}
		}
		in, _ := r.Peek(r.Buffered())
		replay = append(replay, in...)
		if len(replay) > limit {
			return nil, fmt.Errorf("%w (%d bytes, the limit is %d)", ErrConnectTooLong, len(replay), limit)
		}
		err := cs.feed(in)
		_, _ = r.Discard(len(in))
		if err != nil {
			return nil, err
		}
	}
	return replay, nil
}

// dialServer picks a server, dials it, does the edge's handshake with it and
// replays the client's bytes. A server that fails any of that is left out and
// another one tried, up to the backend's retries: the client has received
// nothing from a media server yet, so it never notices.
func (s *session) dialServer(replay []byte) (net.Conn, *rejection) {
	b := s.backend
	m := s.e.metrics
	s.mu.Lock()
	kind, stream := s.kind, s.stream
	s.mu.Unlock()
	var exclude []*routing.Server
	var lastErr error
	for attempt := 0; attempt <= b.cfg.retries(); attempt++ {
		lease, err := b.pool.Acquire(s.ctx, routing.Request{Client: s.client.Addr(), Kind: kind, Exclude: exclude, Stream: stream, Owner: s})
		if err != nil {
			if lastErr != nil {
				err = fmt.Errorf("%w (after: %w)", err, lastErr)
			}
			switch {
			case errors.Is(err, routing.ErrQueueTimeout):
				return nil, reject("queue_timeout", err)
			case lastErr != nil:
				return nil, reject("servers_failed", err)
			default:
				return nil, reject("no_server", err)
			}
		}
		if w := lease.Waited; w > 0 {
			m.queued(w.Seconds())
		}
		s.takeOver(lease.Takeover)
		s.mu.Lock()
		s.attempts++
		s.lease, s.server, s.pickReason = lease, lease.Server, lease.Reason
		s.mu.Unlock()
		// The replay leaves with the handshake's C2 (or goes to a connection
		// made ahead of need: backend preconnect).
		server, err := b.dialer.Open(s.ctx, lease.Server.Address(), s.client, s.local, replay)
		if err == nil {
			s.mu.Lock()
			s.serverConn = server
			s.mu.Unlock()
			lease.Confirm()
			s.counters.ClientToServer.Add(int64(len(replay)))
			return server, nil
		}
		lease.Release()
		s.mu.Lock()
		s.lease, s.server, s.serverConn = nil, nil, nil
		s.mu.Unlock()
		if s.ctx.Err() != nil { // cut: not the server's fault
			return nil, reject("canceled", err)
		}
		lastErr = fmt.Errorf("%s: %w", lease.Server.Name, err)
		m.dialFailed(b.cfg.Name, lease.Server.Name)
		s.e.log.Warn("media server failed, trying another", "backend", b.cfg.Name, "server", lease.Server.Name,
			"client", s.client.String(), "err", err.Error())
		exclude = append(exclude, lease.Server)
	}
	return nil, reject("servers_failed", fmt.Errorf("every try failed, last: %w", lastErr))
}

// takeOver ends the stream's previous publisher when routing says this
// publish takes it over (publisher_takeover: the same client IP publishing
// the same live stream again, an encoder that reconnected before its old TCP
// session timed out), and waits a little for it to end: the media server
// refuses a second publisher of a stream.
func (s *session) takeOver(t *routing.Publisher) {
	if t == nil {
		return
	}
	old, ok := t.Owner.(*session)
	if !ok || old == s {
		return
	}
	s.e.log.Info("publisher takeover: ending the stream's previous publisher", "id", old.id, "by", s.id,
		"client", s.client.String(), "server", t.Server.Name)
	old.cut(endTakenOver)
	select {
	case <-old.ended:
	case <-time.After(takeoverWait):
	}
}

// takeoverWait bounds how long a publisher that takes a stream over waits for
// the previous one to end.
const takeoverWait = 2 * time.Second

// cut ends the session from outside (shutdown, an operator): both sides are
// closed at once, whatever phase it is in; finish then logs reason as its end.
func (s *session) cut(reason string) {
	s.mu.Lock()
	if s.cutReason == "" {
		s.cutReason = reason
	}
	relay := s.relay
	s.mu.Unlock()
	s.stopSetup()
	if relay != nil {
		relay.Close(reason)
		return
	}
	s.closeConns()
}

// stopSetup cancels the set-up's dials and queue wait, if it still runs.
func (s *session) stopSetup() {
	s.mu.Lock()
	cancel := s.cancel
	s.mu.Unlock()
	if cancel != nil {
		cancel()
	}
}

// closeConns closes the client conn and the media-server conn, if any.
func (s *session) closeConns() {
	s.mu.Lock()
	c, sc := s.conn, s.serverConn
	s.mu.Unlock()
	if c != nil {
		_ = c.Close()
	}
	if sc != nil {
		_ = sc.Close()
	}
}

func cutLabel(reason string) string {
	switch reason {
	case endShutdown:
		return "shutdown"
	case endServerDown:
		return "server_down"
	case endTakenOver:
		return "taken_over"
	}
	return "operator"
}

// finish ends the session exactly once: st is the relay's report (nil when
// the session never relayed), rej why it was closed before relaying.
func (s *session) finish(st *upstream.RelayStats, rej *rejection) {
	if st != nil && st.End == endHandedOver && s.handingOver.Load() {
		s.detached <- struct{}{}
		return
	}
	s.mu.Lock()
	if s.finished {
		s.mu.Unlock()
		return
	}
	s.finished = true
	lease, cut, phase := s.lease, s.cutReason, s.phase
	s.mu.Unlock()
	defer close(s.ended)
	s.stopSetup()
	// Replicas first: the stream stays listed on them until they ended.
	if reports := s.stopReplication(); reports != nil {
		s.mu.Lock()
		s.replReports = reports
		s.mu.Unlock()
	}
	lease.Release()
	if cut != "" && rej != nil && rej.label != cutLabel(cut) {
		rej = reject(cutLabel(cut), fmt.Errorf("%s (%s was in progress: %w)", cut, phase, rej.err))
	}
	// The line first, then the registry: a shutdown waits for the registry to
	// empty and then exits, and must not exit before the last line is out.
	if rej != nil {
		s.logRejected(rej)
	} else {
		end := st.End
		if cut != "" {
			end = cut
		}
		s.logEnded(end)
	}
	s.e.sessions.remove(s)
	if s.release != nil {
		s.release()
	}
}

func (s *session) logRejected(rej *rejection) {
	s.e.metrics.reject(s.l.cfg.Name, rej.label)
	s.mu.Lock()
	attrs := []slog.Attr{
		slog.String("id", s.id), slog.String("client", s.client.String()), slog.String("listener", s.l.cfg.Name),
		slog.String("proto", s.proto), slog.String("reason", rej.Error()), slog.String("label", rej.label),
		slog.String("duration", time.Since(s.start).Round(time.Millisecond).String()),
	}
	attrs = append(attrs, s.tls.slogAttrs()...)
	if s.routed {
		attrs = append(attrs, slog.String("app", s.connect.App), slog.String("tcurl", s.connect.TcURL),
			slog.String("flashver", s.connect.FlashVer), slog.String("kind", s.kind.String()))
	}
	s.mu.Unlock()
	s.e.logRejection(s.l.cfg.Name, rej.label, attrs...)
}

func (s *session) logEnded(end string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.e.metrics.sessionEnded(s)
	attrs := []any{
		"id", s.id, "client", s.client.String(), "listener", s.l.cfg.Name, "proto", s.proto,
		"app", s.connect.App, "tcurl", s.connect.TcURL, "flashver", s.connect.FlashVer,
		"kind", s.kind.String(), "reason", s.kindReason, "digest", s.digest,
		"server", s.serverName(), "pick", s.pickReason, "attempts", s.attempts,
	}
	attrs = append(attrs, s.tls.attrs()...)
	if s.command != nil {
		attrs = append(attrs, "command", s.command.Name, "stream", s.command.Stream)
	}
	if s.relayMode != "" {
		attrs = append(attrs, "relay", s.relayMode)
	}
	attrs = append(attrs, "misrouted", s.misrouted,
		"bytes_in", s.counters.ClientToServer.Load(), "bytes_out", s.counters.ServerToClient.Load(),
		"duration", time.Since(s.start).Round(time.Millisecond).String(), "end", end)
	if s.repl != nil {
		attrs = append(attrs, replicasAttr(s.replReports))
	}
	level := slog.LevelInfo
	if s.misrouted {
		level = slog.LevelWarn
	}
	s.e.log.Log(context.Background(), level, "session end", attrs...)
}

// rejectConn logs and counts a connection closed before it became a session
// (not RTMP, refused TLS or RTMPE, a bad PROXY header).
func (l *listener) rejectConn(client netip.AddrPort, proto string, rej *rejection, extra ...slog.Attr) {
	l.e.metrics.reject(l.cfg.Name, rej.label)
	attrs := append([]slog.Attr{slog.String("client", client.String()), slog.String("listener", l.cfg.Name),
		slog.String("proto", proto), slog.String("reason", rej.Error()), slog.String("label", rej.label)}, extra...)
	l.e.logRejection(l.cfg.Name, rej.label, attrs...)
}

// logRejection writes a "session rejected" line, rate-limited per listener
// and reason: a flood of bad clients costs a summary line, not the log (the
// metric still counts every one). Session-end lines never go through here.
func (e *Edge) logRejection(listener, label string, attrs ...slog.Attr) {
	e.rejections.Log(context.Background(), slog.LevelWarn, listener+"/"+label, "session rejected", attrs...)
}

// serverName is the session's server, "" before one was picked. Call with s.mu held.
func (s *session) serverName() string {
	if s.server == nil {
		return ""
	}
	return s.server.Name
}

// kindLabel is the metrics label of the session's kind. Call with s.mu held.
func (s *session) kindLabel() string {
	if !s.routed {
		return "none"
	}
	return s.kind.String()
}

func stack() string { return string(debug.Stack()) }
