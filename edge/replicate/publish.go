package replicate

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rtmp-edge/rtmp-edge/edge/amf0"
	"github.com/rtmp-edge/rtmp-edge/edge/chunk"
)

// Config bounds replication. Zero fields take the defaults.
type Config struct {
	Buffer  int           // bytes queued per replica before it is dropped; 0 = 4 MiB
	MaxLag  time.Duration // a replica this far behind the publisher is dropped; 0 = 5 s
	Backoff time.Duration // first rejoin delay after a drop/failure, doubling to 30 s; 0 = 1 s
}

// Defaults of Config.
const (
	DefaultBuffer  = 4 << 20
	DefaultMaxLag  = 5 * time.Second
	DefaultBackoff = time.Second
	// MaxBackoff is where the doubling back-off stops.
	MaxBackoff = 30 * time.Second
)

func (c Config) withDefaults() Config {
	if c.Buffer <= 0 {
		c.Buffer = DefaultBuffer
	}
	if c.MaxLag <= 0 {
		c.MaxLag = DefaultMaxLag
	}
	if c.Backoff <= 0 {
		c.Backoff = DefaultBackoff
	}
	return c
}

// Dial opens a connection to the named server and completes the RTMP
// handshake as a client (the edge's own upstream dialer: source address,
// timeouts); the returned conn is positioned right after C2/S2.
type Dial func(ctx context.Context, server string) (net.Conn, error)

// Options configure a Publish.
type Options struct {
	Config Config
	Dial   Dial
	Logger *slog.Logger
	// Connect is the publisher's connect command: its command object with
	// every property as the publisher sent it (app, tcUrl, flashVer, type,
	// swfUrl, pageUrl, objectEncoding, fourCcList, capsEx, …) and its extra
	// arguments. Each replica sends it as its own connect (under its own
	// transaction id), so that a replica server sees the client the origin
	// saw: its checks of the connect (an app's on_connect, an allow list,
	// the codecs a client advertised) judge the replica as the publisher.
	// A nil Object takes the connect from the fed bytes (the recorded
	// connect), and only if those have none is one built from App and TcURL.
	Connect amf0.Command
	// PublishType is the publisher's publish type ("live", "record",
	// "append"). Empty takes it from the publish in the fed bytes, and
	// "live" when that has none.
	PublishType string
	// App, TcURL and Stream are the publisher's connect app and tcUrl and
	// its publish name (with its query), for each replica's own connect and
	// publish. An empty Stream takes the name from the publish command in
	// the fed bytes.
	App, TcURL, Stream string
	// OnLive is called with true when a replica's server accepted its
	// publish (NetStream.Publish.Start) and with false when that replica
	// session ends (each true is followed by one false). It must not block.
	OnLive func(server string, live bool)
	// Counters receives per-server counts; nil keeps them private.
	Counters *Counters
}

// Replica states as Replicas reports them.
const (
	StateJoining = "joining" // dialing, or waiting for the server to accept the publish
	StateLive    = "live"    // publishing: the server has the stream
	StateBackoff = "backoff" // dropped or failed, waiting to rejoin
	StateEnded   = "ended"   // removed, or the publisher ended
)

// ReplicaInfo describes one replica.
type ReplicaInfo struct {
	Server    string
	State     string // StateJoining, StateLive, StateBackoff or StateEnded
	Bytes     int64  // bytes written to the server, all sessions
	Drops     int    // sessions dropped (a bound exceeded, or a failure)
	Rejoins   int    // sessions started again after a drop
	LagMillis int64  // wall time since the oldest unsent message was queued
	Queued    int    // bytes queued now (payloads plus a fixed cost per message)
	End       string // why the last session ended ("buffer full", "lag 5.2s", "server closed", …); empty if none did
}

// Report is a replica's final ReplicaInfo.
type Report = ReplicaInfo

// Publish replicates one publisher's stream to replica servers.
type Publish struct {
	opts     Options
	cfg      Config
	log      *slog.Logger
	counters *Counters
	base     time.Time // origin of entry.at (monotonic)

	// intake: Feed appends under inMu; the pump swaps the buffer out.
	inMu     sync.Mutex
	in       []byte
	inStop   bool // overflowed or closed: Feed drops bytes
	inClosed bool // Close was called: the pump ends after the last bytes
	wake     chan struct{}

	// pump-owned state
	scan   *chunk.Scanner
	stream stream

	mu          sync.Mutex
	replicas    map[string]*replica
	order       []string
	list        atomic.Pointer[[]*replica] // live replica set, for the pump
	stopped     string                     // why replication stopped for good; "" while it runs
	publishName atomic.Pointer[string]     // the publisher's publish name, once the pump saw it
	// What the pump read of the publisher's own commands, for the
	// replicas' join: its connect and its publish type. seen is closed once
	// the publish was read (the connect comes before it) or the pump ended.
	connectCmd  atomic.Pointer[amf0.Command]
	publishType atomic.Pointer[string]
	seen        chan struct{}
	seenOnce    sync.Once
	closed      bool

	pumpDone chan struct{}
	wg       sync.WaitGroup // replica goroutines
}

// maxMessage is the largest media message the parser follows: the
// protocol's own bound (a 24-bit length), so that any stream the origin
// accepts stays readable. A message larger than Config.Buffer cannot be
// queued: it drops the replicas (they rejoin at a keyframe that fits),
// where a parser limit of Buffer stopped the whole publish's replication
// for good at its first large keyframe.
const maxMessage = 0xFFFFFF

// entryOverhead is what a queued message costs beyond its payload, counted
// against Config.Buffer so that empty messages are bounded too.
const entryOverhead = 64

// entry is one queued message.
type entry struct {
	typ     uint8
	ts      uint32
	payload []byte
	at      int64 // when it was queued, nanoseconds since Publish.base
}

func (e entry) cost() int { return len(e.payload) + entryOverhead }

// New starts a Publish (its parser goroutine). Close ends it.
func New(opts Options) *Publish {
	cfg := opts.Config.withDefaults()
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	counters := opts.Counters
	if counters == nil {
		counters = &Counters{}
	}
	p := &Publish{
		opts:     opts,
		cfg:      cfg,
		log:      log,
		counters: counters,
		base:     time.Now(),
		wake:     make(chan struct{}, 1),
		scan:     chunk.NewScanner(chunk.Limits{MaxMedia: maxMessage}),
		replicas: make(map[string]*replica),
		pumpDone: make(chan struct{}),
		seen:     make(chan struct{}),
	}
	p.list.Store(&[]*replica{})
	go p.pump()
	return p
}

// Feed gets the publisher's client→server bytes in order, starting with the
// first byte after the RTMP handshake (the recorded connect…publish
// included, so the chunk-stream state is known). It never blocks on a
// replica and never fails the caller: it copies b into a bounded intake
// (Config.Buffer bytes) that the Publish's own goroutine parses. When the
// intake is full (the parser could not keep up), replication of this
// publish stops with a logged reason. b is not kept.
func (p *Publish) Feed(b []byte) {
	if len(b) == 0 {
		return
	}
	p.inMu.Lock()
	if p.inStop {
		p.inMu.Unlock()
		return
	}
	if len(p.in)+len(b) > p.cfg.Buffer {
		p.inStop = true
		p.in = nil
		p.inMu.Unlock()
		go p.stop(fmt.Sprintf("intake overflow: the parser fell %d bytes behind", p.cfg.Buffer))
		return
	}
	p.in = append(p.in, b...)
	p.inMu.Unlock()
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// lagCheckEvery is how often the pump looks at replicas' lag while the
// publisher sends nothing.
const lagCheckEvery = 250 * time.Millisecond

// pump parses the intake and hands media to the replicas.
func (p *Publish) pump() {
	defer close(p.pumpDone)
	defer p.markSeen() // nothing more will be read: joiners must not wait for it
	tick := time.NewTicker(lagCheckEvery)
	defer tick.Stop()
	var spare []byte
	for {
		select {
		case <-p.wake:
		case <-tick.C:
			p.checkLag()
			continue
		}
		p.inMu.Lock()
		buf, closed := p.in, p.inClosed
		p.in = spare[:0]
		p.inMu.Unlock()
		if len(buf) > 0 && p.stoppedReason() == "" {
			if err := safely(func() error { return p.consume(buf) }); err != nil {
				p.stop(err.Error())
			}
		}
		// Keep the larger buffer for the next swap, but not a huge one.
		if cap(buf) <= 1<<20 {
			spare = buf
		} else {
			spare = nil
		}
		if closed {
			return
		}
	}
}

func (p *Publish) stoppedReason() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stopped
}

// safely runs f, turning a panic into an error: a bug met by a publisher's
// bytes stops this publish's replication (logged by stop), never the edge.
func safely(f func() error) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("internal error: %v", v)
		}
	}()
	return f()
}

// reasonPublisherEnded ends every replica when Close is called.
const reasonPublisherEnded = "publisher ended"

// errStop ends parsing when the publisher unpublished.
var errStop = errors.New("publisher unpublished")

// consume parses publisher bytes (on the pump's goroutine, or a test's).
func (p *Publish) consume(b []byte) error {
	err := p.scan.Feed(b, p.message)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, errStop):
		return errStop
	default:
		return fmt.Errorf("publisher stream unreadable: %w", err)
	}
}

// maxConfigs and maxConfigLen bound what a Publish keeps for joiners: real
// streams have one to four configurations of 4–200 bytes and metadata
// under 1 KiB.
const (
	maxConfigs   = 16
	maxConfigLen = 64 << 10
)

// stream is what the pump knows of the published stream.
type stream struct {
	published   bool
	unpublished bool   // FCUnpublish, deleteStream or closeStream came after the publish
	id          uint32 // message stream of the publish
	name        string
	sawVideo    bool
	metadata    *entry
	configs     []config
	// counts, for tests and logs
	messages, keyframes, configMsgs int64
}

type config struct {
	key configKey
	e   entry
}

func (s *stream) setConfig(key configKey, e entry) {
	for i := range s.configs {
		if s.configs[i].key == key {
			s.configs[i].e = e
			return
		}
	}
	if len(s.configs) < maxConfigs {
		s.configs = append(s.configs, config{key, e})
	}
}

func (s *stream) dropConfig(key configKey) {
	for i := range s.configs {
		if s.configs[i].key == key {
			s.configs = append(s.configs[:i], s.configs[i+1:]...)
			return
		}
	}
}

// message handles one message of the publisher (the Scanner's emit).
func (p *Publish) message(m chunk.Message) error {
	if !chunk.Media(m.Type) {
		return p.command(m)
	}
	s := &p.stream
	if !s.published || m.StreamID != s.id {
		return nil // media before publish or on another stream: nothing to replicate
	}
	s.messages++
	e := entry{typ: m.Type, ts: m.Timestamp, payload: m.Payload, at: int64(time.Since(p.base))}
	r, key := classify(m.Type, m.Payload)
	if m.Type == chunk.TypeVideo {
		s.sawVideo = true
	}
	switch r {
	case roleMetadata:
		if len(m.Payload) <= maxConfigLen {
			s.metadata = &e
		}
	case roleConfig:
		s.configMsgs++
		if len(m.Payload) <= maxConfigLen {
			s.setConfig(key, e)
		}
	case roleConfigEnd:
		s.dropConfig(key)
	case roleKeyframe:
		s.keyframes++
	}
	start := r == roleKeyframe || (!s.sawVideo && m.Type == chunk.TypeAudio && r == roleFrame)
	for _, rep := range *p.list.Load() {
		rep.offer(e, start, s)
	}
	return nil
}

// command follows the publisher's commands: publish (which stream) and its
// end (FCUnpublish, deleteStream, closeStream).
func (p *Publish) command(m chunk.Message) error {
	if m.Type != chunk.TypeCommandAMF0 && m.Type != chunk.TypeCommandAMF3 {
		return nil
	}
	cmd, err := amf0.ParseCommand(m.Payload, m.Type)
	if err != nil {
		return nil // the upload server judges the publisher's commands; a replica needs none of them
	}
	s := &p.stream
	switch cmd.Name {
	case "connect":
		if !s.published && p.connectCmd.Load() == nil && cmd.Object != nil {
			p.connectCmd.Store(&cmd)
		}
	case "publish":
		if sc, ok := amf0.ParseStreamCommand(cmd); ok && !s.published {
			s.published, s.id, s.name = true, m.StreamID, sc.Stream
			p.publishName.Store(&sc.Stream)
			p.publishType.Store(&sc.PublishType)
			p.markSeen()
		}
	case "FCUnpublish", "deleteStream", "closeStream":
		if s.published {
			s.unpublished = true
			return errStop
		}
	}
	return nil
}

// markSeen releases the replicas waiting for the publisher's commands.
func (p *Publish) markSeen() { p.seenOnce.Do(func() { close(p.seen) }) }

// checkLag drops replicas that are too far behind even while no message
// arrives (a publisher may pause; a stopped server still must not hold
// its queue forever).
func (p *Publish) checkLag() {
	now := int64(time.Since(p.base))
	for _, rep := range *p.list.Load() {
		rep.checkLag(now)
	}
}

// Add starts a replica on server, or keeps the one running (idempotent).
// A replica that was removed or ended starts again. After Close, or once
// replication of this publish stopped, Add does nothing.
func (p *Publish) Add(server string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || p.stopped != "" {
		return
	}
	if r := p.replicas[server]; r != nil && !r.isEnded() {
		return
	}
	r := newReplica(p, server)
	if _, seen := p.replicas[server]; !seen {
		p.order = append(p.order, server)
	}
	p.replicas[server] = r
	p.storeList()
	p.wg.Add(1)
	go r.run()
}

// storeList publishes the current replicas to the pump (p.mu held).
func (p *Publish) storeList() {
	l := make([]*replica, 0, len(p.replicas))
	for _, s := range p.order {
		if r := p.replicas[s]; r != nil && !r.isEnded() {
			l = append(l, r)
		}
	}
	p.list.Store(&l)
}

// Remove ends the replica on server with reason (logged and reported).
func (p *Publish) Remove(server, reason string) {
	p.mu.Lock()
	r := p.replicas[server]
	p.mu.Unlock()
	if r == nil {
		return
	}
	r.end(reason)
	p.mu.Lock()
	p.storeList()
	p.mu.Unlock()
}

// stop ends replication of this publish for good: every replica ends with
// reason and Add does nothing any more.
func (p *Publish) stop(reason string) {
	p.mu.Lock()
	if p.stopped != "" {
		p.mu.Unlock()
		return
	}
	p.stopped = reason
	rs := make([]*replica, 0, len(p.replicas))
	for _, r := range p.replicas {
		rs = append(rs, r)
	}
	p.mu.Unlock()
	if reason == errStop.Error() || reason == reasonPublisherEnded {
		p.log.Info("replication ends", "reason", reason)
	} else {
		p.log.Warn("replication stops", "reason", reason)
		p.counters.stopped(reason)
	}
	for _, r := range rs {
		r.end(reason)
	}
	p.mu.Lock()
	p.storeList()
	p.mu.Unlock()
}

// closeWait bounds how long Close lets replicas write their queued tail
// and say goodbye (FCUnpublish, deleteStream).
const closeWait = time.Second

// Close ends the Publish: the publisher ended. The bytes fed so far are
// parsed and queued, each replica writes its queue and unpublishes within
// about a second, and the final reports are returned in the order the
// servers were first added.
func (p *Publish) Close() []Report {
	p.mu.Lock()
	already := p.closed
	p.closed = true
	p.mu.Unlock()
	if !already {
		p.inMu.Lock()
		p.inClosed, p.inStop = true, true
		p.inMu.Unlock()
		select {
		case p.wake <- struct{}{}:
		default:
		}
		<-p.pumpDone
		p.stop(reasonPublisherEnded)
		p.wg.Wait()
	}
	return p.Replicas()
}

// Replicas describes every replica added so far, in the order first added.
func (p *Publish) Replicas() []ReplicaInfo {
	p.mu.Lock()
	rs := make([]*replica, 0, len(p.order))
	for _, s := range p.order {
		rs = append(rs, p.replicas[s])
	}
	p.mu.Unlock()
	now := int64(time.Since(p.base))
	out := make([]ReplicaInfo, 0, len(rs))
	for _, r := range rs {
		out = append(out, r.info(now))
	}
	return out
}
