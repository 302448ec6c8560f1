package replicate

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"
	"time"

	"github.com/rtmp-edge/rtmp-edge/edge/amf0"
	"github.com/rtmp-edge/rtmp-edge/edge/chunk"
)

// sess is one client session of a replica to its server.
type sess struct {
	r        *replica
	ctx      context.Context
	conn     net.Conn
	gen      int
	w        *chunk.Writer
	buf      []byte
	streamID uint32

	cmds    chan amf0.Command // commands the server sent (reader → writer)
	ctl     chan []byte       // control messages to send: pong, acknowledgement (reader → writer)
	readErr chan error

	// reader-owned
	window  uint32
	lastAck int64
}

// session runs one session: dial, join, write the queue until it ends. It
// returns why it ended and how long it was live.
func (r *replica) session() (reason string, liveFor time.Duration) {
	ctx, cancel := context.WithCancel(r.ctx)
	defer cancel()
	r.mu.Lock()
	r.gen++
	gen := r.gen
	r.sessCancel = cancel
	r.drop = ""
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		if r.drop != "" {
			reason = r.drop
		}
		r.ready, r.started = false, false
		r.clearQueue()
		r.gen++
		r.sessCancel = nil
		r.mu.Unlock()
	}()

	conn, err := r.p.opts.Dial(ctx, r.server)
	if err != nil {
		return "dial: " + err.Error(), 0
	}
	defer conn.Close()
	if tc, ok := conn.(interface{ SetWriteBuffer(int) error }); ok {
		// A fixed send buffer: what the kernel holds for a server that
		// stopped reading counts as sent, so it must stay small next to
		// Buffer for MaxLag to mean what it says (autotuning grows it to
		// megabytes on loopback and LANs).
		_ = tc.SetWriteBuffer(sendBuffer)
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.Close() })
	defer stop()

	s := &sess{
		r: r, ctx: ctx, conn: conn, gen: gen, w: chunk.NewWriter(),
		cmds: make(chan amf0.Command, 8), ctl: make(chan []byte, 8), readErr: make(chan error, 1),
	}
	s.w.Compress = true
	go s.read()
	if reason := s.join(); reason != "" {
		return reason, 0
	}

	liveAt := time.Now()
	r.mu.Lock()
	if r.ended || ctx.Err() != nil {
		r.mu.Unlock()
		return "ended while joining", 0
	}
	r.state = StateLive
	r.ready = true
	r.mu.Unlock()
	r.log.Info("replica live", "stream_id", s.streamID)
	r.p.counters.add(r.server, func(c *ServerCounts) { c.Live++ })
	if f := r.p.opts.OnLive; f != nil {
		f(r.server, true)
	}
	defer func() {
		r.p.counters.add(r.server, func(c *ServerCounts) { c.Live-- })
		if f := r.p.opts.OnLive; f != nil {
			f(r.server, false)
		}
	}()
	return s.live(), time.Since(liveAt)
}

// errDropped: the pump dropped the session while the writer held a batch.
var errDropped = errors.New("dropped")

// live writes the queue and the control answers until the session ends.
func (s *sess) live() string {
	r := s.r
	for {
		select {
		case <-s.ctx.Done():
			return "ended"
		case err := <-s.readErr:
			return readReason(err)
		case b := <-s.ctl:
			if err := s.write(b); err != nil {
				return writeReason(err)
			}
		case cmd := <-s.cmds:
			if why := statusFailure(cmd); why != "" {
				return "server ended the publish: " + why
			}
		case <-r.wake:
			if err := s.flush(); err != nil {
				return writeReason(err)
			}
			r.mu.Lock()
			bye := r.goodbye
			r.mu.Unlock()
			if bye {
				s.unpublish()
				return "ended"
			}
		}
	}
}

// flush writes the queue in batches of up to maxBatch bytes. A message
// leaves the queue (and Config.Buffer's count) only once written.
func (s *sess) flush() error {
	r := s.r
	for {
		r.mu.Lock()
		if s.gen != r.gen {
			r.mu.Unlock()
			return errDropped
		}
		batch := r.q[r.head:]
		n, size := 0, 0
		for n < len(batch) && (n == 0 || size+len(batch[n].payload) <= maxBatch) {
			size += len(batch[n].payload)
			n++
		}
		batch = batch[:n]
		r.mu.Unlock()
		if n == 0 {
			return nil
		}
		b := s.buf[:0]
		cost := 0
		for _, e := range batch {
			b = s.w.Append(b, chunk.Message{CSID: csidFor(e.typ), Type: e.typ, StreamID: s.streamID, Timestamp: e.ts, Payload: e.payload})
			cost += e.cost()
		}
		err := s.write(b)
		if cap(b) <= 2*maxBatch {
			s.buf = b
		}
		if err != nil {
			return err
		}
		r.mu.Lock()
		if s.gen == r.gen {
			for i := r.head; i < r.head+n; i++ {
				r.q[i] = entry{} // the queue must not keep payloads it no longer counts
			}
			r.head += n
			r.qBytes -= cost
			switch {
			case r.head == len(r.q):
				r.q, r.head = r.q[:0], 0
			case r.head > 1024 && r.head > len(r.q)/2:
				k := copy(r.q, r.q[r.head:])
				clear(r.q[k:])
				r.q, r.head = r.q[:k], 0
			}
		}
		r.mu.Unlock()
	}
}

func csidFor(typ uint8) uint32 {
	switch typ {
	case chunk.TypeAudio:
		return csidAudio
	case chunk.TypeVideo:
		return csidVideo
	}
	return csidData
}

func (s *sess) write(b []byte) error {
	n, err := s.conn.Write(b)
	if n > 0 {
		s.r.bytes.Add(int64(n))
		s.r.p.counters.add(s.r.server, func(c *ServerCounts) { c.Bytes += int64(n) })
	}
	if err != nil && s.ctx.Err() != nil {
		return errDropped
	}
	return err
}

// unpublish says goodbye as a publisher does, within closeWait.
func (s *sess) unpublish() {
	_ = s.conn.SetWriteDeadline(time.Now().Add(closeWait))
	name := s.r.p.streamName()
	b := s.command(nil, "FCUnpublish", 6, 0, nil, name)
	b = s.command(b, "deleteStream", 7, 0, nil, float64(s.streamID))
	_ = s.write(b)
}

// command appends an AMF0 command on the command chunk stream.
func (s *sess) command(b []byte, name string, tx float64, streamID uint32, obj amf0.Value, args ...amf0.Value) []byte {
	payload, err := amf0.EncodeCommand(name, tx, obj, args...)
	if err != nil {
		panic(err) // unreachable: strings, numbers and a flat object always encode
	}
	return s.w.Append(b, chunk.Message{CSID: csidCommand, Type: chunk.TypeCommandAMF0, StreamID: streamID, Payload: payload})
}

// Transaction ids of the join, in order, as an encoder numbers them.
const (
	txConnect      = 1
	txReleaseStrm  = 2
	txFCPublish    = 3
	txCreateStream = 4
	txPublish      = 5
)

// join: chunk size, connect, (releaseStream, FCPublish,) createStream,
// publish, until NetStream.Publish.Start. It returns a reason on failure.
func (s *sess) join() string {
	p := s.r.p
	timer := time.NewTimer(joinTimeout)
	defer timer.Stop()
	if p.opts.Connect.Object == nil || p.opts.Stream == "" || p.opts.PublishType == "" {
		// The publisher's own connect and publish come from the fed bytes:
		// wait until the pump read them (the recorded command phase, fed
		// before any replica is added, so at once in practice).
		select {
		case <-p.seen:
		case <-s.ctx.Done():
			return "ended while joining"
		case <-timer.C:
			return "no publish in the publisher's bytes within " + joinTimeout.String()
		}
	}
	name := p.streamName()
	if name == "" {
		return "no stream name yet"
	}
	connect := p.connectCommand()

	b, _ := s.w.AppendSetChunkSize(nil, outChunkSize)
	b = s.command(b, "connect", txConnect, 0, connect.Object, connect.Args...)
	if err := s.write(b); err != nil {
		return writeReason(err)
	}
	step := "connect"
	for {
		select {
		case <-s.ctx.Done():
			return "ended while joining"
		case <-timer.C:
			return "no answer to " + step + " within " + joinTimeout.String()
		case err := <-s.readErr:
			return readReason(err)
		case b := <-s.ctl:
			if err := s.write(b); err != nil {
				return writeReason(err)
			}
		case cmd := <-s.cmds:
			switch {
			case cmd.Name == "_error" && cmd.TxID == txConnect:
				return "connect refused: " + describe(cmd)
			case cmd.Name == "_result" && cmd.TxID == txConnect:
				b := s.command(nil, "releaseStream", txReleaseStrm, 0, nil, name)
				b = s.command(b, "FCPublish", txFCPublish, 0, nil, name)
				b = s.command(b, "createStream", txCreateStream, 0, nil)
				if err := s.write(b); err != nil {
					return writeReason(err)
				}
				step = "createStream"
			case cmd.Name == "_error" && cmd.TxID == txCreateStream:
				return "createStream refused: " + describe(cmd)
			case cmd.Name == "_result" && cmd.TxID == txCreateStream:
				id, ok := firstNumber(cmd.Args)
				if !ok || id < 0 || id > 0xFFFFFFFF {
					return "createStream: no stream id in the result"
				}
				s.streamID = uint32(id)
				b := s.command(nil, "publish", txPublish, s.streamID, nil, name, p.publishTypeOf())
				if err := s.write(b); err != nil {
					return writeReason(err)
				}
				step = "publish"
			case cmd.Name == "onStatus" && step == "publish":
				code, _ := statusOf(cmd)
				if code == "NetStream.Publish.Start" {
					return ""
				}
				if why := statusFailure(cmd); why != "" {
					return "publish refused: " + why
				}
			case cmd.Name == "_error" && step == "publish":
				return "publish refused: " + describe(cmd)
			}
		}
	}
}

// streamName is the name each replica publishes: the Options' or, when
// that is empty, the publisher's own publish.
func (p *Publish) streamName() string {
	if p.opts.Stream != "" {
		return p.opts.Stream
	}
	if n := p.publishName.Load(); n != nil {
		return *n
	}
	return ""
}

// connectCommand is the connect each replica sends: the publisher's own
// (Options, else the one read from the fed bytes), or, when there is none,
// one of the publisher's app and tcUrl as an encoder would send.
func (p *Publish) connectCommand() amf0.Command {
	if p.opts.Connect.Object != nil {
		return p.opts.Connect
	}
	if c := p.connectCmd.Load(); c != nil {
		return *c
	}
	return amf0.Command{Object: amf0.Object{
		{Key: "app", Value: p.opts.App},
		{Key: "type", Value: "nonprivate"},
		{Key: "flashVer", Value: flashVer},
		{Key: "tcUrl", Value: p.opts.TcURL},
	}}
}

// publishTypeOf is the publish type each replica sends: the publisher's.
func (p *Publish) publishTypeOf() string {
	if p.opts.PublishType != "" {
		return p.opts.PublishType
	}
	if t := p.publishType.Load(); t != nil && *t != "" {
		return *t
	}
	return "live"
}

func firstNumber(args []amf0.Value) (float64, bool) {
	for _, a := range args {
		if f, ok := a.(float64); ok {
			return f, true
		}
	}
	return 0, false
}

// statusOf returns the code and description of an onStatus or _error
// information object.
func statusOf(cmd amf0.Command) (code, desc string) {
	for _, a := range cmd.Args {
		var o amf0.Object
		switch v := a.(type) {
		case amf0.Object:
			o = v
		case amf0.ECMAArray:
			o = amf0.Object(v)
		default:
			continue
		}
		code, _ = o.String("code")
		desc, _ = o.String("description")
		return code, desc
	}
	return "", ""
}

func describe(cmd amf0.Command) string {
	code, desc := statusOf(cmd)
	switch {
	case code == "" && desc == "":
		return cmd.Name
	case desc == "":
		return code
	case code == "":
		return desc
	}
	return code + " (" + desc + ")"
}

// statusFailure names an onStatus that ends a publish: level "error", or a
// code of failure (Publish.BadName, …Failed, …Rejected, Unpublish).
func statusFailure(cmd amf0.Command) string {
	if cmd.Name != "onStatus" {
		return ""
	}
	code, _ := statusOf(cmd)
	level := ""
	for _, a := range cmd.Args {
		if o, ok := a.(amf0.Object); ok {
			level, _ = o.String("level")
			break
		}
	}
	if level == "error" || strings.Contains(code, "BadName") || strings.Contains(code, "Failed") ||
		strings.Contains(code, "Rejected") || strings.Contains(code, "Unpublish") {
		return describe(cmd)
	}
	return ""
}

func readReason(err error) string {
	if isClosed(err) {
		return "server closed"
	}
	return "read: " + err.Error()
}

func writeReason(err error) string {
	if errors.Is(err, errDropped) {
		return "dropped"
	}
	if isClosed(err) {
		return "server closed"
	}
	return "write: " + err.Error()
}

func isClosed(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, io.ErrUnexpectedEOF)
}

// Bounds on what the reader keeps of the server's stream: commands are
// small (a few hundred bytes); the scanner refuses more.
const maxServerCommand = 16 << 10

// read follows what the server sends: it answers pings, acknowledges its
// window, hands commands to the writer and drops the rest.
func (s *sess) read() {
	scan := chunk.NewScanner(chunk.Limits{MaxCommand: maxServerCommand})
	buf := make([]byte, readBuffer)
	for {
		n, err := s.conn.Read(buf)
		if n > 0 {
			if e := safely(func() error { return scan.Feed(buf[:n], s.serverMessage) }); e != nil {
				s.readErr <- fmt.Errorf("server stream: %w", e)
				return
			}
			if total := scan.Consumed(); s.window > 0 && total-s.lastAck >= int64(s.window) {
				s.lastAck = total
				s.sendCtl(chunk.TypeAck, binary.BigEndian.AppendUint32(nil, uint32(total)))
			}
		}
		if err != nil {
			s.readErr <- err
			return
		}
	}
}

// User control events (RTMP spec §7.1.7).
const (
	eventPingRequest  = 6
	eventPingResponse = 7
)

func (s *sess) serverMessage(m chunk.Message) error {
	switch m.Type {
	case chunk.TypeWindowAckSize:
		if len(m.Payload) >= 4 {
			s.window = binary.BigEndian.Uint32(m.Payload)
		}
	case chunk.TypeUserControl:
		if len(m.Payload) >= 6 && binary.BigEndian.Uint16(m.Payload) == eventPingRequest {
			pong := binary.BigEndian.AppendUint16(nil, eventPingResponse)
			s.sendCtl(chunk.TypeUserControl, append(pong, m.Payload[2:6]...))
		}
	case chunk.TypeCommandAMF0, chunk.TypeCommandAMF3:
		cmd, err := amf0.ParseCommand(m.Payload, m.Type)
		if err != nil {
			return nil // a command the session cannot read answers nothing it waits for
		}
		select {
		case s.cmds <- cmd:
		default: // a server flooding commands loses some; the join then times out
		}
	}
	return nil
}

// sendCtl hands a control message to the writer; the reader never writes.
// A writer that cannot keep up loses answers, not memory.
func (s *sess) sendCtl(typ uint8, payload []byte) {
	var w chunk.Writer // one message, fmt 0: the writer's own state is not touched here
	b := w.Append(nil, chunk.Message{CSID: csidControl, Type: typ, Payload: payload})
	select {
	case s.ctl <- b:
	default:
	}
}
