package edge

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"time"

	edgecmd "github.com/rtmp-edge/rtmp-edge/edge/command"
	"github.com/rtmp-edge/rtmp-edge/routing"
	"github.com/rtmp-edge/rtmp-edge/upstream"
)

// Routing on the real publish/play (backend route: command). The session
// answers the client itself until it publishes or plays (edge/command's
// Responder, in the shape the backend's rtmp check learned), routes on the
// kind and the stream, dials, replays every recorded client byte, passes the
// server's replies through the ReplyFilter until client and server agree,
// and then relays as a connect-routed session does (the kernel splice).

// commandSyncTimeout bounds the wait for the media server's answer to the
// replayed publish/play (servers answer at once; a player of a stream not
// live yet still gets its Play.Start from nginx-rtmp and crtmpserver).
const commandSyncTimeout = 10 * time.Second

// commandTemplate is the answer shape for the backend's clients: the one its
// rtmp check learned last, else nginx-rtmp's (a backend with a tcp check, or
// before the first probe).
func (ps *poolState) commandTemplate() edgecmd.Template {
	if t := ps.template.Load(); t != nil {
		return *t
	}
	return edgecmd.DefaultTemplate()
}

// learnTemplate keeps a server's connect reply as the backend's template
// (a backend's servers are one family; the last answer wins) and logs when
// the family changes.
func (ps *poolState) learnTemplate(e *Edge, server string, res upstream.ConnectResult) {
	t, err := edgecmd.LearnTemplate(res.Reply)
	if err != nil {
		e.log.Debug("connect reply not usable as a template", "backend", ps.name, "server", server, "err", err.Error())
		return
	}
	if old := ps.template.Swap(&t); old == nil || old.Family != t.Family {
		fmsVer, _ := res.Properties.String("fmsVer")
		e.log.Info("connect template learned", "backend", ps.name, "server", server, "family", t.Family.String(), "fmsver", fmsVer)
	}
}

// converseCommand runs the conversation before routing. When the client is
// routed on its publish/play it also attaches the session to a server and
// starts the relay (started true). A connect routed at connect time (a
// challenge-response login) comes back with the recorded bytes and cs fed
// with them, for the connect-routed path to go on with.
func (s *session) converseCommand(r *bufio.Reader, cs *clientStream) (replay []byte, started bool, rej *rejection) {
	cfg := &s.l.cfg
	conn := s.conn
	deadline := time.Now().Add(cfg.InspectTime)
	resp := edgecmd.NewResponder(edgecmd.Config{
		Template: s.backend.ps.commandTemplate(),
		Limits:   edgecmd.Limits{MaxBytes: cfg.MaxConnect},
		Deadline: deadline,
	})
	_ = conn.SetDeadline(deadline)
	var routed *edgecmd.Routed
	buf := make([]byte, 4096)
	for routed == nil {
		n, err := r.Read(buf)
		if n > 0 {
			out, rt, ferr := resp.Feed(buf[:n], time.Now())
			if ferr != nil {
				return nil, false, commandRejection(ferr)
			}
			if len(out) > 0 {
				if _, werr := conn.Write(out); werr != nil {
					return nil, false, rejectionFor("command", werr)
				}
				// What the client received counts, whoever answered it.
				s.counters.ServerToClient.Add(int64(len(out)))
			}
			routed = rt
		}
		if routed == nil && err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				err = fmt.Errorf("%w: %w", edgecmd.ErrTimeout, err)
			}
			return nil, false, commandRejection(err)
		}
	}
	replay = bytes.Clone(resp.Recorded())
	if k := r.Buffered(); k > 0 { // read ahead by the bufio.Reader: the server's too
		rest, _ := r.Peek(k)
		replay = append(replay, rest...)
		_, _ = r.Discard(k)
	}
	_ = conn.SetDeadline(time.Time{})

	if routed.AtConnect {
		_ = cs.feed(replay) // finds the connect the Responder found; goes on watching for publish/play
		if cs.connect == nil {
			return nil, false, reject("malformed", errors.New("command: connect not found again"))
		}
		return replay, false, nil
	}

	kind := routing.Play
	if routed.Kind == edgecmd.KindPublish {
		kind = routing.Publish
	}
	cmd := routed.Command
	s.mu.Lock()
	s.connect = routed.Connect
	s.kind, s.kindReason, s.routed = kind, "command "+cmd.Name, true
	s.stream = routing.StreamKey(routed.Connect.App, routed.Stream)
	s.phase = phaseRouting
	s.mu.Unlock()

	server, rej := s.dialServer(replay)
	if rej != nil {
		return nil, false, rej
	}
	s.commandSeen(&cmd)
	relayServer, rej := s.syncReplies(server, resp.ReplyFilter())
	if rej != nil {
		_ = server.Close()
		return nil, false, rej
	}

	s.startReplication(replay) // replicate.go: a publish of a backend with replicate
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cutReason != "" { // cut while dialing or syncing
		_ = server.Close()
		return nil, false, reject(cutLabel(s.cutReason), errors.New(s.cutReason))
	}
	// As the connect-routed path starts it (setup), without the inspect
	// hook: the real command is known already.
	s.relayMode = commandRelayMode(conn, relayServer, s.repl != nil)
	s.e.metrics.commandRelayed(s.l.cfg.Name, s.relayMode)
	s.startRelayLocked(conn, relayServer, nil)
	return nil, true, nil
}

// commandRelayMode says how the relay will move the session's bytes:
// "filter" while the ReplyFilter stays in the server's path (user space),
// else between two TCP sockets "splice" (the relay's event loop and the
// kernel splice, as for a connect-routed session) or, for a replicated
// publish whose client bytes are also fed to its replicas, "tee" (the
// server's bytes spliced, the client's copied through user memory), or
// "copy" (an RTMPT tunnel or a TLS conn: unchanged bytes, copied in user
// space).
func commandRelayMode(client, server net.Conn, teed bool) string {
	if _, ok := server.(*filteredConn); ok {
		return "filter"
	}
	_, clientTCP := client.(*net.TCPConn)
	_, serverTCP := server.(*net.TCPConn)
	switch {
	case !clientTCP || !serverTCP:
		return "copy"
	case teed:
		return "tee"
	}
	return "splice"
}

// syncReplies passes the server's replies to the replayed bytes to the
// client through the filter, until the server has answered the publish or
// play. It returns the conn the relay reads the server through: the server
// conn itself when the filter is done (the relay splices from there), or,
// when the client's header state still differs from the server's on some
// chunk stream, the server conn seen through the filter (a user-space
// relay, correct whatever the server sends next). Meanwhile the client's
// bytes wait in the socket (a client that published or played waits for
// the answer anyway).
func (s *session) syncReplies(server net.Conn, f *edgecmd.ReplyFilter) (net.Conn, *rejection) {
	until := time.Now().Add(commandSyncTimeout)
	_ = server.SetReadDeadline(until)
	_ = s.conn.SetWriteDeadline(until)
	defer func() {
		_ = server.SetReadDeadline(time.Time{})
		_ = s.conn.SetWriteDeadline(time.Time{})
	}()
	buf := make([]byte, 16<<10)
	for !f.Done() && !f.Answered() {
		n, err := server.Read(buf)
		if n > 0 {
			out, ferr := f.Feed(buf[:n])
			if len(out) > 0 {
				if _, werr := s.conn.Write(out); werr != nil {
					return nil, reject("client_closed", fmt.Errorf("writing the media server's replies: %w", werr))
				}
				s.counters.ServerToClient.Add(int64(len(out)))
			}
			switch {
			case errors.Is(ferr, edgecmd.ErrRefused):
				return nil, reject("server_refused", ferr)
			case errors.Is(ferr, edgecmd.ErrStreamID):
				return nil, reject("server_stream_id", ferr)
			case ferr != nil:
				s.tellClient(f, "the media server's replies cannot be followed")
				return nil, reject("server_malformed", ferr)
			}
		}
		if !f.Done() && !f.Answered() && err != nil {
			label, why := "server_sync_error", "the media server closed the connection"
			if errors.Is(err, os.ErrDeadlineExceeded) {
				label, why = "server_sync_timeout", "the media server did not answer"
			}
			s.tellClient(f, why)
			return nil, reject(label, fmt.Errorf("waiting for the media server's answer to the replayed bytes: %w", err))
		}
	}
	if f.Done() {
		return server, nil
	}
	s.e.log.Debug("reply filter stays in the path", "id", s.id, "server", s.serverName())
	return &filteredConn{Conn: server, f: f, buf: make([]byte, 16<<10)}, nil
}

// tellClient writes the client the failure of its publish/play when the
// server went away before answering it (best effort: the session ends
// anyway). The edge answered its connect, so without this the client sees a
// connection close for no reason.
func (s *session) tellClient(f *edgecmd.ReplyFilter, why string) {
	if out := f.Abandon(why); len(out) > 0 {
		// Its own short deadline: the sync's may be the one that passed.
		_ = s.conn.SetWriteDeadline(time.Now().Add(2 * time.Second))
		if _, err := s.conn.Write(out); err == nil {
			s.counters.ServerToClient.Add(int64(len(out)))
		}
	}
}

// filteredConn is a media-server conn whose bytes reach the relay through
// the ReplyFilter; writes (the client's bytes) go to the server unchanged.
// It hides the socket (no syscall.Conn), so the relay copies in user space.
type filteredConn struct {
	net.Conn
	f    *edgecmd.ReplyFilter
	buf  []byte
	out  []byte // filtered bytes not returned yet
	err  error  // the error that came with them, returned after them
	keep []byte // backing array of out
}

func (c *filteredConn) Read(p []byte) (int, error) {
	for len(c.out) == 0 {
		if c.err != nil {
			err := c.err
			c.err = nil
			return 0, err
		}
		n, err := c.Conn.Read(c.buf)
		if n > 0 {
			out, ferr := c.f.Feed(c.buf[:n])
			c.keep = append(c.keep[:0], out...) // out aliases the filter's or c.buf's memory
			c.out = c.keep
			if ferr != nil {
				err = ferr
			}
		}
		if err != nil {
			if len(c.out) == 0 {
				return 0, err
			}
			c.err = err
		}
	}
	n := copy(p, c.out)
	c.out = c.out[n:]
	return n, nil
}

// commandRejection names the failures of the conversation before routing.
func commandRejection(err error) *rejection {
	var label string
	switch {
	case errors.Is(err, edgecmd.ErrTimeout):
		label = "command_timeout"
	case errors.Is(err, edgecmd.ErrTooLarge), errors.Is(err, edgecmd.ErrTooManyMessages):
		label = "command_too_long"
	case errors.Is(err, edgecmd.ErrNotConnect):
		label = "not_connect"
	case errors.Is(err, edgecmd.ErrBadCommand):
		label = "malformed"
	case errors.Is(err, edgecmd.ErrProtocol):
		label = "protocol"
	default:
		return rejectionFor("command", err)
	}
	return reject(label, fmt.Errorf("command: %w", err))
}
