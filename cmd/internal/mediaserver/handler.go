package mediaserver

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"runtime/debug"
	"strings"
	"sync"

	"github.com/yutopp/go-rtmp"
	"github.com/yutopp/go-rtmp/message"
)

// Errors a client's command is refused with (go-rtmp answers with onStatus
// NetStream.Publish.Failed / Play.Failed and closes the connection).
var (
	ErrEmptyStreamName = errors.New("empty stream name")
	ErrNotConnected    = errors.New("command before connect")
	ErrAlreadyActive   = errors.New("connection already publishes or plays")
)

// maxMediaMessage caps what one audio, video or data message may hold.
const maxMediaMessage = 8 << 20

// connHandler is go-rtmp's Handler for one client connection. go-rtmp calls
// its methods from the connection's read goroutine (and recovers their
// panics), except OnClose, which recovers its own.
type connHandler struct {
	rtmp.DefaultHandler
	srv  *Server
	gc   *guardedConn
	conn *rtmp.Conn
	addr string
	log  *slog.Logger

	mu         sync.Mutex // guards what Clients reads
	app        string
	stream     string
	publishing bool

	// Owned by the read goroutine.
	published *liveStream
	stopPush  func()
	player    *subscriber
}

func (h *connHandler) client() Client {
	h.mu.Lock()
	defer h.mu.Unlock()
	return Client{Addr: h.addr, App: h.app, Stream: h.stream, Publishing: h.publishing}
}

func (h *connHandler) OnServe(conn *rtmp.Conn) { h.conn = conn }

func (h *connHandler) OnConnect(_ uint32, cmd *message.NetConnectionConnect) error {
	_ = h.gc.SetReadDeadline(noDeadline) // the handshake deadline ends with connect
	h.mu.Lock()
	h.app = cmd.Command.App
	h.mu.Unlock()
	h.log.Debug("connect", "app", cmd.Command.App, "tcurl", cmd.Command.TCURL, "flashver", cmd.Command.FlashVer)
	return nil
}

// streamName drops the query part ("demo?key=x" → "demo"), as nginx-rtmp does
// when it matches publishers and players.
func streamName(s string) string {
	if i := strings.IndexByte(s, '?'); i >= 0 {
		s = s[:i]
	}
	return s
}

func (h *connHandler) streamKey(name string) (key, stream string, err error) {
	h.mu.Lock()
	app := h.app
	h.mu.Unlock()
	stream = streamName(name)
	switch {
	case app == "":
		return "", "", ErrNotConnected
	case stream == "":
		return "", "", ErrEmptyStreamName
	case h.published != nil || h.player != nil:
		return "", "", ErrAlreadyActive
	}
	return app + "/" + stream, stream, nil
}

func (h *connHandler) OnPublish(_ *rtmp.StreamContext, _ uint32, cmd *message.NetStreamPublish) error {
	key, stream, err := h.streamKey(cmd.PublishingName)
	if err != nil {
		return fmt.Errorf("publish %q: %w", cmd.PublishingName, err)
	}
	ls, err := h.srv.hub.publish(key)
	if err != nil {
		return fmt.Errorf("publish %q: %w", key, err)
	}
	h.published = ls
	h.mu.Lock()
	h.stream, h.publishing = stream, true
	app := h.app
	h.mu.Unlock()
	h.gc.setReadIdle(h.srv.to.publishIdle)
	h.gc.unlimitReads()
	h.stopPush = h.srv.startPushes(ls, app, stream)
	h.log.Info("publish", "stream", key)
	return nil
}

func (h *connHandler) OnPlay(ctx *rtmp.StreamContext, _ uint32, cmd *message.NetStreamPlay) error {
	key, stream, err := h.streamKey(cmd.StreamName)
	if err != nil {
		return fmt.Errorf("play %q: %w", cmd.StreamName, err)
	}
	h.mu.Lock()
	h.stream = stream
	h.mu.Unlock()
	ps := &playerSink{conn: h.conn, timeout: h.srv.to.write, streamID: ctx.StreamID, playStarted: h.gc.armStatusWaiter()}
	h.player = h.srv.hub.play(key, func(ls *liveStream) *subscriber { return newSubscriber(ls, ps, h.log) })
	go h.player.run()
	h.log.Info("play", "stream", key)
	return nil
}

func (h *connHandler) OnSetDataFrame(ts uint32, data *message.NetStreamSetDataFrame) error {
	if h.published == nil || len(data.Payload) == 0 {
		return nil
	}
	p := make([]byte, len(data.Payload)) // go-rtmp reuses its buffer
	copy(p, data.Payload)
	h.published.publish(&mediaMsg{kind: kindMeta, ts: ts, payload: p})
	return nil
}

func (h *connHandler) OnAudio(ts uint32, payload io.Reader) error {
	return h.publishMedia(kindAudio, ts, payload)
}

func (h *connHandler) OnVideo(ts uint32, payload io.Reader) error {
	return h.publishMedia(kindVideo, ts, payload)
}

var errMediaTooLarge = errors.New("media message too large")

func (h *connHandler) publishMedia(kind mediaKind, ts uint32, payload io.Reader) error {
	if h.published == nil {
		return nil
	}
	p, err := io.ReadAll(io.LimitReader(payload, maxMediaMessage+1))
	if err != nil {
		return fmt.Errorf("read media payload: %w", err)
	}
	if len(p) > maxMediaMessage {
		return errMediaTooLarge
	}
	if len(p) == 0 {
		return nil // zero-length messages make go-rtmp receivers panic; never forward one
	}
	h.published.publish(&mediaMsg{kind: kind, ts: ts, payload: p})
	return nil
}

// OnClose runs once when the connection ends, from whichever goroutine closed it.
func (h *connHandler) OnClose() {
	defer func() {
		if r := recover(); r != nil {
			h.log.Error("close panic", "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
		}
	}()
	h.srv.forget(h)
	if h.published != nil {
		h.published.stopPublishing()
		h.stopPush()
		h.log.Info("unpublish", "stream", h.published.key)
	}
	if h.player != nil {
		h.player.fail(errConnClosed)
	}
}

var errConnClosed = errors.New("connection closed")
