package mediaserver

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"runtime/debug"
	"sync"
	"time"

	"github.com/yutopp/go-rtmp"
	"github.com/yutopp/go-rtmp/message"
)

// Errors of a push (a re-publish of a local stream to another server).
var (
	ErrPushTimeout   = errors.New("push setup timed out")
	errStreamEnded   = errors.New("published stream ended")
	errPushCancelled = errors.New("push cancelled")
)

const (
	pushSetupTimeout = 10 * time.Second // dial + handshake + connect + createStream + publish
	pushRetryMin     = 500 * time.Millisecond
	pushRetryMax     = 5 * time.Second
	pushDrainTimeout = 5 * time.Second // after the publisher left, time to send what is queued
)

// startPushes re-publishes ls to every configured push address; the returned
// func stops the pushes once the publisher has left.
func (s *Server) startPushes(ls *liveStream, app, stream string) (stop func()) {
	if len(s.cfg.Push) == 0 {
		return func() {}
	}
	ctx, cancel := context.WithCancel(s.ctx)
	for _, addr := range s.cfg.Push {
		s.wg.Add(1)
		go s.pushLoop(ctx, ls, addr, app, stream)
	}
	return cancel
}

// pushLoop keeps one push of ls to addr alive while the stream is live.
func (s *Server) pushLoop(ctx context.Context, ls *liveStream, addr, app, stream string) {
	defer s.wg.Done()
	log := s.log.With("push", addr, "stream", ls.key)
	defer func() {
		if r := recover(); r != nil {
			log.Error("push panic", "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
		}
	}()
	delay := pushRetryMin
	for ctx.Err() == nil {
		ps, err := dialPush(ctx, addr, app, stream)
		if err == nil {
			log.Info("push started")
			err = s.runPush(ctx, ls, ps, log)
			if errors.Is(err, errStreamEnded) || errors.Is(err, errPushCancelled) || ctx.Err() != nil {
				log.Info("push ended", "reason", err)
				return
			}
			delay = pushRetryMin
		}
		log.Warn("push failed, retrying", "err", err, "in", delay)
		select {
		case <-ctx.Done():
			return
		case <-time.After(delay):
		}
		delay = min(delay*2, pushRetryMax)
	}
}

// runPush subscribes ps to ls until the push fails or the stream ends.
func (s *Server) runPush(ctx context.Context, ls *liveStream, ps *pushSink, log *slog.Logger) error {
	sub := newSubscriber(ls, ps, log)
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		sub.run()
	}()
	ls.subscribe(sub)
	select {
	case <-finished:
		return sub.failErr
	case <-ctx.Done():
	}
	// The publisher left (its kindEnd is queued behind the last media) or the
	// server is closing: let the queue drain for a while, then stop.
	select {
	case <-finished:
	case <-s.ctx.Done():
		sub.fail(errPushCancelled)
		<-finished
	case <-time.After(pushDrainTimeout):
		sub.fail(errPushCancelled)
		<-finished
	}
	return sub.failErr
}

// pushSink publishes a stream to another server through a go-rtmp client.
type pushSink struct {
	cc        *rtmp.ClientConn
	stream    *rtmp.Stream
	closeOnce sync.Once
}

// Chunk stream ids a publisher uses (the ones FFmpeg uses).
const (
	csidPushData  = 5
	csidPushAudio = 4
	csidPushVideo = 6
)

func (p *pushSink) write(m *mediaMsg) error {
	var err error
	switch m.kind {
	case kindAudio:
		err = p.stream.Write(csidPushAudio, m.ts, &message.AudioMessage{Payload: bytes.NewReader(m.payload)})
	case kindVideo:
		err = p.stream.Write(csidPushVideo, m.ts, &message.VideoMessage{Payload: bytes.NewReader(m.payload)})
	case kindMeta:
		err = p.stream.Write(csidPushData, m.ts, &message.DataMessage{Name: "@setDataFrame", Encoding: message.EncodingTypeAMF0, Body: bytes.NewReader(m.payload)})
	case kindEnd:
		return errStreamEnded
	}
	if err != nil {
		return fmt.Errorf("push write: %w", err)
	}
	return nil
}

func (p *pushSink) close() { p.closeOnce.Do(func() { _ = p.cc.Close() }) }

// dialPush connects to addr and publishes app/stream. go-rtmp's client has no
// timeouts (its Connect waits forever), so the set-up runs in its own
// goroutine; on timeout that goroutine is left to finish (or to wait for the
// peer to close) and closes what it got.
func dialPush(ctx context.Context, addr, app, stream string) (*pushSink, error) {
	type result struct {
		ps  *pushSink
		err error
	}
	done := make(chan result, 1)
	abandoned := make(chan struct{})
	go func() {
		var r result
		defer func() {
			if p := recover(); p != nil {
				r = result{err: fmt.Errorf("push setup panic: %v", p)}
			}
			select {
			case <-abandoned:
				if r.ps != nil {
					r.ps.close()
				}
			case done <- r:
			}
		}()
		r.ps, r.err = setupPush(addr, app, stream)
	}()
	timer := time.NewTimer(pushSetupTimeout)
	defer timer.Stop()
	select {
	case r := <-done:
		return r.ps, r.err
	case <-timer.C:
		close(abandoned)
		return nil, fmt.Errorf("push to %s: %w", addr, ErrPushTimeout)
	case <-ctx.Done():
		close(abandoned)
		return nil, fmt.Errorf("push to %s: %w", addr, errPushCancelled)
	}
}

func setupPush(addr, app, stream string) (*pushSink, error) {
	dialer := &net.Dialer{Timeout: pushSetupTimeout}
	cc, err := rtmp.DialWithDialer(dialer, "rtmp", addr, &rtmp.ConnConfig{})
	if err != nil {
		return nil, fmt.Errorf("push dial %s: %w", addr, err)
	}
	ok := false
	defer func() {
		if !ok {
			_ = cc.Close()
		}
	}()
	err = cc.Connect(&message.NetConnectionConnect{Command: message.NetConnectionConnectCommand{
		App:      app,
		Type:     "nonprivate",
		FlashVer: "FMLE/3.0 (compatible; rtmp-edge mediaserver push)",
		TCURL:    "rtmp://" + addr + "/" + app,
	}})
	if err != nil {
		return nil, fmt.Errorf("push connect %s/%s: %w", addr, app, err)
	}
	st, err := cc.CreateStream(nil, 0)
	if err != nil {
		return nil, fmt.Errorf("push createStream %s: %w", addr, err)
	}
	if err := st.Publish(&message.NetStreamPublish{PublishingName: stream, PublishingType: "live"}); err != nil {
		return nil, fmt.Errorf("push publish %s/%s/%s: %w", addr, app, stream, err)
	}
	ok = true
	return &pushSink{cc: cc, stream: st}, nil
}
