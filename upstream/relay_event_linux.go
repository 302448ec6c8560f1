//go:build linux

package upstream

// The event relay: TCP↔TCP sessions, once inspect is done, run on a few poller
// goroutines for the whole process instead of two goroutines each.
//
// Why: a relayed RTMP session is long and mostly quiet in one direction (a
// player's upstream) or both (an idle publisher), and a live stream wakes it
// 50–100 times a second for a few hundred bytes. On goroutines every session
// keeps two stacks (about 8 KiB each once grown) and every wake-up passes
// through the runtime's poller, a goroutine switch and a deadline refresh. Here
// a session is two socket descriptors in an epoll set, a small struct, and a
// buffer or a splice pipe only while bytes are in hand.
//
// Descriptors. The relay takes each socket out of Go's net package: it
// duplicates the descriptor (fcntl F_DUPFD_CLOEXEC, inside RawConn.Control so
// the conn cannot be closed meanwhile) and then closes the *net.TCPConn, which
// removes the original descriptor from the runtime's poller and frees the
// conn. The duplicate shares the open file (its O_NONBLOCK flag too, which Go
// set) and keeps the socket open: no FIN is sent. (*net.TCPConn).File is not
// used because it would leave the conn registered with the runtime's poller,
// which would then wake up for every event of a socket nobody reads through it,
// and because the descriptor must be owned by one party. Owning a plain
// descriptor is also what lets a session be handed to another process
// (SCM_RIGHTS), see Detach below.
//
// Readiness. Each socket is added once to the epoll set of one poller,
// edge-triggered for input, output and peer half-close (as Go's own poller
// does), so the hot path has no epoll_ctl. A direction reads when its source
// is readable, and a read that returns less than asked means the socket's
// receive queue is empty (the epoll(7) rule for stream sockets) unless a
// half-close was reported, so a live message costs one read and one write and
// no extra read that fails with EAGAIN. Up to 16 KiB is read into a pooled
// buffer; a read that fills it marks a burst, and the rest of the burst is
// spliced through a pooled pipe (zero copy; Linux splice(2)). When the
// destination will not take the bytes (EAGAIN), the direction keeps them (the
// buffer, or the pipe with its contents) and stops reading its source until
// the destination reports EPOLLOUT: back-pressure reaches the sender through
// TCP, and nothing is buffered beyond one buffer or one pipe per direction.
// Each direction moves at most evBudget bytes per turn, then the poller serves
// the other sessions before it comes back.
//
// Waiting. A poller does not block in epoll_wait: its epoll descriptor is
// itself registered with Go's runtime poller (an epoll set is readable while
// it has events), the poller goroutine parks there like any goroutine reading
// a socket, and epoll_wait is only called with a zero timeout to fetch what
// is ready. A goroutine blocked in a system call would make the runtime hand
// its P to another thread each time (sysmon, then a futex wake-up on the way
// back), and keep sysmon polling every 20 µs: 10 % of the edge's CPU at 1000
// new sessions a second in a profile, for nothing.
//
// Timeouts. No timer per session and no syscall per chunk: each poller sweeps
// its sessions every quarter of the shortest timeout among them (10 ms…1 s),
// ending those idle for IdleTimeout (both directions quiet) and those with a
// direction whose bytes have waited WriteTimeout without the destination
// accepting any. Activity is stamped with the time the poller read once per
// epoll_wait.
//
// Handing a session to another process (the edge's upgrade without cutting
// streams) needs the relay stopped where none of its bytes is in this process:
// Detach sets a flag under the session's lock that stops both directions from
// reading their sources, lets the poller write what each direction still holds
// (on EPOLLOUT, as usual), and once nothing is held removes both descriptors
// from the epoll set and returns them (the counters are live already). Bytes
// still in the kernel's socket buffers are not in the way: they belong to the
// sockets, which move with the descriptors (SCM_RIGHTS).
// The new process relays them again from scratch (a side that had closed reads
// EOF again); edge-triggered epoll reports whatever is already readable when a
// descriptor is added, so nothing queued meanwhile is missed.

import (
	"errors"
	"fmt"
	"net"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

const (
	// evBudget is the most one direction moves in one turn before the
	// poller's other sessions get theirs.
	evBudget = 1 << 20
	// evSplice is what one splice into a pipe asks for; the pipe's capacity
	// (64 KiB by default) bounds what it takes.
	evSplice = 1 << 20
	// maxPollers bounds the poller goroutines (one per GOMAXPROCS below it).
	maxPollers = 8
	// keptPipes is how many empty pipes wait for the next burst.
	keptPipes = 64

	minSweep = 10 * time.Millisecond
	maxSweep = time.Second
)

const (
	sideClient = 0
	sideServer = 1
)

var sideName = [2]string{"client", "server"}

// errDone ends a session whose end reason was already set (both directions
// closed, Close from outside).
var errDone = fmt.Errorf("done")

// evPoller is one epoll set and the goroutine that waits on it.
type evPoller struct {
	epfd    int
	file    *os.File     // epfd in Go's runtime poller (see Waiting); owns the descriptor
	sweepNs atomic.Int64 // sweep period, see noteTimeouts

	mu    sync.Mutex // guards slots and free
	slots []*evSession
	free  []int32

	// Used by the poller goroutine only.
	again, spare []*evSession // sessions whose budget ran out, served next turn
	sweepList    []*evSession
}

var evLoop struct {
	once    sync.Once
	pollers []*evPoller
	err     error
	next    atomic.Uint32
}

// pollerFor picks the poller of a new session (round robin), starting the
// pollers on first use.
func pollerFor() (*evPoller, error) {
	evLoop.once.Do(func() {
		n := min(runtime.GOMAXPROCS(0), maxPollers)
		for range n {
			epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
			if err != nil {
				evLoop.err = os.NewSyscallError("epoll_create1", err)
				return
			}
			// Non-blocking, so that os.NewFile registers it with the
			// runtime's poller.
			if err := unix.SetNonblock(epfd, true); err != nil {
				_ = unix.Close(epfd)
				evLoop.err = os.NewSyscallError("fcntl", err)
				return
			}
			p := &evPoller{epfd: epfd, file: os.NewFile(uintptr(epfd), "relay-epoll")}
			p.sweepNs.Store(int64(maxSweep))
			evLoop.pollers = append(evLoop.pollers, p)
			go p.loop()
		}
	})
	if len(evLoop.pollers) == 0 {
		return nil, evLoop.err
	}
	return evLoop.pollers[evLoop.next.Add(1)%uint32(len(evLoop.pollers))], nil
}

// noteTimeouts shortens the sweep period to a quarter of timeout, within
// [minSweep, maxSweep]. The period never grows back: a short timeout is rare
// (tests), and a shorter period costs only a walk of the sessions.
func (p *evPoller) noteTimeouts(timeouts ...time.Duration) {
	for _, t := range timeouts {
		if t <= 0 {
			continue
		}
		period := int64(min(max(t/4, minSweep), maxSweep))
		for {
			cur := p.sweepNs.Load()
			if period >= cur || p.sweepNs.CompareAndSwap(cur, period) {
				break
			}
		}
	}
}

func (p *evPoller) loop() {
	events := make([]unix.EpollEvent, 128)
	batch := make([]*evSession, len(events))
	nextSweep := time.Now().UnixNano() + p.sweepNs.Load()
	rc, rcErr := p.file.SyscallConn()
	var deadline int64
	for {
		var n int
		var err error
		if len(p.again) > 0 || rcErr != nil {
			// Sessions wait for their next turn: fetch what is ready
			// without waiting. (rcErr cannot happen for an *os.File.)
			n, err = rawEpollPoll(p.epfd, events)
		} else {
			if deadline != nextSweep {
				deadline = nextSweep
				_ = p.file.SetReadDeadline(time.Unix(0, nextSweep))
			}
			rerr := rc.Read(func(fd uintptr) bool {
				n, err = rawEpollPoll(int(fd), events)
				return n > 0 || (err != nil && err != unix.EINTR)
			})
			if rerr != nil && err == nil {
				n = 0 // the sweep is due (deadline exceeded)
				if !errors.Is(rerr, os.ErrDeadlineExceeded) {
					time.Sleep(minSweep) // cannot happen (the file is never closed); do not spin
				}
			}
		}
		if err != nil {
			if err != unix.EINTR {
				// Cannot happen with a valid epoll descriptor; do not spin.
				time.Sleep(minSweep)
			}
			n = 0
		}
		now := time.Now().UnixNano()
		p.mu.Lock()
		for i := range n {
			if slot := int(events[i].Fd); slot < len(p.slots) {
				batch[i] = p.slots[slot]
			}
		}
		p.mu.Unlock()
		for i := range n {
			// A stale event (its session ended and the slot was reused
			// within this batch) only makes a read or write find EAGAIN.
			if s := batch[i]; s != nil {
				s.event(int(events[i].Pad), events[i].Events, now)
				batch[i] = nil
			}
		}
		if len(p.again) > 0 {
			todo := p.again
			p.again = p.spare[:0]
			for i, s := range todo {
				s.event(-1, 0, now)
				todo[i] = nil
			}
			p.spare = todo[:0]
		}
		if now >= nextSweep {
			p.sweep(now)
			nextSweep = now + p.sweepNs.Load()
		}
	}
}

func (p *evPoller) add(s *evSession) error {
	p.mu.Lock()
	var slot int32
	if k := len(p.free); k > 0 {
		slot = p.free[k-1]
		p.free = p.free[:k-1]
	} else {
		slot = int32(len(p.slots))
		p.slots = append(p.slots, nil)
	}
	p.slots[slot] = s
	s.slot = slot
	p.mu.Unlock()
	for side := range 2 {
		ev := unix.EpollEvent{
			Events: unix.EPOLLIN | unix.EPOLLOUT | unix.EPOLLRDHUP | unix.EPOLLET,
			Fd:     slot,
			Pad:    int32(side),
		}
		if err := unix.EpollCtl(p.epfd, unix.EPOLL_CTL_ADD, s.fd[side], &ev); err != nil {
			if side == sideServer {
				_ = unix.EpollCtl(p.epfd, unix.EPOLL_CTL_DEL, s.fd[sideClient], nil)
			}
			p.remove(slot)
			return os.NewSyscallError("epoll_ctl", err)
		}
	}
	return nil
}

func (p *evPoller) remove(slot int32) {
	p.mu.Lock()
	p.slots[slot] = nil
	p.free = append(p.free, slot)
	p.mu.Unlock()
}

// sweep ends the sessions that are idle or stalled.
func (p *evPoller) sweep(now int64) {
	p.mu.Lock()
	list := p.sweepList[:0]
	for _, s := range p.slots {
		if s != nil {
			list = append(list, s)
		}
	}
	p.mu.Unlock()
	for i, s := range list {
		s.check(now)
		list[i] = nil
	}
	p.sweepList = list[:0]
}

// evSession is one relay on the event loop. Its fields are guarded by mu; the
// poller goroutine does all reads and writes, other goroutines only end it.
type evSession struct {
	r    *relay
	p    *evPoller
	slot int32

	mu       sync.Mutex
	ended    bool
	fd       [2]int  // sideClient, sideServer
	readable [2]bool // an edge said so and no read has found the queue empty since
	writable [2]bool // no write has found the send buffer full since the last EPOLLOUT
	hup      [2]bool // the peer's half-close (or an error) was reported: read to the end
	dirs     [2]evDir

	detaching  bool           // Detach waits: read nothing more, write what is held
	detachDone chan struct{}  // closed when the detach completed or the session ended
	detached   *detachedState // the result, once complete

	lingerUntil int64 // one side's EOF was seen: end at this time unless the other is done first

	insp *evInspect // the inspect phase of the client's bytes, until it is over
}

// evInspect is the inspect func of Relay while it still wants client bytes,
// and how many it has seen.
type evInspect struct {
	f    func([]byte) bool
	seen int
}

// inspected shows p, just written to the server, to inspect.
func (s *evSession) inspected(p []byte) {
	in := s.insp
	in.seen += len(p)
	if in.f(p) || in.seen >= inspectLimit {
		s.insp = nil
		s.r.inspectDone.Store(true)
	}
}

// evDir is one direction of an evSession. It is kept small (its side names
// and counter follow from src) because every idle session holds two.
type evDir struct {
	// Bytes in hand, waiting for the destination: buf[off:n], or inPipe bytes in pipe.
	buf    *[]byte
	pipe   *evPipe
	off, n int
	inPipe int
	since  int64 // when the destination last took bytes (or the bytes arrived), for WriteTimeout

	src     uint8 // sideClient or sideServer; the destination is the other one
	eof     bool  // the source ended and the destination's write half is shut
	bursty  bool  // the last read filled its buffer: splice the rest
	pending bool
	tee     func([]byte) // RelayConfig.ClientTee (client→server): read and write, never splice (relay_tee.go)
}

func (d *evDir) dst() int     { return 1 - int(d.src) }
func (d *evDir) from() string { return sideName[d.src] }
func (d *evDir) to() string   { return sideName[d.dst()] }

// bytes is the relay counter of d's direction.
func (s *evSession) bytes(d *evDir) *atomic.Int64 {
	if d.src == sideClient {
		return &s.r.counters.ClientToServer
	}
	return &s.r.counters.ServerToClient
}

func (r *relay) eventCapable() bool {
	if r.goroutines {
		return false
	}
	_, c := r.client.(*net.TCPConn)
	_, s := r.server.(*net.TCPConn)
	return c && s
}

// toEvent hands the relay to the event loop, with inspect (nil: none or done)
// still to see the client's bytes. It must be called while no copier
// goroutine runs. It returns false, with both conns untouched, when the relay
// cannot move (not TCP↔TCP, Close was called, a system call failed): the
// goroutines then carry it.
func (r *relay) toEvent(inspect func([]byte) bool) bool {
	if !r.eventCapable() {
		return false
	}
	p, err := pollerFor()
	if err != nil {
		return false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closing {
		return false
	}
	cfd, err := dupConn(r.client.(*net.TCPConn))
	if err != nil {
		return false
	}
	sfd, err := dupConn(r.server.(*net.TCPConn))
	if err != nil {
		_ = unix.Close(cfd)
		return false
	}
	s := newEvSession(r, p, cfd, sfd)
	if inspect != nil {
		s.insp = &evInspect{f: inspect}
	} else {
		r.inspectDone.Store(true)
	}
	// Events may arrive as soon as the descriptors are in the set; they wait
	// for the session to be complete.
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := p.add(s); err != nil {
		_ = unix.Close(cfd)
		_ = unix.Close(sfd)
		return false
	}
	r.closeOnce.Do(func() {
		_ = r.client.Close()
		_ = r.server.Close()
	})
	// The conns are closed and not used again; let them be collected.
	r.client, r.server = nil, nil
	r.ev = s
	return true
}

func newEvSession(r *relay, p *evPoller, cfd, sfd int) *evSession {
	s := &evSession{r: r, p: p, fd: [2]int{cfd, sfd}, writable: [2]bool{true, true}}
	s.dirs[0].src, s.dirs[1].src = sideClient, sideServer
	s.dirs[0].tee = r.tee
	p.noteTimeouts(r.idle, r.writeTimeout, r.clientLinger, r.serverLinger)
	return s
}

// dupConn returns a duplicate of c's descriptor (close-on-exec, non-blocking
// like the original: they share the open file).
func dupConn(c *net.TCPConn) (int, error) { return dupSocket(c) }

// dupSocket is dupConn for any conn with a descriptor.
func dupSocket(c net.Conn) (int, error) {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return -1, ErrNotDetachable
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return -1, err
	}
	fd := -1
	var derr error
	if err := rc.Control(func(s uintptr) { fd, derr = unix.FcntlInt(s, unix.F_DUPFD_CLOEXEC, 0) }); err != nil {
		return -1, err
	}
	if derr != nil {
		return -1, os.NewSyscallError("fcntl", derr)
	}
	return fd, nil
}

// event handles what epoll reported for one side (side -1: a turn continued
// after its budget ran out).
func (s *evSession) event(side int, events uint32, now int64) {
	var done func()
	s.mu.Lock()
	defer func() {
		if p := recover(); p != nil {
			s.r.setEnd(fmt.Sprintf("internal error: panic in the event relay: %v", p))
			done = s.terminate(errDone)
		}
		s.mu.Unlock()
		if done != nil {
			done()
		}
	}()
	if s.ended {
		return
	}
	var err error
	if side >= 0 {
		if events&(unix.EPOLLIN|unix.EPOLLRDHUP|unix.EPOLLHUP|unix.EPOLLERR) != 0 {
			s.readable[side] = true
		}
		if events&(unix.EPOLLRDHUP|unix.EPOLLHUP|unix.EPOLLERR) != 0 {
			s.hup[side] = true
		}
		if events&(unix.EPOLLOUT|unix.EPOLLHUP|unix.EPOLLERR) != 0 {
			s.writable[side] = true
		}
		// A socket whose own direction already ended reads nothing more, so
		// its error would wait for the next write to it, maybe forever.
		if events&unix.EPOLLERR != 0 && s.dirs[side].eof {
			err = s.socketError(side)
		}
	}
	if err == nil {
		err = s.pump(now)
	}
	if err != nil {
		done = s.terminate(err)
		return
	}
	if s.detaching && !s.dirs[0].pending && !s.dirs[1].pending {
		s.completeDetach()
	}
}

// pump moves what both directions can move now.
func (s *evSession) pump(now int64) error {
	again := false
	for i := range s.dirs {
		more, err := s.pumpDir(&s.dirs[i], now)
		if err != nil {
			return err
		}
		again = again || more
	}
	if again {
		s.p.again = append(s.p.again, s)
	}
	return nil
}

// pumpDir moves bytes of d until its source is empty, its destination full,
// or the budget is spent (more: call again soon).
func (s *evSession) pumpDir(d *evDir, now int64) (more bool, err error) {
	budget := evBudget
	for {
		if d.pending {
			if !s.writable[d.dst()] {
				return false, nil
			}
			n, err := s.writePending(d)
			if n > 0 {
				s.bytes(d).Add(int64(n))
				s.r.lastActivity.Store(now)
				d.since = now
				budget -= n
			}
			switch {
			case err == unix.EAGAIN:
				s.writable[d.dst()] = false
				return false, nil
			case err == unix.EINTR:
				continue
			case err != nil:
				return false, &sideError{side: d.to(), err: err}
			case d.pending:
				continue // a short write: the next one says EAGAIN or takes more
			}
		}
		if d.eof || !s.readable[d.src] || s.detaching {
			return false, nil
		}
		if budget <= 0 {
			return true, nil
		}
		eof, err := s.fill(d, now)
		if err != nil {
			return false, err
		}
		if eof {
			return false, s.sourceEnded(d, now)
		}
	}
}

// fill takes what the source of d has queued into d's buffer or pipe.
func (s *evSession) fill(d *evDir, now int64) (eof bool, err error) {
	src := s.fd[d.src]
	inspecting := d.src == sideClient && s.insp != nil
	if d.bursty && d.tee == nil && !inspecting {
		if p, perr := getPipe(); perr == nil {
			n, err := rawSplice(src, p.w, evSplice, unix.SPLICE_F_MOVE|unix.SPLICE_F_NONBLOCK)
			switch {
			case err == unix.EINTR:
				putPipe(p)
				return false, nil
			case err == unix.EAGAIN:
				// Drained. (A short splice does not say so: a pipe runs out of
				// slots before bytes when the socket holds many small segments.)
				putPipe(p)
				s.readable[d.src] = false
				d.bursty = false
				return false, nil
			case err != nil:
				putPipe(p)
				return false, &sideError{side: d.from(), err: os.NewSyscallError("splice", err)}
			case n == 0:
				putPipe(p)
				return true, nil
			}
			d.pipe, d.inPipe, d.pending, d.since = p, int(n), true, now
			return false, nil
		}
		d.bursty = false // no pipe to be had: read instead
	}
	b := smallBufs.Get().(*[]byte)
	into := *b
	if inspecting {
		// Never past the limit: inspect sees at most exactly inspectLimit bytes.
		into = into[:min(len(into), inspectLimit-s.insp.seen)]
	}
	n, err := rawRead(src, into)
	switch {
	case err == unix.EINTR:
		smallBufs.Put(b)
		return false, nil
	case err == unix.EAGAIN:
		smallBufs.Put(b)
		s.readable[d.src] = false
		return false, nil
	case err != nil:
		smallBufs.Put(b)
		return false, &sideError{side: d.from(), err: os.NewSyscallError("read", err)}
	case n == 0:
		smallBufs.Put(b)
		return true, nil
	}
	d.buf, d.off, d.n, d.pending, d.since = b, 0, n, true, now
	if n == len(into) {
		d.bursty = true
	} else if !s.hup[d.src] {
		s.readable[d.src] = false // a short read emptied the receive queue
	}
	return false, nil
}

// writePending writes what d holds to its destination.
func (s *evSession) writePending(d *evDir) (int, error) {
	dst := s.fd[d.dst()]
	if d.buf != nil {
		n, err := rawWrite(dst, (*d.buf)[d.off:d.n])
		if n <= 0 {
			return 0, wrapErr("write", err)
		}
		switch {
		case d.src == sideClient && s.insp != nil:
			s.inspected((*d.buf)[d.off : d.off+n])
		case d.tee != nil:
			d.tee((*d.buf)[d.off : d.off+n])
		}
		if d.off += n; d.off == d.n {
			smallBufs.Put(d.buf)
			d.buf, d.pending = nil, false
		}
		return n, wrapErr("write", err)
	}
	n64, err := rawSplice(d.pipe.r, dst, d.inPipe, unix.SPLICE_F_MOVE|unix.SPLICE_F_NONBLOCK)
	n := int(n64)
	if n <= 0 {
		return 0, wrapErr("splice", err)
	}
	if d.inPipe -= n; d.inPipe == 0 {
		putPipe(d.pipe)
		d.pipe, d.pending = nil, false
	}
	return n, wrapErr("splice", err)
}

// wrapErr names a failed system call, leaving EAGAIN and EINTR bare for the
// callers' checks.
func wrapErr(op string, err error) error {
	if err == nil || err == unix.EAGAIN || err == unix.EINTR {
		return err
	}
	return os.NewSyscallError(op, err)
}

// sourceEnded: d's source sent its FIN. Half-close the destination so the
// other direction goes on; when both have ended, so has the session.
func (s *evSession) sourceEnded(d *evDir, now int64) error {
	d.eof = true
	s.r.setEnd(d.from() + " closed")
	if err := unix.Shutdown(s.fd[d.dst()], unix.SHUT_WR); err != nil {
		return errDone // the destination is gone: the other direction cannot end by itself
	}
	if s.dirs[0].eof && s.dirs[1].eof {
		return errDone
	}
	if linger := s.r.lingerAfter(d.from()); linger > 0 {
		s.lingerUntil = now + int64(linger) // see RelayConfig.ClientCloseLinger, ServerCloseLinger
	}
	return nil
}

// socketError reads and names a socket's pending error.
func (s *evSession) socketError(side int) error {
	v, err := unix.GetsockoptInt(s.fd[side], unix.SOL_SOCKET, unix.SO_ERROR)
	if err != nil || v == 0 {
		return nil
	}
	return &sideError{side: sideName[side], err: os.NewSyscallError("read", unix.Errno(v))}
}

// check ends the session if it is idle or a direction is stalled (the sweep).
func (s *evSession) check(now int64) {
	var done func()
	s.mu.Lock()
	if !s.ended {
		r := s.r
		var err error
		if r.idle > 0 && now-r.lastActivity.Load() >= int64(r.idle) {
			err = errIdle
		}
		if s.lingerUntil != 0 && now >= s.lingerUntil {
			err = errDone // "client closed" or "server closed" is the reason already
		}
		for i := range s.dirs {
			if d := &s.dirs[i]; err == nil && r.writeTimeout > 0 && d.pending && now-d.since >= int64(r.writeTimeout) {
				err = &stallError{side: d.to()}
			}
		}
		if err != nil {
			done = s.terminate(err)
		}
	}
	s.mu.Unlock()
	if done != nil {
		done()
	}
}

// close ends the session from outside (Relaying.Close set the reason).
func (s *evSession) close() {
	s.mu.Lock()
	var done func()
	if !s.ended {
		done = s.terminate(errDone)
	}
	s.mu.Unlock()
	if done != nil {
		done()
	}
}

// terminate ends the session: err (unless errDone) becomes the end reason if
// none was set, both sockets are closed, what was in hand is let go. It
// returns what to call once s.mu is released.
func (s *evSession) terminate(err error) func() {
	s.ended = true
	if err != errDone {
		s.r.setEnd(err.Error())
	}
	for side, fd := range s.fd {
		// Removed explicitly: another descriptor of the socket (a dup
		// elsewhere) would keep it in the set after close.
		_ = unix.EpollCtl(s.p.epfd, unix.EPOLL_CTL_DEL, fd, nil)
		_ = unix.Close(fd)
		s.fd[side] = -1
	}
	for i := range s.dirs {
		d := &s.dirs[i]
		if d.buf != nil {
			smallBufs.Put(d.buf)
			d.buf = nil
		}
		if d.pipe != nil {
			closePipe(d.pipe) // it may hold bytes: not reusable
			d.pipe = nil
		}
		d.pending = false
	}
	s.p.remove(s.slot)
	if s.detachDone != nil {
		close(s.detachDone)
		s.detachDone = nil
	}
	st, done := s.r.stats(), s.r.done
	if done == nil {
		return nil
	}
	// Not on the poller goroutine: done is the session's bookkeeping (logs,
	// metrics) and must not hold up the other sessions.
	return func() { go done(st) }
}

// detach stops the session for a handover; see Relaying.Detach.
// detachedState is what is left of an evSession that Detach took apart.
type detachedState struct{ clientFD, serverFD int }

func (s *evSession) detach(timeout time.Duration) (*detachedState, error) {
	s.mu.Lock()
	if s.ended || s.dirs[0].eof || s.dirs[1].eof || s.insp != nil {
		s.mu.Unlock()
		return nil, ErrNotDetachable
	}
	s.detaching = true
	if !s.dirs[0].pending && !s.dirs[1].pending {
		defer s.mu.Unlock()
		return s.completeDetach(), nil
	}
	wait := make(chan struct{})
	s.detachDone = wait
	s.mu.Unlock()

	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case <-wait:
	case <-timer.C:
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.detached != nil:
		return s.detached, nil
	case s.ended:
		return nil, ErrNotDetachable
	}
	// A destination that did not take what is held in time: go on relaying.
	// Re-arming both descriptors (EPOLL_CTL_MOD) makes epoll report what is
	// ready again, so the sources that were left unread are read.
	s.detaching, s.detachDone = false, nil
	for side := range 2 {
		ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLOUT | unix.EPOLLRDHUP | unix.EPOLLET, Fd: s.slot, Pad: int32(side)}
		_ = unix.EpollCtl(s.p.epfd, unix.EPOLL_CTL_MOD, s.fd[side], &ev)
	}
	return nil, ErrDetachTimeout
}

// completeDetach takes the session out of the event loop with nothing in hand
// (s.mu held, nothing pending).
func (s *evSession) completeDetach() *detachedState {
	for _, fd := range s.fd {
		_ = unix.EpollCtl(s.p.epfd, unix.EPOLL_CTL_DEL, fd, nil)
	}
	s.p.remove(s.slot)
	s.ended = true
	s.detached = &detachedState{clientFD: s.fd[sideClient], serverFD: s.fd[sideServer]}
	s.fd = [2]int{-1, -1}
	if s.detachDone != nil {
		close(s.detachDone)
		s.detachDone = nil
	}
	return s.detached
}

// detachEvent is Detach for a relay on the event loop.
func (r *relay) detachEvent(ev *evSession, wait time.Duration) (*os.File, *os.File, error) {
	d, err := ev.detach(wait)
	if err != nil {
		return nil, nil, err
	}
	r.handedOver.Store(true)
	c, s := os.NewFile(uintptr(d.clientFD), "client"), os.NewFile(uintptr(d.serverFD), "server")
	if r.done != nil {
		r.done(r.stats())
	}
	return c, s, nil
}

func closeFD(fd int) { _ = unix.Close(fd) }

// evPipe is a pipe for splice(2).
type evPipe struct{ r, w int }

var pipes struct {
	mu   sync.Mutex
	free []*evPipe
}

func getPipe() (*evPipe, error) {
	pipes.mu.Lock()
	if k := len(pipes.free); k > 0 {
		p := pipes.free[k-1]
		pipes.free = pipes.free[:k-1]
		pipes.mu.Unlock()
		return p, nil
	}
	pipes.mu.Unlock()
	var fds [2]int
	if err := unix.Pipe2(fds[:], unix.O_CLOEXEC|unix.O_NONBLOCK); err != nil {
		return nil, err
	}
	return &evPipe{r: fds[0], w: fds[1]}, nil
}

// putPipe takes back an empty pipe.
func putPipe(p *evPipe) {
	pipes.mu.Lock()
	if len(pipes.free) < keptPipes {
		pipes.free = append(pipes.free, p)
		p = nil
	}
	pipes.mu.Unlock()
	if p != nil {
		closePipe(p)
	}
}

func closePipe(p *evPipe) {
	_ = unix.Close(p.r)
	_ = unix.Close(p.w)
}
