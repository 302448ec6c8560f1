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
	"time"

	"github.com/rtmp-edge/rtmp-edge/edge/amf0"
	"github.com/rtmp-edge/rtmp-edge/edge/chunk"
	"github.com/rtmp-edge/rtmp-edge/edge/handshake"
	"github.com/rtmp-edge/rtmp-edge/routing"
	"github.com/rtmp-edge/rtmp-edge/upstream"
)

// session is one client from accept (or RTMPT /open) to the end of its relay.
// Its fields feed the one log line written when it ends.
type session struct {
	listener string
	proto    string // "rtmp" or "rtmpt"
	client   netip.AddrPort
	local    netip.AddrPort
	start    time.Time

	digest     bool // the client got the FP9 (digest) handshake
	connect    amf0.Connect
	kind       routing.Kind
	kindReason string
	routed     bool // kind and server are meaningful
	server     *routing.Server
	pickReason string
	attempts   int
	command    *amf0.StreamCommand
	misrouted  bool
	stats      upstream.RelayStats
}

func (s *session) kindLabel() string {
	if !s.routed {
		return "none"
	}
	return s.kind.String()
}

func (s *session) serverName() string {
	if s.server == nil {
		return ""
	}
	return s.server.Name
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

// serveRTMP runs the RTMP pipeline on a client byte stream: handshake,
// connect, route, dial, replay, relay. conn is the client (a TCP conn or an
// RTMPT tunnel session); r reads it, possibly with bytes already buffered.
// It owns conn and closes it.
func (l *listener) serveRTMP(conn net.Conn, r *bufio.Reader, s *session) {
	defer conn.Close()
	if rej := l.runSession(conn, r, s); rej != nil {
		l.rejected(s, rej)
		return
	}
	l.ended(s)
}

func (l *listener) runSession(conn net.Conn, r *bufio.Reader, s *session) *rejection {
	cfg := &l.cfg
	_ = conn.SetDeadline(time.Now().Add(cfg.HandshakeTimeout))
	hs, err := handshake.Serve(r, conn)
	if err != nil {
		return rejectionFor("handshake", err)
	}
	s.digest = hs.Digest

	cs := newClientStream()
	replay, err := readConnect(r, cs, cfg.MaxConnect)
	if err != nil {
		return rejectionFor("connect", err)
	}
	_ = conn.SetDeadline(time.Time{})
	s.connect = *cs.connect

	b := l.backend
	s.kind, s.kindReason = b.pool.Classifier().Classify(routing.ConnectInfo{
		App: s.connect.App, TcURL: s.connect.TcURL, FlashVer: s.connect.FlashVer, Type: s.connect.Type,
	})
	s.routed = true

	server, lease, rej := l.dialServer(s, replay)
	if rej != nil {
		return rej
	}
	defer lease.Release()
	s.server = lease.Server
	s.pickReason = lease.Reason

	inspectUntil := time.Now().Add(cfg.InspectTime)
	var inspect func([]byte) bool
	if cs.watching() {
		inspect = func(p []byte) bool {
			_ = cs.feed(p)
			if cs.watching() && cs.fed <= int64(cfg.InspectBytes) && time.Now().Before(inspectUntil) {
				return false
			}
			cs.stopWatching() // the scanner's buffers are not needed for the rest of the session
			return true
		}
	}
	s.stats = upstream.Relay(conn, server, upstream.RelayConfig{IdleTimeout: b.cfg.idleTimeout()}, inspect)
	s.command = cs.command
	if s.command != nil && s.command.Name == "publish" && !s.server.Upload() && b.hasUploadServer {
		s.misrouted = true
	}
	return nil
}

// readConnect reads client bytes after C2 until the connect command is
// complete. Every byte read is returned, verbatim, for the replay: the ones
// the reader had buffered beyond connect too.
func readConnect(r *bufio.Reader, cs *clientStream, limit int) ([]byte, error) {
	replay := make([]byte, 0, 1024)
	var buf [4096]byte
	for cs.connect == nil {
		n, err := r.Read(buf[:])
		if n > 0 {
			replay = append(replay, buf[:n]...)
			if len(replay) > limit {
				return nil, fmt.Errorf("%w (%d bytes, the limit is %d)", ErrConnectTooLong, len(replay), limit)
			}
			if ferr := cs.feed(buf[:n]); ferr != nil {
				return nil, ferr
			}
		}
		if cs.connect != nil {
			break
		}
		if err != nil {
			return nil, err
		}
	}
	if k := r.Buffered(); k > 0 {
		rest, _ := r.Peek(k)
		replay = append(replay, rest...)
		_ = cs.feed(rest)
		_, _ = r.Discard(k)
	}
	return replay, nil
}

// dialServer picks a server, dials it, does the edge's handshake with it and
// replays the client's bytes. A server that fails any of that is left out and
// another one tried, up to the backend's retries: the client has received
// nothing from a media server yet, so it never notices.
func (l *listener) dialServer(s *session, replay []byte) (net.Conn, *routing.Lease, *rejection) {
	b := l.backend
	ctx, cancel := context.WithCancel(l.ctx)
	defer cancel()
	var exclude []*routing.Server
	var lastErr error
	for attempt := 0; attempt <= b.cfg.retries(); attempt++ {
		lease, err := b.pool.Acquire(ctx, routing.Request{Client: s.client.Addr(), Kind: s.kind, Exclude: exclude})
		if err != nil {
			if lastErr != nil {
				err = fmt.Errorf("%w (after: %w)", err, lastErr)
			}
			switch {
			case errors.Is(err, routing.ErrQueueTimeout):
				return nil, nil, reject("queue_timeout", err)
			case lastErr != nil:
				return nil, nil, reject("servers_failed", err)
			default:
				return nil, nil, reject("no_server", err)
			}
		}
		if w := lease.Waited; w > 0 {
			l.e.metrics.queued(w.Seconds())
		}
		s.attempts++
		server, err := b.dialer.Dial(ctx, lease.Server.Address(), s.client, s.local)
		if err == nil {
			_, err = server.Write(replay)
			if err != nil {
				server.Close()
				err = fmt.Errorf("replaying the client's bytes: %w", err)
			}
		}
		if err == nil {
			lease.Confirm()
			return server, lease, nil
		}
		lease.Release()
		lastErr = fmt.Errorf("%s: %w", lease.Server.Name, err)
		l.e.metrics.dialFailed(b.cfg.Name, lease.Server.Name)
		l.e.log.Warn("media server failed, trying another", "backend", b.cfg.Name, "server", lease.Server.Name,
			"client", s.client.String(), "err", err.Error())
		exclude = append(exclude, lease.Server)
	}
	return nil, nil, reject("servers_failed", fmt.Errorf("every try failed, last: %w", lastErr))
}

func (l *listener) rejected(s *session, rej *rejection) {
	l.e.metrics.reject(l.cfg.Name, rej.label)
	attrs := []any{
		"client", s.client.String(), "listener", s.listener, "proto", s.proto,
		"reason", rej.Error(), "label", rej.label, "duration", time.Since(s.start).Round(time.Millisecond).String(),
	}
	if s.routed {
		attrs = append(attrs, "app", s.connect.App, "tcurl", s.connect.TcURL, "flashver", s.connect.FlashVer, "kind", s.kind.String())
	}
	l.e.log.Warn("session rejected", attrs...)
}

func (l *listener) ended(s *session) {
	l.e.metrics.sessionEnded(s)
	attrs := []any{
		"client", s.client.String(), "listener", s.listener, "proto", s.proto,
		"app", s.connect.App, "tcurl", s.connect.TcURL, "flashver", s.connect.FlashVer,
		"kind", s.kind.String(), "reason", s.kindReason, "digest", s.digest,
		"server", s.serverName(), "pick", s.pickReason, "attempts", s.attempts,
	}
	if s.command != nil {
		attrs = append(attrs, "command", s.command.Name, "stream", s.command.Stream)
	}
	attrs = append(attrs, "misrouted", s.misrouted,
		"bytes_in", s.stats.ClientToServer, "bytes_out", s.stats.ServerToClient,
		"duration", time.Since(s.start).Round(time.Millisecond).String(), "end", s.stats.End)
	level := slog.LevelInfo
	if s.misrouted {
		level = slog.LevelWarn
	}
	l.e.log.Log(context.Background(), level, "session end", attrs...)
}
