package upstream

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// DefaultIdleTimeout ends a relay with no bytes in either direction for this long.
const DefaultIdleTimeout = 60 * time.Second

// DefaultClientCloseLinger is RelayConfig.ClientCloseLinger's default: long
// enough for a media server to answer a client's last command, short enough
// that a gone client is not kept.
const DefaultClientCloseLinger = 2 * time.Second

// DefaultServerCloseLinger is RelayConfig.ServerCloseLinger's default: a media
// server that sent its FIN has ended the stream (killed, restarted, stopped);
// its player is told at once and the session ends shortly after.
const DefaultServerCloseLinger = 2 * time.Second

const (
	// relayChunk is the most one copy turn moves before the read deadline is refreshed and
	// the counters are updated. Big enough that splice runs long, uninterrupted stretches.
	relayChunk = 256 << 10
	// inspectLimit is how many client bytes inspect may see at most.
	inspectLimit = 64 << 10
	// inspectBuffer is the read size while inspecting (the user-space phase).
	inspectBuffer = 32 << 10
	// copyBuffer is the buffer of a direction whose source is not a socket (an RTMPT tunnel).
	copyBuffer = 32 << 10
)

// smallRead is the most one wake-up of a socket direction reads in user space
// (readSome); when more is queued, the rest is spliced.
const smallRead = 16 << 10

// smallBufs lends readSome its buffers only while bytes are in hand.
var smallBufs = sync.Pool{New: func() any { b := make([]byte, smallRead); return &b }}

// RelayConfig configures Relay.
type RelayConfig struct {
	// IdleTimeout: no bytes in either direction for this long ends the relay.
	// 0 means 60s; negative disables the timeout.
	IdleTimeout time.Duration
	// ClientCloseLinger is how long the server may keep its side open after
	// the client's EOF before the relay ends (reason "client closed"). RTMP has
	// no half-close: a client that sent its FIN is gone, and a media server
	// that keeps streaming to it would hold the session until the idle or
	// write timeout. 0 means 2 s; negative waits as long as the server goes
	// on (plain TCP half-close).
	ClientCloseLinger time.Duration
	// ServerCloseLinger is the same the other way: how long the client may keep
	// its side open after the server's EOF (a killed media server) before the
	// relay ends (reason "server closed"). A player that waits for more media
	// would otherwise hold the session, its slot and its registry entry until
	// the idle or stall timeout. 0 means 2 s; negative waits for the client.
	ServerCloseLinger time.Duration
	// Goroutines keeps a TCP↔TCP relay on goroutines (two per session, the path
	// every other conn takes) instead of the event loop: a fallback, and the
	// comparison in the benchmarks.
	Goroutines bool
	// Counters, if non-nil, are added to as bytes move (each turn, not at the
	// end), so a session's traffic can be read while it runs.
	Counters *Counters
	// WriteTimeout, if > 0, ends the relay when one direction has bytes to write
	// and its destination has not accepted a single byte for this long: a viewer
	// that stopped reading, or a media server that hangs while the client still
	// sends. The end reason is "client stalled" or "server stalled". Without it
	// such a session lives until the idle timeout, and only if the other
	// direction is quiet too.
	WriteTimeout time.Duration
	// SndBuf, if > 0, sets the send buffer of the client socket (SO_SNDBUF; Linux
	// doubles the value for its bookkeeping and stops autotuning that socket),
	// which bounds the kernel memory a viewer that stops reading can pin: about
	// 2×SndBuf of socket buffer plus one relay buffer of at most 16 KiB (or one
	// splice pipe) in the edge, instead of the autotuned maximum
	// (net.ipv4.tcp_wmem, 4 MiB by default). Too small a value limits the
	// throughput to clients far away (at most SndBuf per round trip). 0 keeps the
	// kernel's default; a client that is not a TCP socket (an RTMPT tunnel) is
	// left alone.
	SndBuf int
	// ClientTee, if non-nil, is shown every client→server byte the relay
	// writes to the server after inspect (all of them without inspect), in
	// order, on the relay's own loop, right after the write: it must not
	// block, and p is valid only during the call. A teed direction is copied
	// through user memory instead of spliced (see relay_tee.go).
	ClientTee func(p []byte)
}

// Counters are the live byte counts of one relay, safe to read at any time.
type Counters struct {
	ClientToServer, ServerToClient atomic.Int64
}

// RelayStats reports what a relay moved and why it ended.
type RelayStats struct {
	ClientToServer, ServerToClient int64
	// End is the first reason the relay began to end: "client closed", "server closed",
	// "client idle" (a tunnel client that vanished without closing), "idle timeout", "client stalled", "server stalled" (WriteTimeout), "client error: …",
	// "server error: …", the reason given to Close, or "internal error: …" after a
	// recovered panic (in inspect, for example).
	End string
}

// closeWriter is the half-close of *net.TCPConn, *net.UnixConn, *tls.Conn and of any
// tunnel conn that offers it; conns without it are closed whole instead.
type closeWriter interface{ CloseWrite() error }

var (
	_ closeWriter = (*net.TCPConn)(nil)
	_ closeWriter = (*net.UnixConn)(nil)
)

// errIdle ends a direction whose read deadline passed with both directions quiet.
var errIdle = errors.New("idle timeout")

// Relay copies client→server and server→client until both directions are done, then closes
// both conns (it owns them from the call on).
//
// inspect, if non-nil, is called with each chunk of client→server bytes after the chunk was
// written to the server, until it returns true or 64 KiB have passed; the slice is only valid
// during the call. Those bytes are read into user memory (never spliced).
//
// Between two *net.TCPConn on Linux (unless cfg.Goroutines) the session runs on the
// process's event loop from the start (relay_event_linux.go): two descriptors in an epoll
// set, no goroutine, a buffer or splice pipe only while bytes wait for their destination,
// idle and write timeouts checked by a periodic sweep. inspect is then called on the event
// loop's goroutine: it must be quick and must not block (it holds up the loop's other
// sessions). Should the event loop refuse the session, both directions run on goroutines,
// and move to the event loop once inspect is done, both copiers stopped between two writes.
//
// Otherwise (an RTMPT tunnel or TLS conn, or cfg.Goroutines) each direction is a plain
// copy on its goroutine; between two *net.TCPConn a wake-up reads what is queued into a
// pooled buffer and splices only bursts (dst.ReadFrom of at most 256 KiB), with src's read
// deadline refreshed each turn (at most IdleTimeout/2 ahead) and a shared last-activity
// time updated after each turn that moved bytes.
//
// Either way a direction that is quiet while the other flows (a player's upstream) does
// not end the relay: only no bytes in either direction for IdleTimeout does (noticed within
// 1.5×IdleTimeout on goroutines, within a quarter more on the event loop).
//
// When one side closes its write half (EOF), the other side's write half is closed
// (CloseWrite) and the other direction keeps flowing for at most ClientCloseLinger or
// ServerCloseLinger; a conn without CloseWrite is closed whole. Any error or the idle
// timeout closes both conns at once.
//
// A peer that stops reading holds its direction until WriteTimeout (if set) ends the
// relay; a timed-out splice write may lose the bytes already taken from the source, which
// does not matter because the relay ends with it.
func Relay(client, server net.Conn, cfg RelayConfig, inspect func([]byte) bool) RelayStats {
	r := newRelay(client, server, cfg)
	ended := make(chan RelayStats, 1)
	r.done = func(st RelayStats) { ended <- st }
	if st, handed := r.run(inspect); !handed {
		return st
	}
	return <-ended
}

// Relaying is a relay started by Start: it runs on its own and reports its end
// to the done func given to Start.
type Relaying struct{ r *relay }

// Start is Relay that returns at once. done, if non-nil, is called exactly once,
// from a goroutine of the relay, after both conns are closed, with what Relay
// would have returned. The relay owns both conns from the call on.
//
// Between two *net.TCPConn on Linux (unless cfg.Goroutines), the relay runs on
// the process's event loop, inspect included (see Relay): no goroutine and no
// buffer is held for a quiet direction (see relay_event_linux.go).
func Start(client, server net.Conn, cfg RelayConfig, inspect func([]byte) bool, done func(RelayStats)) *Relaying {
	r := newRelay(client, server, cfg)
	r.done = done
	h := &Relaying{r: r}
	if r.toEvent(inspect) {
		return h
	}
	go func() {
		if st, handed := r.run(inspect); !handed && done != nil {
			done(st)
		}
	}()
	return h
}

// Close ends the relay from outside (shutdown, an operator): both conns are
// closed at once and reason becomes RelayStats.End, unless the relay had
// already begun to end for another reason. It does not wait for done.
func (h *Relaying) Close(reason string) {
	r := h.r
	r.mu.Lock()
	r.setEnd(reason)
	r.closing = true
	ev := r.ev
	r.mu.Unlock()
	if ev != nil {
		ev.close()
		return
	}
	r.closeBoth()
}

func newRelay(client, server net.Conn, cfg RelayConfig) *relay {
	if cfg.SndBuf > 0 {
		if tc, ok := client.(*net.TCPConn); ok {
			// Best effort: a refused size leaves the kernel default, which only
			// costs memory, not correctness.
			_ = tc.SetWriteBuffer(cfg.SndBuf)
		}
	}
	r := newRelayState(cfg)
	r.client, r.server = client, server
	_, clientTCP := client.(*net.TCPConn)
	_, serverTCP := server.(*net.TCPConn)
	r.stoppable = clientTCP && serverTCP
	return r
}

// newRelayState is a relay's state without its conns.
func newRelayState(cfg RelayConfig) *relay {
	idle := cfg.IdleTimeout
	if idle == 0 {
		idle = DefaultIdleTimeout
	}
	counters := cfg.Counters
	if counters == nil {
		counters = new(Counters)
	}
	linger := cfg.ClientCloseLinger
	if linger == 0 {
		linger = DefaultClientCloseLinger
	}
	serverLinger := cfg.ServerCloseLinger
	if serverLinger == 0 {
		serverLinger = DefaultServerCloseLinger
	}
	r := &relay{idle: idle, writeTimeout: cfg.WriteTimeout, counters: counters, goroutines: cfg.Goroutines, clientLinger: linger, serverLinger: serverLinger, tee: cfg.ClientTee}
	r.startUp, r.startDown = counters.ClientToServer.Load(), counters.ServerToClient.Load()
	r.touch()
	return r
}

// run carries the relay on goroutines (the caller's and one more) until it ends, and
// returns what it moved; or, between two TCP sockets, until inspect is done, then hands
// the session to the event loop and returns handed (the event loop then calls r.done).
func (r *relay) run(inspect func([]byte) bool) (st RelayStats, handed bool) {
	if r.toEvent(inspect) {
		return RelayStats{}, true
	}
	// Deadlines left over from the handshake and connect phases would end the relay early.
	_ = r.client.SetDeadline(time.Time{})
	_ = r.server.SetDeadline(time.Time{})

	up := &direction{from: "client", to: "server", src: r.client, dst: r.server, bytes: &r.counters.ClientToServer, tee: r.tee}
	down := &direction{from: "server", to: "client", src: r.server, dst: r.client, bytes: &r.counters.ServerToClient}
	// A handover to the event loop or a Detach needs both copiers stopped between two
	// writes: the inspecting one stops by itself when inspect is done, and wakes the other
	// through its read deadline (requestStop).
	r.handoverWanted = inspect != nil && r.eventCapable()
	if inspect == nil {
		r.inspectDone.Store(true)
	}
	var wg sync.WaitGroup
	wg.Add(2)
	go r.copyClientToServer(&wg, up, inspect)
	// The calling goroutine carries the other direction: one goroutine stack
	// less per session.
	r.copyServerToClient(&wg, down)
	wg.Wait()
	if r.runParked() { // a tunnel's requests carry the relay on (relay_tunnel.go)
		return RelayStats{}, true
	}

	if r.stopping.Load() {
		if r.serveDetach() {
			return r.stats(), false
		}
		if r.end.Load() == nil && r.toEvent(nil) {
			return RelayStats{}, true
		}
		// Not handed over (the relay began to end meanwhile, or the event loop
		// refused it): the directions that stopped for the handover go on here.
		r.dlMu.Lock()
		r.stopping.Store(false)
		r.dlMu.Unlock()
		for _, d := range []*direction{up, down} {
			if !d.finished {
				wg.Add(1)
				go func() {
					defer wg.Done()
					defer r.recoverCopier(d)
					r.finish(d, r.copyPlain(d))
				}()
			}
		}
		wg.Wait()
	}
	r.closeBoth()
	return r.stats(), false
}

// stats is what the relay moved since it started and why it ended.
func (r *relay) stats() RelayStats {
	end, _ := r.end.Load().(string)
	if r.handedOver.Load() {
		end = endHandedOver
	}
	return RelayStats{
		ClientToServer: r.counters.ClientToServer.Load() - r.startUp,
		ServerToClient: r.counters.ServerToClient.Load() - r.startDown,
		End:            end,
	}
}

// errHandover stops a copier so that the session can move to the event loop.
var errHandover = errors.New("handed over")

// requestStop stops both copiers at their next read (for a handover, the
// client→server one, which calls this, has already stopped).
func (r *relay) requestStop() {
	r.dlMu.Lock()
	defer r.dlMu.Unlock()
	r.stopping.Store(true)
	// A read deadline in the past wakes a waiting read at once and leaves a
	// write in progress alone: no byte is taken from a source and dropped.
	_ = r.client.SetReadDeadline(time.Unix(1, 0))
	_ = r.server.SetReadDeadline(time.Unix(1, 0))
}

// relay is the state the two copiers share.
type relay struct {
	client, server     net.Conn
	counters           *Counters
	startUp, startDown int64         // the Counters when the relay started
	idle               time.Duration // > 0 enables the idle timeout
	writeTimeout       time.Duration // > 0 bounds each write (RelayConfig.WriteTimeout)
	goroutines         bool          // RelayConfig.Goroutines
	lastActivity       atomic.Int64  // unix nanoseconds of the last byte moved in either direction
	end                atomic.Value  // string: the first end reason wins
	closeOnce          sync.Once
	done               func(RelayStats) // called by the event loop when a handed-over relay ends
	handoverWanted     bool             // set before the copiers start: inspect, then the event loop
	stoppable          bool             // set at creation: both conns are TCP, requestStop works
	inspectDone        atomic.Bool      // inspect is over (or there is none): Detach may stop the copiers
	stopping           atomic.Bool      // the copiers stop for a handover or a Detach (under dlMu)
	handedOver         atomic.Bool      // Detach took the sockets: End is "handed over"
	detachReq          *detachRequest   // a Detach waiting for the copiers to stop (under mu)
	clientLinger       time.Duration    // RelayConfig.ClientCloseLinger, resolved
	serverLinger       time.Duration    // RelayConfig.ServerCloseLinger, resolved
	closed             atomic.Bool      // closeBoth ran
	dlMu               sync.Mutex       // orders stopping against read-deadline refreshes
	mu                 sync.Mutex       // guards closing and ev
	closing            bool             // Close was called
	ev                 *evSession       // the event loop's session, once handed over
	parking            parking          // directions carried by a tunnel's requests (relay_tunnel.go)
	tee                func([]byte)     // RelayConfig.ClientTee
}

// direction is one way of the relay.
type direction struct {
	from, to string // "client" / "server", for End reasons
	src, dst net.Conn
	bytes    *atomic.Int64 // the relay's Counters, for this direction
	finished bool          // finish was called (the copier will not resume)
	tee      func([]byte)  // RelayConfig.ClientTee, client→server only
}

// copyClientToServer and copyServerToClient are separate functions so that goroutine dumps
// say which way a stuck copy runs.
func (r *relay) copyClientToServer(wg *sync.WaitGroup, d *direction, inspect func([]byte) bool) {
	defer wg.Done()
	defer r.recoverCopier(d)
	if tc, ok := d.src.(tunnelConn); ok && !r.goroutines {
		// A tunnel's requests carry this direction, inspect included: no
		// goroutine and no 32 KiB inspect buffer while the client sets up.
		r.parkSink(d, tc, inspect)
		return
	}
	if inspect != nil {
		if err := r.copyInspected(d, inspect); err != nil {
			r.finish(d, err)
			return
		}
		r.inspectDone.Store(true)
		if r.handoverWanted {
			r.requestStop()
			return
		}
	}
	if err := r.copyPlain(d); err != errHandover && err != errParked {
		r.finish(d, err)
	}
}

func (r *relay) copyServerToClient(wg *sync.WaitGroup, d *direction) {
	defer wg.Done()
	defer r.recoverCopier(d)
	if err := r.copyPlain(d); err != errHandover && err != errParked {
		r.finish(d, err)
	}
}

func (r *relay) recoverCopier(d *direction) {
	if p := recover(); p != nil {
		r.setEnd(fmt.Sprintf("internal error: panic in %s→%s copy: %v", d.from, d.to, p))
		r.closeBoth()
	}
}

// copyInspected is the user-space phase: read, write, then show the chunk to inspect.
// It returns nil when inspecting is over and the plain copy should take over, io.EOF when
// the client closed, or the error that ends the direction.
func (r *relay) copyInspected(d *direction, inspect func([]byte) bool) error {
	buf := make([]byte, inspectBuffer)
	for seen := 0; seen < inspectLimit; {
		if err := r.refreshDeadline(d.src); err != nil {
			return &sideError{side: d.from, err: err}
		}
		// Never read past the limit, so inspect sees at most exactly inspectLimit bytes.
		n, err := d.src.Read(buf[:min(len(buf), inspectLimit-seen)])
		if n > 0 {
			writeBy := r.writeDeadline(d.dst)
			if _, werr := d.dst.Write(buf[:n]); werr != nil {
				return r.writeError(d, werr, writeBy)
			}
			r.moved(d, int64(n))
			seen += n
			if inspect(buf[:n]) {
				return nil
			}
		}
		if err != nil {
			if isPeerIdle(err) { // before io.EOF: an idle tunnel's end is an EOF too
				return &peerIdleError{side: d.from}
			}
			if errors.Is(err, io.EOF) {
				return io.EOF
			}
			if r.isIdle(err) {
				return errIdle
			}
			if !errors.Is(err, os.ErrDeadlineExceeded) {
				return &sideError{side: d.from, err: err}
			}
		}
	}
	return nil
}

// copyPlain copies until EOF (returned as io.EOF), idle timeout or error.
func (r *relay) copyPlain(d *direction) error {
	// A socket source goes through dst's ReadFrom (splice between TCP conns); a
	// source that writes itself out (an RTMPT tunnel conn: io.WriterTo straight
	// from its queue) through its WriteTo; anything else (TLS) through one reused
	// buffer, hiding ReadFrom so that net.TCPConn's generic fallback does not
	// allocate a buffer per turn.
	if !r.goroutines {
		// An RTMPT tunnel's own requests carry its bytes (relay_tunnel.go).
		if tc, ok := d.src.(tunnelConn); ok {
			return r.parkSink(d, tc, nil)
		}
		if tc, ok := d.dst.(tunnelConn); ok {
			if err := r.parkSource(d, tc); err != nil {
				return err
			}
		}
	}
	_, srcIsSocket := d.src.(syscall.Conn)
	if wt, ok := d.src.(io.WriterTo); ok && !srcIsSocket {
		return r.copyWriterTo(d, wt)
	}
	_, dstReadsFrom := d.dst.(io.ReaderFrom)
	var buf []byte
	var dst io.Writer = d.dst
	var plainDst *writerOnly
	if !srcIsSocket || !dstReadsFrom || d.tee != nil { // a tee needs the bytes in hand
		buf = make([]byte, copyBuffer)
		plainDst = &writerOnly{r: r, d: d, dst: d.dst}
		dst = plainDst
	}
	var writeBy time.Time
	for {
		if err := r.refreshDeadline(d.src); err != nil {
			if err == errHandover {
				return err
			}
			return &sideError{side: d.from, err: err}
		}
		limit := int64(relayChunk)
		if buf == nil {
			b, n, more, ok, err := readSome(d.src)
			if ok {
				switch {
				case r.stopping.Load() && errors.Is(err, os.ErrDeadlineExceeded):
					continue // requestStop's wake-up: refreshDeadline stops the copy
				case r.isIdle(err):
					return errIdle
				case errors.Is(err, os.ErrDeadlineExceeded):
					continue // this direction was quiet, the other one was not
				case err != nil:
					return &sideError{side: d.from, err: err}
				case b == nil:
					return io.EOF
				}
				writeBy = r.writeDeadline(d.dst)
				_, werr := d.dst.Write((*b)[:n])
				smallBufs.Put(b)
				if werr != nil {
					return r.writeError(d, werr, writeBy)
				}
				r.moved(d, int64(n))
				if more == 0 {
					continue
				}
				// A burst: splice exactly what is queued, so the splice pipe is
				// never held while the source is quiet.
				limit = min(more, relayChunk)
			}
			writeBy = r.writeDeadline(d.dst)
		}
		lr := &io.LimitedReader{R: d.src, N: limit}
		n, err := io.CopyBuffer(dst, lr, buf)
		if n > 0 && plainDst == nil { // the buffered path counted each write already
			r.moved(d, n)
		}
		switch {
		case err == nil && lr.N > 0:
			return io.EOF // io.Copy reports the source's EOF as nil before the limit
		case err == nil:
			continue
		case plainDst != nil && plainDst.failed:
			return r.writeError(d, err, plainDst.writeBy)
		case buf == nil && r.stalled(err, writeBy):
			// The splice turn moves only bytes already queued at the source,
			// so a deadline that passes in it is the destination's.
			return &stallError{side: d.to}
		case r.stopping.Load() && errors.Is(err, os.ErrDeadlineExceeded):
			continue // requestStop's wake-up: refreshDeadline stops the copy
		case r.isIdle(err):
			return errIdle
		case errors.Is(err, os.ErrDeadlineExceeded):
			continue // this direction was quiet, the other one was not
		default:
			return &sideError{side: blame(d, err), err: err}
		}
	}
}

// copyWriterTo is copyPlain for a source that is not a socket but writes its
// bytes out itself (an RTMPT tunnel conn). The relay then holds no buffer for
// this direction (the 32 KiB of the buffered path, per tunnel session, even
// while it is idle), and the bytes are copied once less. io.CopyBuffer cannot
// be used: the LimitedReader the other paths bound a turn with hides WriteTo.
// A turn ends at src's read deadline instead; the counters move with each
// write (writerOnly), so the shared activity time stays current.
func (r *relay) copyWriterTo(d *direction, src io.WriterTo) error {
	dst := &writerOnly{r: r, d: d, dst: d.dst}
	for {
		if err := r.refreshDeadline(d.src); err != nil {
			if err == errHandover {
				return err
			}
			return &sideError{side: d.from, err: err}
		}
		_, err := src.WriteTo(dst)
		switch {
		case err == nil:
			return io.EOF // WriteTo's graceful end
		case dst.failed:
			return r.writeError(d, err, dst.writeBy)
		case r.stopping.Load() && errors.Is(err, os.ErrDeadlineExceeded):
			continue // requestStop's wake-up: refreshDeadline stops the copy
		case r.isIdle(err):
			return errIdle
		case errors.Is(err, os.ErrDeadlineExceeded):
			continue // this direction was quiet, the other one was not
		case isPeerIdle(err):
			return &peerIdleError{side: d.from}
		default:
			return &sideError{side: d.from, err: err}
		}
	}
}

// isPeerIdle reports whether err says that the source's peer went quiet past
// the source's own idle limit (rtmpt.ErrSessionIdle: an RTMPT client that
// stopped polling, without /close). Asked by method, so that upstream need
// not import the tunnel package.
func isPeerIdle(err error) bool {
	// A walk down the chain rather than errors.As, whose target escapes:
	// every tunnel's end asks this.
	for ; err != nil; err = errors.Unwrap(err) {
		if pi, ok := err.(interface{ PeerIdle() bool }); ok && pi.PeerIdle() {
			return true
		}
	}
	return false
}

// peerIdleError ends a relay whose side vanished without closing: the end
// reason is "client idle", not "client closed".
type peerIdleError struct{ side string }

func (e *peerIdleError) Error() string { return e.side + " idle" }

// blame picks the side at fault for an error out of a ReadFrom turn, which mixes reads of src
// and writes to dst (splice reports both as "readfrom"): EPIPE or a failed "write" is the
// destination's, everything else (ECONNRESET included) is taken as the source's.
func blame(d *direction, err error) string {
	var opErr *net.OpError
	if errors.Is(err, syscall.EPIPE) || (errors.As(err, &opErr) && opErr.Op == "write") {
		return d.to
	}
	return d.from
}

// sideError is an error attributed to "client" or "server".
type sideError struct {
	side string
	err  error
}

func (e *sideError) Error() string { return e.side + " error: " + e.err.Error() }
func (e *sideError) Unwrap() error { return e.err }

// stallError ends a relay whose side did not accept a byte for WriteTimeout.
type stallError struct{ side string }

func (e *stallError) Error() string { return e.side + " stalled" }

// writeDeadline arms dst's write deadline for the write about to start and
// returns it (zero without WriteTimeout). In the goroutine copy this is a timer
// update inside the Go runtime, not a system call.
func (r *relay) writeDeadline(dst net.Conn) time.Time {
	if r.writeTimeout <= 0 {
		return time.Time{}
	}
	by := time.Now().Add(r.writeTimeout)
	_ = dst.SetWriteDeadline(by)
	return by
}

// stalled reports whether err is the write deadline armed at writeBy passing.
func (r *relay) stalled(err error, writeBy time.Time) bool {
	return r.writeTimeout > 0 && !writeBy.IsZero() && errors.Is(err, os.ErrDeadlineExceeded) && !time.Now().Before(writeBy)
}

// writeError names the failed write of direction d: a stall, or d.to's error.
func (r *relay) writeError(d *direction, err error, writeBy time.Time) error {
	if r.stalled(err, writeBy) {
		return &stallError{side: d.to}
	}
	return &sideError{side: d.to, err: err}
}

// finish records why direction d ended and propagates it: EOF half-closes the destination,
// anything else closes both conns so the other direction stops too.
func (r *relay) finish(d *direction, err error) {
	d.finished = true
	switch {
	case errors.Is(err, io.EOF):
		r.setEnd(d.from + " closed")
		if cw, ok := d.dst.(closeWriter); ok {
			if cwErr := cw.CloseWrite(); cwErr == nil {
				if linger := r.lingerAfter(d.from); linger > 0 {
					time.AfterFunc(linger, r.closeBoth)
				}
				return
			}
		}
		r.closeBoth() // no half-close available: the other direction cannot end by itself
	case errors.Is(err, errIdle):
		r.setEnd("idle timeout")
		r.closeBoth()
	case errors.As(err, new(*peerIdleError)):
		// Gone without a close: nothing to linger for.
		r.setEnd(err.Error())
		r.closeBoth()
	default:
		r.setEnd(err.Error())
		r.closeBoth()
	}
}

// lingerAfter is how long the other side may stay open after side's EOF
// (RelayConfig.ClientCloseLinger, ServerCloseLinger); <= 0: as long as it goes on.
func (r *relay) lingerAfter(side string) time.Duration {
	if side == "client" {
		return r.clientLinger
	}
	return r.serverLinger
}

func (r *relay) setEnd(reason string) { r.end.CompareAndSwap(nil, reason) }

func (r *relay) closeBoth() {
	r.closeOnce.Do(func() {
		r.closed.Store(true)
		_ = r.client.Close()
		_ = r.server.Close()
	})
}

func (r *relay) touch() { r.lastActivity.Store(time.Now().UnixNano()) }

func (r *relay) moved(d *direction, n int64) {
	d.bytes.Add(n)
	r.touch()
}

// refreshDeadline bounds the next copy turn to half the idle timeout. A splice turn reports
// the bytes it moved only when it returns, so a direction that streams slowly must come back
// often enough for the other, quiet direction to see its activity: with turns of at most
// idle/2, the shared last-activity time is never more than idle/2 old while bytes flow.
//
// Between two TCP conns it also stops the copy (errHandover) once asked to, under dlMu,
// so that the wake-up deadline of requestStop is never overwritten by a refresh.
func (r *relay) refreshDeadline(src net.Conn) error {
	if r.stoppable {
		r.dlMu.Lock()
		defer r.dlMu.Unlock()
		if r.stopping.Load() {
			return errHandover
		}
	}
	if r.idle < 0 {
		return nil
	}
	return src.SetReadDeadline(time.Now().Add(max(r.idle/2, time.Millisecond)))
}

// isIdle reports whether err is a read-deadline expiry with both directions quiet for the
// whole idle timeout.
func (r *relay) isIdle(err error) bool {
	if r.idle < 0 || !errors.Is(err, os.ErrDeadlineExceeded) {
		return false
	}
	return time.Since(time.Unix(0, r.lastActivity.Load())) >= r.idle
}

// writerOnly hides a destination's ReadFrom so io.CopyBuffer uses the given buffer,
// arms the write deadline before each write, and records whether a write failed so the
// error is blamed on the destination.
type writerOnly struct {
	r       *relay
	d       *direction // counted per write: a slow tunnel's counters stay live
	dst     net.Conn
	writeBy time.Time
	failed  bool
}

func (w *writerOnly) Write(p []byte) (int, error) {
	w.writeBy = w.r.writeDeadline(w.dst)
	n, err := w.dst.Write(p)
	if n > 0 {
		w.r.moved(w.d, int64(n))
		if w.d.tee != nil {
			w.d.tee(p[:n])
		}
	}
	if err != nil {
		w.failed = true
	}
	return n, err
}
