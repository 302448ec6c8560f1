package rtmpt

import (
	"net"
	"sync"
)

// A relay between a tunnel session and a media-server socket would need two
// goroutines (one blocked in Read of the tunnel, one in Read of the socket)
// and a buffer for each, per session, although the tunnel's bytes already
// arrive on goroutines of their own (the HTTP requests) and leave only when
// the client polls. AttachSink and AttachSource let the requests carry the
// relay instead: a /send writes its body to the socket itself, a poll reads
// what the socket has ready into its reply. An idle tunnel then holds no
// goroutine and no buffer beyond its HTTP connection.

// attachment is a Conn's relay hooks, guarded by mu (never held while a hook
// runs, so an end can be reported while a sink write blocks).
type attachment struct {
	mu      sync.Mutex
	closed  bool // Close was called: attaching ends at once
	sink    func([]byte) error
	sinkEnd func(error)
	src     func([]byte) (int, error)
	srcEnd  func(error)

	// feedMu orders the client's bytes: feeds and AttachSink's handing over
	// of the queued bytes hold it while they write to the sink or the queue.
	feedMu sync.Mutex
	// pullMu orders pulls from the source, so replies carry its bytes in
	// order even when two requests build replies at once (a /close beside a
	// poll).
	pullMu sync.Mutex
}

// AttachSink makes the client's bytes go to sink as they arrive, from the
// request that carries them, instead of waiting in the Conn for Read: sink
// gets each /send body in order, once, and must take all of it or fail. The
// bytes already queued go to sink first, during the call (from the caller's
// goroutine). A request whose body sink is writing waits for it: a media
// server that reads slowly slows the client's requests down, as a full
// input queue does without a sink, so sink must bound its own wait.
//
// end is called exactly once, when the client's stream ends: io.EOF after
// /close, ErrSessionIdle after the idle timeout, an error wrapping
// ErrSessionFailed, net.ErrClosed after Close, or sink's own error (the
// client's later bytes are then dropped). It may run on a request's
// goroutine, the reaper's, or the caller's (when the stream has ended
// already); it must not block. Read and WriteTo must not be used after
// AttachSink.
func (c *Conn) AttachSink(sink func(p []byte) error, end func(err error)) {
	a := &c.att
	a.feedMu.Lock()
	defer a.feedMu.Unlock()
	for {
		p, _ := c.in.take(0, maxReplyData)
		if p == nil {
			break
		}
		if err := sink(p); err != nil {
			end(err)
			return
		}
	}
	a.mu.Lock()
	// The session may have ended meanwhile (the reaper ends it without
	// feedMu); its end has then found no sink, so it is reported here.
	if err := c.in.ended(); err != nil || a.closed {
		a.mu.Unlock()
		if err == nil {
			err = net.ErrClosed
		}
		end(err)
		return
	}
	a.sink, a.sinkEnd = sink, end
	a.mu.Unlock()
}

// AttachSource makes every in-turn reply read the server's bytes from read,
// at poll time, instead of from what Write queued (the bytes Write queued
// before go first): read fills p with what the server has ready without
// waiting, and returns 0, nil when nothing is. The bytes then wait where
// they are (a socket's receive buffer) until the client polls, and the
// media server is slowed down by the kernel when the client polls too
// slowly: no buffer in the edge.
//
// end is called exactly once: with read's error (io.EOF at the server's
// end; the reply that met it carries the bytes read before) or net.ErrClosed
// after Close. It must not block. Write must not be used after AttachSource.
func (c *Conn) AttachSource(read func(p []byte) (int, error), end func(err error)) {
	a := &c.att
	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		end(net.ErrClosed)
		return
	}
	a.src, a.srcEnd = read, end
	a.mu.Unlock()
}

// feedSink writes b to the attached sink and reports whether there was one
// (false: the caller queues b as usual). Call with att.feedMu held.
func (c *Conn) feedSink(b []byte) (attached bool) {
	a := &c.att
	a.mu.Lock()
	sink := a.sink
	a.mu.Unlock()
	if sink == nil {
		return false
	}
	if err := sink(b); err != nil {
		c.endSink(err)
	}
	return true
}

// endSink reports the end of the client's stream to the sink's owner, once.
func (c *Conn) endSink(err error) {
	a := &c.att
	a.mu.Lock()
	end := a.sinkEnd
	a.sink, a.sinkEnd = nil, nil
	a.mu.Unlock()
	if end != nil {
		end(err)
	}
}

// endSource detaches the source and reports err to its owner, once.
func (c *Conn) endSource(err error) {
	a := &c.att
	a.mu.Lock()
	end := a.srcEnd
	a.src, a.srcEnd = nil, nil
	a.mu.Unlock()
	if end != nil {
		end(err)
	}
}

// closeAttachment ends both hooks with net.ErrClosed (Close).
func (c *Conn) closeAttachment() {
	c.att.mu.Lock()
	c.att.closed = true
	c.att.mu.Unlock()
	c.endSink(net.ErrClosed)
	c.endSource(net.ErrClosed)
}

// pullBufs lend pull a reply's worth of buffer for the duration of one read.
var pullBufs = sync.Pool{New: func() any { b := make([]byte, maxReplyData); return &b }}

// pull reads what the attached source has ready, up to max bytes, into a
// fresh slice with prefix bytes of room in front (the reply layout), or nil
// when there is no source or nothing is ready. The read goes through a
// pooled buffer and is copied into a slice of exactly its size: the reply
// is kept for a resend and charged by its capacity.
func (c *Conn) pull(prefix, max int) []byte {
	a := &c.att
	a.pullMu.Lock()
	defer a.pullMu.Unlock()
	a.mu.Lock()
	read := a.src
	a.mu.Unlock()
	if read == nil {
		return nil
	}
	bp := pullBufs.Get().(*[]byte)
	defer pullBufs.Put(bp)
	n, err := read((*bp)[:min(max, len(*bp))])
	var out []byte
	if n > 0 {
		out = make([]byte, prefix+n)
		copy(out[prefix:], (*bp)[:n])
	}
	if err != nil {
		c.endSource(err)
	}
	return out
}
