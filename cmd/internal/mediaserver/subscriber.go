package mediaserver

import (
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
)

// ErrSlowConsumer ends a subscriber whose queue is full: it cannot keep up
// with the publisher and the server will not buffer without bound.
var ErrSlowConsumer = errors.New("subscriber queue full")

// subscriberQueue is how many messages a subscriber may lag behind: about 14 s
// of 25 fps video with AAC audio, and more than a full cached GOP.
const subscriberQueue = 1024

// sink writes messages to one receiver (a player connection or a push).
type sink interface {
	write(m *mediaMsg) error
	close()
}

// subscriber is one receiver of a liveStream: a bounded queue filled by the
// publisher's goroutine and drained by the subscriber's own writer goroutine,
// so a slow receiver never stalls the publisher or the other receivers.
type subscriber struct {
	stream *liveStream
	sink   sink
	log    *slog.Logger
	queue  chan *mediaMsg

	// waitKeyframe drops video (and audio, when the stream has video) until a
	// keyframe, so playback starts decodable. Guarded by stream.mu.
	waitKeyframe bool

	failOnce sync.Once
	failed   chan struct{}
	failErr  error
}

func newSubscriber(ls *liveStream, sk sink, log *slog.Logger) *subscriber {
	return &subscriber{
		stream: ls,
		sink:   sk,
		log:    log,
		queue:  make(chan *mediaMsg, subscriberQueue),
		failed: make(chan struct{}),
	}
}

// offer queues m without blocking; called with stream.mu held. gateAudio says
// the stream has video, so audio also waits for the first keyframe.
func (s *subscriber) offer(m *mediaMsg, gateAudio bool) {
	if s.waitKeyframe {
		switch {
		case m.kind == kindVideo && isVideoSequenceHeader(m.payload):
		case m.kind == kindAudio && isAudioSequenceHeader(m.payload):
		case m.kind == kindVideo && isKeyframe(m.payload):
			s.waitKeyframe = false
		case m.kind == kindVideo, m.kind == kindAudio && gateAudio:
			return
		}
	}
	select {
	case s.queue <- m:
	default:
		s.fail(ErrSlowConsumer)
	}
}

// fail stops the subscriber; the writer goroutine cleans up.
func (s *subscriber) fail(err error) {
	s.failOnce.Do(func() {
		s.failErr = err
		close(s.failed)
	})
}

// run writes queued messages until the sink fails or fail is called, then
// unsubscribes and closes the sink. It recovers panics from the RTMP library
// so that one receiver cannot take the process down.
func (s *subscriber) run() {
	defer func() {
		if r := recover(); r != nil {
			s.log.Error("subscriber panic", "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
			s.fail(fmt.Errorf("subscriber panic: %v", r))
		}
		s.stream.unsubscribe(s)
		s.sink.close()
	}()
	for {
		select {
		case <-s.failed:
			s.log.Debug("subscriber ended", "stream", s.stream.key, "reason", s.failErr)
			return
		case m := <-s.queue:
			if err := s.sink.write(m); err != nil {
				s.fail(err)
			}
		}
	}
}
