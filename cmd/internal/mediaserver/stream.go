package mediaserver

import (
	"errors"
	"sync"
)

// ErrAlreadyPublishing is returned when a second publisher asks for a live stream.
var ErrAlreadyPublishing = errors.New("stream is already being published")

// GOP cache bounds: a late joiner gets at most this much history. A longer
// GOP is dropped from the cache; players then wait for the next keyframe.
const (
	maxGOPMessages = 600
	maxGOPBytes    = 32 << 20
)

// hub maps "app/stream" to its live stream.
type hub struct {
	mu      sync.Mutex
	streams map[string]*liveStream
}

func newHub() *hub { return &hub{streams: make(map[string]*liveStream)} }

// publish marks the stream for key live (creating it) and returns it; only
// one publisher at a time. Lookup and marking happen under h.mu, so that
// forgetIfIdle cannot drop the stream in between.
func (h *hub) publish(key string) (*liveStream, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	ls := h.getLocked(key)
	if err := ls.startPublishing(); err != nil {
		return nil, err // ls is live, so it stays
	}
	return ls, nil
}

// play subscribes the subscriber newSub makes for key's stream (creating the
// stream, which then waits for its publisher), atomically like publish.
func (h *hub) play(key string, newSub func(*liveStream) *subscriber) *subscriber {
	h.mu.Lock()
	defer h.mu.Unlock()
	ls := h.getLocked(key)
	s := newSub(ls)
	ls.subscribe(s)
	return s
}

// getLocked returns the stream for key, creating it when missing; h.mu is held.
func (h *hub) getLocked(key string) *liveStream {
	ls := h.streams[key]
	if ls == nil {
		ls = &liveStream{key: key, hub: h, subs: make(map[*subscriber]struct{})}
		h.streams[key] = ls
	}
	return ls
}

// forgetIfIdle removes a stream with neither publisher nor subscribers.
func (h *hub) forgetIfIdle(ls *liveStream) {
	h.mu.Lock()
	defer h.mu.Unlock()
	ls.mu.Lock()
	idle := !ls.live && len(ls.subs) == 0
	ls.mu.Unlock()
	if idle && h.streams[ls.key] == ls {
		delete(h.streams, ls.key)
	}
}

// liveStream is one published stream: what late joiners need first (metadata,
// sequence headers, the GOP so far) and who receives it.
type liveStream struct {
	key string
	hub *hub

	mu       sync.Mutex
	live     bool
	meta     *mediaMsg
	videoSeq *mediaMsg
	audioSeq *mediaMsg
	gop      []*mediaMsg // starts with a keyframe; nil when none is cached
	gopBytes int
	subs     map[*subscriber]struct{}
}

// startPublishing marks the stream live; only one publisher at a time.
func (ls *liveStream) startPublishing() error {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	if ls.live {
		return ErrAlreadyPublishing
	}
	ls.live = true
	return nil
}

// stopPublishing clears the caches and tells every subscriber the stream ended.
// Players stay subscribed (like nginx-rtmp's idle streams): a new publisher
// resumes them.
func (ls *liveStream) stopPublishing() {
	ls.mu.Lock()
	ls.live = false
	ls.meta, ls.videoSeq, ls.audioSeq = nil, nil, nil
	ls.gop, ls.gopBytes = nil, 0
	end := &mediaMsg{kind: kindEnd}
	for s := range ls.subs {
		s.offer(end, false)
		s.waitKeyframe = true
	}
	ls.mu.Unlock()
	ls.hub.forgetIfIdle(ls)
}

// publish caches m as needed and hands it to every subscriber.
func (ls *liveStream) publish(m *mediaMsg) {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	ls.cache(m)
	gate := ls.videoSeq != nil
	for s := range ls.subs {
		s.offer(m, gate)
	}
}

func (ls *liveStream) cache(m *mediaMsg) {
	switch {
	case m.kind == kindMeta:
		ls.meta = m
		return
	case m.kind == kindVideo && isVideoSequenceHeader(m.payload):
		ls.videoSeq = m
		return
	case m.kind == kindAudio && isAudioSequenceHeader(m.payload):
		ls.audioSeq = m
		return
	case m.kind == kindVideo && isKeyframe(m.payload):
		ls.gop, ls.gopBytes = ls.gop[:0], 0
	case ls.gop == nil:
		return // nothing cached until the first keyframe
	}
	ls.gop = append(ls.gop, m)
	ls.gopBytes += len(m.payload)
	if len(ls.gop) > maxGOPMessages || ls.gopBytes > maxGOPBytes {
		ls.gop, ls.gopBytes = nil, 0
	}
}

// subscribe adds s; when the stream is live, s first gets the metadata, the
// sequence headers and the cached GOP, so it starts at a keyframe.
func (ls *liveStream) subscribe(s *subscriber) {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	ls.subs[s] = struct{}{}
	s.waitKeyframe = true
	if !ls.live {
		return
	}
	gate := ls.videoSeq != nil
	for _, m := range []*mediaMsg{ls.meta, ls.videoSeq, ls.audioSeq} {
		if m != nil {
			s.offer(m, gate)
		}
	}
	for _, m := range ls.gop {
		s.offer(m, gate)
	}
}

// unsubscribe removes s and forgets the stream when nothing is left.
func (ls *liveStream) unsubscribe(s *subscriber) {
	ls.mu.Lock()
	delete(ls.subs, s)
	ls.mu.Unlock()
	ls.hub.forgetIfIdle(ls)
}
