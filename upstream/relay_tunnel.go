package upstream

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"time"
)

// tunnelConn is what a relay needs of a client conn to carry it on that
// conn's own requests instead of two goroutines: rtmpt.Conn. Its client
// bytes arrive in HTTP requests, which can write them to the media server
// themselves (AttachSink), and its server bytes leave only in replies to
// the client's polls, which can read them from the media server's socket
// when they are built (AttachSource). A parked tunnel relay holds no
// goroutine and no buffer; an idle tunnel costs its HTTP connection and
// its state.
type tunnelConn interface {
	AttachSink(sink func(p []byte) error, end func(err error))
	AttachSource(read func(p []byte) (int, error), end func(err error))
}

// errParked: the direction goes on without its copier (on the tunnel's
// requests); its end is reported through parkedEnd.
var errParked = errors.New("parked on the tunnel's requests")

// parking counts a relay's parked directions. The last part of the relay to
// end (run, once both copiers returned, or a parked direction) closes both
// conns and reports.
type parking struct {
	mu      sync.Mutex
	parked  int  // parked directions not yet ended
	runDone bool // run's copiers have returned
}

// runParked is called by run once both copiers returned: true when parked
// directions go on, and the last of them reports the end (run must then
// neither close nor report).
func (r *relay) runParked() bool {
	p := &r.parking
	p.mu.Lock()
	defer p.mu.Unlock()
	p.runDone = true
	return p.parked > 0
}

// parkedEnd ends a parked direction with err (mapped like a copier's). It
// runs on a goroutine of its own: the tunnel reports ends from inside its
// Close, which closeBoth calls, and finish may call closeBoth again.
func (r *relay) parkedEnd(d *direction, err error) {
	go func() {
		defer r.recoverCopier(d)
		r.finish(d, err)
		p := &r.parking
		p.mu.Lock()
		p.parked--
		last := p.parked == 0 && p.runDone
		p.mu.Unlock()
		if last {
			r.closeBoth()
			if r.done != nil {
				r.done(r.stats())
			}
		}
	}()
}

// parkSink parks the client→server direction of a tunnel: each /send body
// is written to the server by its request, then shown to inspect (if not
// nil) as copyInspected would: until it returns true or inspectLimit bytes
// have passed. It returns errParked.
func (r *relay) parkSink(d *direction, tc tunnelConn, inspect func([]byte) bool) error {
	s := &tunnelSink{r: r, d: d, inspect: inspect}
	if inspect == nil {
		r.inspectDone.Store(true)
	}
	r.parking.mu.Lock()
	r.parking.parked++
	r.parking.mu.Unlock()
	tc.AttachSink(s.write, func(err error) { r.parkedEnd(d, s.endError(err)) })
	return errParked
}

// tunnelSink writes the client's bytes to the server for parkSink.
type tunnelSink struct {
	r       *relay
	d       *direction
	inspect func([]byte) bool // until it is done; then nil (writes are serialized by the tunnel)
	seen    int               // bytes shown to inspect
	mu      sync.Mutex
	failed  error // the write's failure as the relay names it
}

// write writes all of p, within WriteTimeout (or, without one, within the
// idle timeout: the request that carries p waits for it, and must not wait
// for ever on a media server that stopped reading).
func (s *tunnelSink) write(p []byte) error {
	r, d := s.r, s.d
	bound := r.writeTimeout
	if bound <= 0 {
		bound = r.idle
	}
	if bound > 0 {
		_ = d.dst.SetWriteDeadline(time.Now().Add(bound))
	}
	n, err := d.dst.Write(p)
	if n > 0 {
		r.moved(d, int64(n))
		if d.tee != nil {
			d.tee(p[:n])
		}
	}
	if err != nil {
		var named error = &sideError{side: d.to, err: err}
		if errors.Is(err, os.ErrDeadlineExceeded) {
			named = &stallError{side: d.to}
		}
		s.fail(named)
		return err
	}
	if s.inspect != nil {
		if err := s.show(p); err != nil {
			s.fail(err)
			return err
		}
	}
	return nil
}

// show gives inspect the bytes just written, never more than inspectLimit
// in all; a panic in it ends the relay as a copier's would.
func (s *tunnelSink) show(p []byte) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("internal error: panic in %s→%s copy: %v", s.d.from, s.d.to, v)
		}
	}()
	p = p[:min(len(p), inspectLimit-s.seen)]
	s.seen += len(p)
	if s.inspect(p) || s.seen >= inspectLimit {
		s.inspect = nil
		s.r.inspectDone.Store(true)
	}
	return nil
}

func (s *tunnelSink) fail(named error) {
	s.mu.Lock()
	s.failed = named
	s.mu.Unlock()
}

// endError names the end of the client's stream as copyPlain would.
func (s *tunnelSink) endError(err error) error {
	s.mu.Lock()
	failed := s.failed
	s.mu.Unlock()
	switch {
	case failed != nil:
		return failed
	case isPeerIdle(err):
		return &peerIdleError{side: s.d.from}
	case err == nil || errors.Is(err, io.EOF):
		return io.EOF
	default:
		return &sideError{side: s.d.from, err: err}
	}
}

// parkSource parks the server→client direction of a tunnel: each poll's
// reply reads what the server's socket has ready (readReady). It returns
// errParked, or nil when src cannot be read that way (the copier goes on).
func (r *relay) parkSource(d *direction, tc tunnelConn) error {
	read, ok := readyReader(d.src)
	if !ok {
		return nil
	}
	// The deadlines of the copy are not wanted: nothing waits in a read now.
	_ = d.src.SetReadDeadline(time.Time{})
	r.parking.mu.Lock()
	r.parking.parked++
	r.parking.mu.Unlock()
	tc.AttachSource(func(p []byte) (int, error) {
		n, err := read(p)
		if n > 0 {
			r.moved(d, int64(n))
			return n, nil
		}
		if err != nil {
			return 0, err
		}
		// Nothing from the server: the relay's idle timeout, checked on the
		// client's polls (a client that stops polling ends by the tunnel's
		// own idle timeout, "client idle").
		if r.idle > 0 && time.Since(time.Unix(0, r.lastActivity.Load())) >= r.idle {
			return 0, errIdle
		}
		return 0, nil
	}, func(err error) {
		switch {
		case errors.Is(err, errIdle), errors.Is(err, io.EOF):
		case errors.Is(err, net.ErrClosed):
			err = &sideError{side: d.to, err: err} // the relay (or the tunnel) closed; the reason is set already
		default:
			err = &sideError{side: d.from, err: err}
		}
		r.parkedEnd(d, err)
	})
	return errParked
}
