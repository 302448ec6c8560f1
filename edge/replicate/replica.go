package replicate

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// What a replica session sends as a client.
const (
	// flashVer is a publisher's, for the connect built when the
	// publisher's own is unknown: media servers treat FMLE-like clients as
	// encoders (nginx-rtmp and crtmpserver accept any value).
	flashVer = "FMLE/3.0 (compatible; rtmp-edge)"
	// outChunkSize is the replica's own chunk size: fewer headers than 128
	// for video, small enough that audio is not held behind a keyframe long.
	outChunkSize = 4096
	// Chunk streams of the replica session: control, commands, data,
	// audio, video (one per kind, so compressed headers stay compressed).
	csidControl = 2
	csidCommand = 3
	csidData    = 5
	csidAudio   = 6
	csidVideo   = 7
	// joinTimeout bounds connect → createStream → publish → Publish.Start.
	joinTimeout = 10 * time.Second
	// maxBatch bounds the bytes taken from the queue for one write.
	maxBatch = 256 << 10
	// readBuffer is the read size for what the server sends (commands and
	// control only; the scanner bounds what it keeps).
	readBuffer = 4 << 10
	// sendBuffer is the socket send buffer of a replica connection: enough
	// for 40 Mbit/s at 50 ms round trip.
	sendBuffer = 256 << 10
)

// replica is one replica server of a Publish: a run goroutine that joins,
// writes, is dropped and rejoins until it ends.
type replica struct {
	p      *Publish
	server string
	log    *slog.Logger
	ctx    context.Context // the replica's whole life
	cancel context.CancelFunc
	wake   chan struct{} // queue or goodbye: the session's writer has work

	bytes atomic.Int64

	mu         sync.Mutex
	state      string
	ready      bool // the server accepted the publish: the pump may queue
	started    bool // the joiner's metadata, configurations and keyframe are queued
	q          []entry
	head       int
	qBytes     int
	gen        int                // session generation: a drop makes the writer's snapshot stale
	sessCancel context.CancelFunc // ends the current session
	drop       string             // why the pump dropped the current session
	endWhy     string             // why the replica ended (Remove, publisher's end); "" while it runs
	goodbye    bool               // end politely: write the queue, unpublish, close
	ended      bool
	done       bool // the run goroutine returned
	drops      int
	rejoins    int
	sessions   int    // sessions begun (first join and rejoins)
	last       string // why the last session ended
}

func newReplica(p *Publish, server string) *replica {
	ctx, cancel := context.WithCancel(context.Background())
	return &replica{
		p:      p,
		server: server,
		log:    p.log.With("replica", server),
		ctx:    ctx,
		cancel: cancel,
		wake:   make(chan struct{}, 1),
		state:  StateJoining,
	}
}

func (r *replica) isEnded() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.ended
}

func (r *replica) signal() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// offer queues a message for the replica (the pump's goroutine). A replica
// that just went live starts at a message that can start a stream (start):
// first the latest metadata and the configurations, stamped with that
// message's time, so that its timestamps never go back.
func (r *replica) offer(e entry, start bool, s *stream) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.ready {
		return
	}
	if !r.started {
		if !start {
			return
		}
		r.started = true
		if m := s.metadata; m != nil && !r.push(entry{typ: m.typ, ts: e.ts, payload: m.payload, at: e.at}) {
			return
		}
		for _, c := range s.configs {
			if !r.push(entry{typ: c.e.typ, ts: e.ts, payload: c.e.payload, at: e.at}) {
				return
			}
		}
	}
	r.push(e)
}

// push appends e to the queue within the bounds, or drops the session
// (r.mu held). It reports whether e was queued.
func (r *replica) push(e entry) bool {
	cfg := r.p.cfg
	if e.cost() > cfg.Buffer {
		r.dropLocked(fmt.Sprintf("message of %d bytes over buffer", len(e.payload)))
		return false
	}
	if r.qBytes+e.cost() > cfg.Buffer {
		r.dropLocked("buffer full")
		return false
	}
	if r.head < len(r.q) {
		if lag := time.Duration(e.at - r.q[r.head].at); lag > cfg.MaxLag {
			r.dropLocked(lagReason(lag))
			return false
		}
	}
	r.q = append(r.q, e)
	r.qBytes += e.cost()
	r.signal()
	return true
}

func lagReason(d time.Duration) string { return fmt.Sprintf("lag %.1fs", d.Seconds()) }

// checkLag drops the session when its oldest unsent message is older than
// MaxLag (the pump's tick).
func (r *replica) checkLag(now int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.ready || r.head >= len(r.q) {
		return
	}
	if lag := time.Duration(now - r.q[r.head].at); lag > r.p.cfg.MaxLag {
		r.dropLocked(lagReason(lag))
	}
}

// dropLocked ends the current session (r.mu held): its queue is freed at
// once, and the session's context is cancelled, which closes its conn and
// so unblocks a writer stuck on a stopped server.
func (r *replica) dropLocked(reason string) {
	if r.drop == "" {
		r.drop = reason
	}
	r.ready, r.started = false, false
	r.clearQueue()
	r.gen++
	r.cancelSession()
}

func (r *replica) clearQueue() {
	r.q, r.head, r.qBytes = nil, 0, 0
}

// sessCancel is set per session by run (under r.mu).
func (r *replica) cancelSession() {
	if r.sessCancel != nil {
		r.sessCancel()
	}
}

// end ends the replica for good. A live session writes what is queued and
// unpublishes within closeWait; any other state stops at once.
func (r *replica) end(reason string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ended {
		return
	}
	r.ended = true
	r.endWhy = reason
	if r.state == StateLive && r.ready {
		r.ready = false // nothing more is queued
		r.goodbye = true
		r.signal()
		t := time.AfterFunc(closeWait, r.cancel)
		context.AfterFunc(r.ctx, func() { t.Stop() })
		return
	}
	r.cancel()
}

func (r *replica) setState(s string) {
	r.mu.Lock()
	r.state = s
	r.mu.Unlock()
}

func (r *replica) info(now int64) ReplicaInfo {
	r.mu.Lock()
	defer r.mu.Unlock()
	ri := ReplicaInfo{
		Server:  r.server,
		State:   r.state,
		Bytes:   r.bytes.Load(),
		Drops:   r.drops,
		Rejoins: r.rejoins,
		Queued:  r.qBytes,
		End:     r.last,
	}
	if r.head < len(r.q) {
		ri.LagMillis = time.Duration(now - r.q[r.head].at).Milliseconds()
	}
	return ri
}

// run joins, and rejoins after each drop with a doubling back-off, until
// the replica ends.
func (r *replica) run() {
	defer r.p.wg.Done()
	defer r.cancel()
	counters := r.p.counters
	backoff := r.p.cfg.Backoff
	for attempt := 0; ; attempt++ {
		if attempt > 0 {
			r.setState(StateBackoff)
			t := time.NewTimer(backoff)
			select {
			case <-t.C:
			case <-r.ctx.Done():
				t.Stop()
			}
			if r.ctx.Err() != nil {
				break
			}
			backoff = min(backoff*2, MaxBackoff)
			r.mu.Lock()
			r.rejoins++
			r.mu.Unlock()
			counters.add(r.server, func(c *ServerCounts) { c.Rejoins++ })
		}
		if r.ctx.Err() != nil {
			break
		}
		r.setState(StateJoining)
		r.mu.Lock()
		r.sessions++
		r.mu.Unlock()
		counters.add(r.server, func(c *ServerCounts) { c.Sessions++ })
		reason, liveFor := r.session()
		r.mu.Lock()
		ended := r.ended
		if ended && r.drop == "" {
			reason = r.endWhy
		}
		r.last = reason
		if !ended {
			r.drops++
		}
		r.mu.Unlock()
		if ended {
			r.log.Info("replica ended", "reason", reason)
			break
		}
		counters.add(r.server, func(c *ServerCounts) { c.Drops++ })
		if liveFor >= MaxBackoff {
			backoff = r.p.cfg.Backoff // it worked for a while: start the back-off over
		}
		r.log.Warn("replica dropped", "reason", reason, "rejoin_in", backoff.String()) // "1s", not nanoseconds in JSON
	}
	r.mu.Lock()
	if r.ended && (r.last == "" || r.sessions == 0) {
		r.last = r.endWhy // it ended before a session began
	}
	r.state = StateEnded
	r.ready, r.started = false, false
	r.clearQueue()
	r.done = true
	r.mu.Unlock()
}
