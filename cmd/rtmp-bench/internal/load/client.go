package load

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"runtime/debug"
	"time"

	"github.com/rtmp-edge/rtmp-edge/cmd/rtmp-bench/internal/flvsrc"
	"github.com/rtmp-edge/rtmp-edge/cmd/rtmp-bench/internal/rtmpraw"
	"github.com/rtmp-edge/rtmp-edge/rtmpt"
)

// client is one simulated publisher or player.
type client struct {
	cfg *Config
	st  *clientStats
	src netip.Addr // zero: the OS chooses
}

// run sets up sessions until ctx ends: one that lasts the whole run, or with
// Reconnect one after another. A failed session is retried after a pause.
func (c *client) run(ctx context.Context) {
	for ctx.Err() == nil {
		err := c.safeSession(ctx)
		if err != nil && !ended(ctx) {
			c.st.addError(err)
			select { // do not hammer a refusing server
			case <-ctx.Done():
			case <-time.After(c.retryPause()):
			}
		}
		if !c.cfg.Reconnect && err == nil {
			return
		}
	}
}

// ErrPanic is counted when a session panicked (a bug, most likely in parsing
// what the server sent); the run goes on.
var ErrPanic = errors.New("session panicked")

// safeSession runs a session and turns a panic into an error.
func (c *client) safeSession(ctx context.Context) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: %v\n%s", ErrPanic, r, debug.Stack())
		}
	}()
	return c.session(ctx)
}

// ended reports whether ctx is over. A context derived with an earlier or
// equal deadline (the dial's) may report its timeout a moment before ctx's
// own timer fires, so the deadline is checked too: failures caused by the end
// of the run are not errors.
func ended(ctx context.Context) bool {
	if ctx.Err() != nil {
		return true
	}
	d, ok := ctx.Deadline()
	return ok && !time.Now().Before(d)
}

func (c *client) dial(ctx context.Context) (net.Conn, error) {
	t := c.st.target
	dctx, cancel := context.WithTimeout(ctx, c.connectTimeout())
	defer cancel()
	var local *net.TCPAddr
	if c.src.IsValid() {
		local = net.TCPAddrFromAddrPort(netip.AddrPortFrom(c.src, 0))
	}
	var nc net.Conn
	var err error
	if t.Proto == "rtmpt" {
		nc, err = rtmpt.Dial(dctx, t.Addr, rtmpt.ClientOptions{LocalAddr: local, PollInterval: c.cfg.RTMPTPoll})
	} else {
		d := net.Dialer{}
		if local != nil {
			d.LocalAddr = local
		}
		nc, err = d.DialContext(dctx, "tcp", t.Addr)
		if err == nil && t.Proto == "rtmps" {
			// The handshake is part of the set-up being measured. The bench
			// talks to its own edge with a self-signed certificate, hence
			// no verification.
			tc := tls.Client(nc, &tls.Config{InsecureSkipVerify: true, ServerName: t.Host()})
			if err = tc.HandshakeContext(dctx); err != nil {
				nc.Close()
			}
			nc = tc
		}
	}
	if err != nil {
		return nil, fmt.Errorf("%w %s: %w", errDial, t.Addr, err)
	}
	return rtmpraw.CountingConn{Conn: nc, In: &c.st.bytesIn, Out: &c.st.bytesOut}, nil
}

// retryPause is the wait after a failed session: 100 ms unless configured
// (ten thousand players retrying every 100 ms are a connection storm of their own).
func (c *client) retryPause() time.Duration {
	if c.cfg.RetryPause > 0 {
		return c.cfg.RetryPause
	}
	return 100 * time.Millisecond
}

func (c *client) connectTimeout() time.Duration {
	if c.cfg.ConnectTimeout > 0 {
		return c.cfg.ConnectTimeout
	}
	return rtmpraw.DefaultTimeout
}

// session runs one connection: dial, handshake, connect, createStream,
// publish or play, then media until ctx ends (or Hold passes, with Reconnect).
func (c *client) session(ctx context.Context) error {
	start := time.Now()
	nc, err := c.dial(ctx)
	if err != nil {
		return err
	}
	rbuf := c.cfg.ReadBuffer
	if rbuf <= 0 {
		rbuf = rtmpraw.DefaultReadBuffer
	}
	rc := rtmpraw.NewConnSize(nc, rbuf)
	defer rc.Close()
	stop := context.AfterFunc(ctx, func() { _ = rc.Close() })
	defer stop()
	rc.Timeout = c.connectTimeout()
	publisher := c.st.role == rolePublish
	if publisher {
		rc.ChunkSize = c.cfg.ChunkSize
	}
	if err := rc.ClientHandshake(); err != nil {
		return fmt.Errorf("%w: %w", errHandshake, err)
	}
	params := rtmpraw.ConnectParams{App: c.st.target.App, TCURL: c.st.target.TCURL, FlashVer: "LNX 9,0,124,2"}
	if publisher {
		params.FlashVer, params.Type = "FMLE/3.0 (compatible; rtmp-bench)", "nonprivate"
	}
	if err := rc.Connect(params); err != nil {
		return err
	}
	c.st.addConnect(time.Since(start))
	sid, err := rc.CreateStream()
	if err != nil {
		return err
	}
	if publisher {
		err = rc.Publish(sid, c.st.stream)
	} else {
		err = rc.Play(sid, c.st.stream)
	}
	if err != nil {
		return err
	}
	c.st.sessions.Add(1)
	c.st.connected.Store(true)
	defer c.st.connected.Store(false)

	sctx := ctx
	if c.cfg.Reconnect {
		var cancel context.CancelFunc
		sctx, cancel = context.WithTimeout(ctx, c.cfg.Hold)
		defer cancel()
		stopS := context.AfterFunc(sctx, func() { _ = rc.Close() })
		defer stopS()
	}
	if publisher {
		err = c.publish(sctx, rc, sid)
	} else {
		err = c.play(sctx, rc, start)
	}
	if ended(sctx) {
		return nil // the end of the run (or of the hold) closed the connection
	}
	return err
}

// play reads until the connection ends, recording the first media packet
// and when media last arrived (a player that got its first packets and then
// starved is not "receiving media" at the end of the run).
func (c *client) play(ctx context.Context, rc *rtmpraw.Conn, start time.Time) error {
	recorded := false
	var seen uint64
	var pauseTimer *time.Timer
	if c.cfg.ReadPause > 0 {
		pauseTimer = time.NewTimer(c.cfg.ReadPause)
		defer pauseTimer.Stop()
	}
	for {
		if rc.MediaMessages != seen {
			seen = rc.MediaMessages
			c.st.lastMedia.Store(time.Now().UnixNano())
			if !recorded {
				recorded = true
				c.st.addFirstPacket(rc.FirstMediaAt.Sub(start))
			}
		}
		if pauseTimer != nil && rc.R.Buffered() == 0 {
			// Ten thousand players each woken for every small message would
			// cost the client more CPU than the proxy it measures; a player
			// that reads what arrived every few tens of milliseconds gets the
			// same bytes with a fraction of the wake-ups. The proxy still
			// writes each message as it comes (the socket buffer has room).
			pauseTimer.Reset(c.cfg.ReadPause)
			select {
			case <-ctx.Done():
				return nil
			case <-pauseTimer.C:
			}
		}
		if _, err := rc.ReadMessage(); err != nil {
			return fmt.Errorf("play read: %w", err)
		}
	}
}

// publish sends the stream until ctx ends. A reader goroutine drains what the
// server sends (acknowledgements, pings) so that its buffers never fill.
func (c *client) publish(ctx context.Context, rc *rtmpraw.Conn, sid uint32) error {
	readErr := make(chan error, 1)
	go func() {
		defer func() {
			if r := recover(); r != nil {
				readErr <- fmt.Errorf("%w: publisher reader: %v", ErrPanic, r)
				_ = rc.Close()
			}
		}()
		for {
			if _, err := rc.ReadMessage(); err != nil {
				readErr <- err
				return
			}
		}
	}()
	if c.cfg.Idle {
		select {
		case <-ctx.Done():
			return nil
		case err := <-readErr:
			return fmt.Errorf("publisher read: %w", err)
		}
	}
	var src flvsrc.Source
	if c.cfg.FLV != nil {
		src = c.cfg.FLV.Loop()
	} else {
		src = flvsrc.NewSynthetic(flvsrc.SyntheticParams{Bitrate: c.cfg.Bitrate, FPS: c.cfg.FPS, GOP: c.cfg.GOP})
	}
	err := flvsrc.Send(ctx.Done(), src, rc.Write, flvsrc.SendOptions{StreamID: sid, ChunkSize: c.cfg.ChunkSize, Bitrate: c.cfg.Bitrate})
	if err == nil {
		return nil
	}
	select {
	case rerr := <-readErr: // the reader usually knows why
		return fmt.Errorf("publisher write: %w (read: %w)", err, rerr)
	default:
		return fmt.Errorf("publisher write: %w", err)
	}
}
