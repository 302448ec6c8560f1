package command

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/rtmp-edge/rtmp-edge/edge/amf0"
	"github.com/rtmp-edge/rtmp-edge/edge/chunk"
)

// Kind is what a routed client does.
type Kind int

const (
	KindUnknown Kind = iota // routed at connect: not known yet
	KindPublish
	KindPlay
)

func (k Kind) String() string {
	switch k {
	case KindPublish:
		return "publish"
	case KindPlay:
		return "play"
	}
	return "unknown"
}

// Routed is the Responder's decision: route the session now.
type Routed struct {
	Kind Kind
	// AtConnect: route on the connect alone (Reason says why); the edge
	// answered nothing, so the media server answers connect itself and the
	// caller relays as it does when routing at connect.
	AtConnect bool
	Reason    string
	Connect   amf0.Connect
	// Command is the publish or play (zero when AtConnect); StreamID the
	// message stream it came on.
	Command  amf0.StreamCommand
	StreamID uint32
	// Stream is the stream name without its query string (the registry
	// key together with Connect.App).
	Stream string
	// Hint is the stream name the client announced before (releaseStream,
	// FCPublish, FCSubscribe), if any.
	Hint string
}

// Limits bound the conversation before routing. Zero fields take the defaults.
type Limits struct {
	// MaxBytes is the most client bytes recorded (and replayed) before
	// routing. Default 64 KiB: a real client sends 300–600 bytes up to
	// publish/play.
	MaxBytes int
	// MaxMessages is the most commands and control messages before
	// routing. Default 64: real clients send 5–8.
	MaxMessages int
}

// Defaults of Limits.
const (
	DefaultMaxBytes    = 64 << 10
	DefaultMaxMessages = 64
)

func (l Limits) withDefaults() Limits {
	if l.MaxBytes <= 0 {
		l.MaxBytes = DefaultMaxBytes
	}
	if l.MaxMessages <= 0 {
		l.MaxMessages = DefaultMaxMessages
	}
	return l
}

// Reasons a client is closed before routing. Errors wrap one of them.
var (
	ErrNotConnect      = errors.New("first command is not connect")
	ErrBadCommand      = errors.New("malformed command")
	ErrTooLarge        = errors.New("too many bytes before publish or play")
	ErrTooManyMessages = errors.New("too many messages before publish or play")
	ErrTimeout         = errors.New("no publish or play in time")
	ErrProtocol        = errors.New("protocol violation before publish or play")
	ErrRouted          = errors.New("already routed")
)

// Config configures a Responder.
type Config struct {
	Template Template // the backend's answer shape; zero value: DefaultTemplate
	Limits   Limits
	// Deadline ends the conversation (ErrTimeout) if no publish or play
	// came before it; zero: none. Feed compares it with the caller's clock.
	Deadline time.Time
}

// Responder answers a client from right after the handshake until it
// publishes or plays. Feed it the client's bytes; write what it returns to
// the client; stop when it returns a Routed. It records every byte it was
// fed (Recorded), to be replayed to the media server.
//
// What it answers, for every family: connect (the template, with the
// client's transaction ID and objectEncoding) and createStream (the
// family's stream ID). releaseStream, FCPublish, FCSubscribe,
// getStreamLength, _checkbw and other calls get what the family's server
// answers (see Family); where that server answers nothing, so does the edge,
// and the server's own answer (if any) reaches the client after the
// replay. Control messages (Set Chunk Size, Window Ack Size, user control)
// and unknown message types are recorded, never answered, never fatal.
// publish and play are never answered: the chosen server answers them.
//
// A connect whose app or tcUrl carries "authmod=" (Adobe or Limelight
// challenge-response login) is routed at once (Routed.AtConnect): its
// challenge comes from the media server and must reach the client, and
// stages 2 and 3 must meet the same server process.
type Responder struct {
	t     Template
	lim   Limits
	end   time.Time
	scan  *chunk.Scanner
	w     *chunk.Writer
	rec   []byte
	msgs  int
	out   []byte
	err   error
	route *Routed

	connect   *amf0.Connect
	replyCSID uint32
	callCSID  uint32 // chunk stream of the call being answered (crtmpserver answers on it)
	hint      string
	streams   []uint32 // stream IDs given by createStream and not deleted
	created   bool     // a createStream was answered (SRS answers other calls only before that)
	sent      sentState
}

// sentState is what the edge told the client, for the ReplyFilter.
type sentState struct {
	answered      map[float64]string // transaction ID → command the edge answered
	createStreams map[float64]uint32 // transaction ID → stream ID the edge gave
	winAck        []byte             // Window Ack Size payload sent, nil if none
	peerBW        []byte             // Set Peer Bandwidth payload sent
	streamBegin0  bool
	onBWDone      int // onBWDone calls sent
	onFCPublish   int
	onFCSubscribe int
}

// NewResponder returns a Responder at the first byte after C2.
func NewResponder(cfg Config) *Responder {
	t := cfg.Template
	if t.Messages == nil {
		t = DefaultTemplate()
	}
	w := chunk.NewWriter()
	w.Compress = t.Compress
	return &Responder{
		t: t, lim: cfg.Limits.withDefaults(), end: cfg.Deadline,
		scan:      chunk.NewScanner(chunk.Limits{}),
		w:         w,
		replyCSID: t.Messages[t.Result].CSID,
		sent:      sentState{answered: map[float64]string{}, createStreams: map[float64]uint32{}},
	}
}

// errStop ends a Feed at the route trigger.
var errStop = errors.New("routed")

// Feed takes the next client bytes, read at now. It returns the bytes to
// write to the client (the edge's answers), and the decision once publish
// or play (or a connect-time route) arrived; the rest of b after that
// message is recorded too and belongs to the media server. An error ends
// the session (the client is closed with it as the reason); it is final.
func (r *Responder) Feed(b []byte, now time.Time) ([]byte, *Routed, error) {
	if r.err != nil {
		return nil, nil, r.err
	}
	if r.route != nil {
		return nil, nil, ErrRouted
	}
	if !r.end.IsZero() && now.After(r.end) {
		return nil, nil, r.fail(fmt.Errorf("%w (%d bytes, %d messages)", ErrTimeout, len(r.rec), r.msgs))
	}
	if len(r.rec)+len(b) > r.lim.MaxBytes {
		return nil, nil, r.fail(fmt.Errorf("%w: more than %d", ErrTooLarge, r.lim.MaxBytes))
	}
	r.rec = append(r.rec, b...)
	r.out = r.out[:0]
	err := r.scan.Feed(b, r.onMessage)
	if err != nil && !errors.Is(err, errStop) {
		if !isOurs(err) {
			err = fmt.Errorf("%w: %w", ErrProtocol, err)
		}
		return nil, nil, r.fail(err)
	}
	return r.out, r.route, nil
}

func isOurs(err error) bool {
	for _, e := range []error{ErrNotConnect, ErrBadCommand, ErrTooManyMessages, ErrProtocol} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

func (r *Responder) fail(err error) error {
	r.err = err
	return err
}

// Recorded is every byte fed so far, verbatim: what the caller replays to
// the media server after the handshake. It aliases the Responder's buffer.
func (r *Responder) Recorded() []byte { return r.rec }

// Expired reports whether the deadline passed at now without a decision
// (for a caller whose read timed out with no bytes to Feed).
func (r *Responder) Expired(now time.Time) bool {
	return r.route == nil && !r.end.IsZero() && now.After(r.end)
}

func (r *Responder) onMessage(m chunk.Message) error {
	r.msgs++
	if r.msgs > r.lim.MaxMessages {
		return fmt.Errorf("%w: more than %d", ErrTooManyMessages, r.lim.MaxMessages)
	}
	if m.Type != chunk.TypeCommandAMF0 && m.Type != chunk.TypeCommandAMF3 {
		return nil // control messages: the scanner applied Set Chunk Size/Abort; nothing to answer
	}
	r.callCSID = m.CSID
	cmd, err := amf0.ParseCommand(m.Payload, m.Type)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrBadCommand, err)
	}
	if r.connect == nil {
		if cmd.Name != "connect" {
			return fmt.Errorf("%w: got %q", ErrNotConnect, truncate(cmd.Name, 32))
		}
		c, err := amf0.ParseConnect(cmd)
		if err != nil {
			return fmt.Errorf("%w: %w", ErrBadCommand, err)
		}
		r.connect = &c
		if strings.Contains(c.App, "authmod=") || strings.Contains(c.TcURL, "authmod=") {
			r.route = &Routed{AtConnect: true, Reason: "challenge-response login (authmod=)", Connect: c}
			return errStop
		}
		_, enhanced := cmd.Object.Get("fourCcList")
		return r.answerConnect(c, m.Type, enhanced)
	}
	switch cmd.Name {
	case "connect":
		return fmt.Errorf("%w: a second connect", ErrProtocol)
	case "publish", "play", "play2":
		return r.routeOn(cmd, m.StreamID)
	case "createStream":
		return r.answerCreateStream(cmd.TxID)
	case "deleteStream":
		r.freeStream(cmd)
		return nil
	case "closeStream":
		// Recorded, not answered, and the ID stays taken: crtmpserver
		// frees a stream's ID only on deleteStream (closeStream makes the
		// stream neutral again, still numbered).
		return nil
	}
	if name, ok := streamArg(cmd); ok && (cmd.Name == "releaseStream" || cmd.Name == "FCPublish" || cmd.Name == "FCSubscribe") {
		r.hint = name
	}
	return r.answerCall(cmd)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// streamArg is a call's first argument when it is a string (the stream
// name of releaseStream, FCPublish, FCSubscribe, getStreamLength).
func streamArg(cmd amf0.Command) (string, bool) {
	if len(cmd.Args) == 0 {
		return "", false
	}
	s, ok := cmd.Args[0].(string)
	return s, ok
}

func (r *Responder) routeOn(cmd amf0.Command, msid uint32) error {
	sc, ok := amf0.ParseStreamCommand(cmd)
	if cmd.Name == "play2" {
		// play2(tid, null, {streamName, oldStreamName, start, len, transition})
		if len(cmd.Args) > 0 {
			if o, isObj := cmd.Args[0].(amf0.Object); isObj {
				if name, has := o.String("streamName"); has {
					sc, ok = amf0.StreamCommand{Name: "play", TxID: cmd.TxID, Stream: name}, true
				}
			}
		}
	}
	if !ok {
		return fmt.Errorf("%w: %s without a stream name", ErrBadCommand, cmd.Name)
	}
	kind := KindPlay
	if sc.Name == "publish" {
		kind = KindPublish
	}
	name, _, _ := strings.Cut(sc.Stream, "?")
	r.route = &Routed{Kind: kind, Reason: sc.Name, Connect: *r.connect, Command: sc, StreamID: msid, Stream: name, Hint: r.hint}
	return errStop
}

// send writes one command message from the edge, on the chunk stream the
// server answers calls on (its _result's), message stream msid, time 0.
func (r *Responder) send(msid uint32, name string, txID float64, obj amf0.Value, args ...amf0.Value) error {
	p, err := amf0.EncodeCommand(name, txID, obj, args...)
	if err != nil {
		return err
	}
	csid := r.replyCSID
	if r.t.Family == FamilyCrtmpserver && r.callCSID != 0 {
		csid = r.callCSID // crtmpserver answers a call on the chunk stream it came on
	}
	r.out = r.w.Append(r.out, chunk.Message{CSID: csid, Type: chunk.TypeCommandAMF0, StreamID: msid, Payload: p})
	return nil
}

// answer sends a _result or _error to transaction txID and notes it, so
// the ReplyFilter drops the server's own answer to it.
func (r *Responder) answer(of string, result string, txID float64, obj amf0.Value, args ...amf0.Value) error {
	if err := r.send(0, result, txID, obj, args...); err != nil {
		return err
	}
	r.sent.answered[txID] = of
	return nil
}

func (r *Responder) answerConnect(c amf0.Connect, msgType uint8, enhanced bool) error {
	encoding := c.ObjectEncoding
	if msgType == chunk.TypeCommandAMF3 && encoding == 0 {
		encoding = 3 // an AMF3 command is an AMF3 client, whatever its object says
	}
	for i, m := range r.t.Messages {
		switch {
		case i == r.t.Result:
			cmd, err := amf0.ParseCommand(m.Payload, m.Type)
			if err != nil {
				return err
			}
			info := amf0.Value(nil)
			var rest []amf0.Value
			if len(cmd.Args) > 0 {
				info, rest = echoEncoding(cmd.Args[0], encoding), cmd.Args[1:]
				if !enhanced {
					info = withoutEnhanced(info)
				}
			}
			props := amf0.Value(nil)
			if cmd.Object != nil {
				props = cmd.Object
				if !enhanced {
					props = withoutEnhanced(cmd.Object)
				}
			}
			p, err := amf0.EncodeCommand("_result", c.TxID, props, append([]amf0.Value{info}, rest...)...)
			if err != nil {
				return err
			}
			m.Payload = p
			r.sent.answered[c.TxID] = "connect"
		case m.Type == chunk.TypeSetChunkSize:
			var err error
			if r.out, err = r.w.AppendSetChunkSize(r.out, binary.BigEndian.Uint32(m.Payload)); err != nil {
				return err
			}
			continue
		case m.Type == chunk.TypeWindowAckSize:
			r.sent.winAck = m.Payload
		case m.Type == chunk.TypeSetPeerBandwidth:
			r.sent.peerBW = m.Payload
		case m.Type == chunk.TypeUserControl && isStreamBegin0(m.Payload):
			r.sent.streamBegin0 = true
		case m.Type == chunk.TypeCommandAMF0:
			if cmd, err := amf0.ParseCommand(m.Payload, m.Type); err == nil && cmd.Name == "onBWDone" {
				r.sent.onBWDone++
			}
		}
		r.out = r.w.Append(r.out, m)
	}
	return nil
}

// enhancedKeys are the Enhanced RTMP fields of a connect answer. A server
// sends them only to a client that advertised the extension (a fourCcList
// in its connect, as the edge's rtmp check does): a client that did not
// gets an answer without them, as that server would give it.
var enhancedKeys = []string{"fourCcList", "capsEx", "videoFourCcInfoMap", "audioFourCcInfoMap"}

// withoutEnhanced returns an object of the answer without the Enhanced RTMP
// fields (a copy when it had any; other values as they are).
func withoutEnhanced(v amf0.Value) amf0.Value {
	o, ok := v.(amf0.Object)
	if !ok {
		return v
	}
	out := make(amf0.Object, 0, len(o))
	for _, p := range o {
		if !slices.Contains(enhancedKeys, p.Key) {
			out = append(out, p)
		}
	}
	return out
}

func isStreamBegin0(p []byte) bool {
	return len(p) == 6 && p[0] == 0 && p[1] == 0 && p[2] == 0 && p[3] == 0 && p[4] == 0 && p[5] == 0
}

// echoEncoding returns the information object with objectEncoding set to
// the client's, as every server does (the client decodes later messages by
// it). A template without the property gets none added.
func echoEncoding(v amf0.Value, encoding float64) amf0.Value {
	info, ok := v.(amf0.Object)
	if !ok {
		return v
	}
	out := make(amf0.Object, len(info))
	copy(out, info)
	for i, p := range out {
		if p.Key == "objectEncoding" {
			out[i].Value = encoding
		}
	}
	return out
}

func (r *Responder) answerCreateStream(txID float64) error {
	id := uint32(1)
	if r.t.LowestFreeStreamID {
		for taken := true; taken; {
			taken = false
			for _, s := range r.streams {
				if s == id {
					id, taken = id+1, true
				}
			}
		}
	}
	if len(r.streams) >= 255 {
		return fmt.Errorf("%w: more than 255 streams created", ErrProtocol)
	}
	r.streams = append(r.streams, id)
	r.created = true
	r.sent.createStreams[txID] = id
	return r.answer("createStream", "_result", txID, nil, float64(id))
}

func (r *Responder) freeStream(cmd amf0.Command) {
	if len(cmd.Args) == 0 {
		return
	}
	f, ok := cmd.Args[0].(float64)
	if !ok {
		return
	}
	for i, s := range r.streams {
		if float64(s) == f {
			r.streams = append(r.streams[:i], r.streams[i+1:]...)
			return
		}
	}
}

// answerCall answers the calls other than connect, createStream and
// publish/play, as the template's family does (see Family).
func (r *Responder) answerCall(cmd amf0.Command) error {
	name, _ := streamArg(cmd)
	switch r.t.Family {
	case FamilySRS:
		// SRS (SrsRtmpServer::identify_client, seen in the captures in
		// testdata/srs-*): releaseStream and FCPublish get _result(null,
		// undefined); any other call gets _result(null, null) until a
		// createStream is answered, and nothing after it (its
		// identify_create_stream_client reads only play, publish,
		// createStream and FCPublish): FFmpeg's and rtmpdump's _checkbw and
		// FCSubscribe come after createStream and go unanswered.
		switch {
		case cmd.Name == "releaseStream" || cmd.Name == "FCPublish":
			return r.answer(cmd.Name, "_result", cmd.TxID, nil, amf0.Undefined{})
		case r.created:
			return nil
		}
		return r.answer(cmd.Name, "_result", cmd.TxID, nil, nil)
	case FamilyCrtmpserver:
		// In crtmpserver's own words (BaseRTMPAppProtocolHandler, seen in
		// the captures in testdata/crtmpserver-*).
		switch cmd.Name {
		case "releaseStream":
			// The edge has published nothing yet: the stream is not found.
			return r.answer(cmd.Name, "_error", cmd.TxID, nil, crtmpCallFailed("Specified stream not found in call to releaseStream"))
		case "getStreamLength":
			return r.answer(cmd.Name, "_result", cmd.TxID, nil, 0.0)
		case "FCPublish":
			if err := r.answer(cmd.Name, "_result", cmd.TxID, nil, nil); err != nil {
				return err
			}
			r.sent.onFCPublish++
			return r.send(0, "onFCPublish", 0, nil, amf0.Object{{Key: "code", Value: "NetStream.Publish.Start"}, {Key: "description", Value: name}})
		case "FCSubscribe":
			r.sent.onFCSubscribe++
			return r.send(0, "onFCSubscribe", 0, nil, amf0.Object{{Key: "code", Value: "NetStream.Play.Start"}, {Key: "description", Value: name}})
		}
		if cmd.TxID == 0 {
			return nil
		}
		return r.answer(cmd.Name, "_error", cmd.TxID, nil, crtmpCallFailed("call to function "+truncate(cmd.Name, 64)+" failed"))
	}
	return nil // nginx-rtmp answers none of them
}

// crtmpCallFailed is crtmpserver's information object of a failed call.
func crtmpCallFailed(description string) amf0.Object {
	return amf0.Object{{Key: "level", Value: "error"}, {Key: "code", Value: "NetConnection.Call.Failed"}, {Key: "description", Value: description}}
}
