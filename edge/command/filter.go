package command

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/rtmp-edge/rtmp-edge/edge/amf0"
	"github.com/rtmp-edge/rtmp-edge/edge/chunk"
)

// ErrRefused: the media server refused the replayed connect (an _error, or
// a _result without NetConnection.Connect.Success), which the edge had
// already accepted. The filter's output then ends with an onStatus error on
// the client's stream; the caller writes it and closes the session.
var ErrRefused = errors.New("media server refused the connect")

// ErrStreamID: the media server's answer to a createStream the edge had
// answered gave another message stream ID than the edge did (or refused
// it). The client sends everything after on the edge's ID, and its bytes
// reach the server unchanged (spliced), so the session cannot go on
// correctly. The filter's output then ends with an onStatus error on the
// client's stream, as with ErrRefused.
var ErrStreamID = errors.New("media server gave another stream ID")

// ErrFilter: the server's byte stream cannot be followed (malformed chunk
// headers, a held message over the limit); the session ends.
var ErrFilter = errors.New("reply filter")

// maxHeld bounds a control or command message the filter holds until it is
// complete (the same bound the client side has).
const maxHeld = chunk.DefaultMaxCommand

// ReplyFilter passes the media server's bytes to the client after the edge
// replayed the client's recorded bytes to it, until the client and the
// server agree on everything and the bytes can flow unchanged (Done).
//
// What it drops, and why:
//   - the server's _result/_error to every transaction the edge answered
//     (connect, createStream, and the family's answers to releaseStream,
//     FCPublish, …): the client has its answer; a second one is at best
//     ignored (FFmpeg, librtmp) and at worst taken for the answer to a
//     later call.
//   - Window Ack Size and Set Peer Bandwidth equal to what the edge sent,
//     StreamBegin(0), onBWDone, onFCPublish and onFCSubscribe when the edge
//     sent them: repeats the client already acted on (a repeated Set Peer
//     Bandwidth makes some clients send a Window Ack Size again). A value
//     that differs is forwarded: the server's own value is what it will
//     hold the client to, so it must win over the template's.
//   - a Set Chunk Size equal to the client's current inbound chunk size: a
//     no-op (FFmpeg publishing would echo it). Any other Set Chunk Size is
//     forwarded and applied, because the filter never re-chunks what it
//     passes on: the client must cut the server's chunks where the server
//     does.
//
// What it rewrites: a message whose header the client would read
// differently than the server meant it — because the client's last header
// on that chunk stream came from the edge's answers, or from a message the
// filter dropped — goes out with a type-0 header (which inherits nothing).
// Everything else (onStatus, |RtmpSampleAccess, media, pings, Set Chunk
// Size, calls from the server) is forwarded in order.
//
// What it checks: the server's answers to the replayed connect (a refusal
// ends the session: ErrRefused) and createStream calls. The edge answers
// createStream with the ID its template's family gives (always 1 for
// nginx-rtmp and SRS, the lowest free one from 1 for crtmpserver), which is
// what the server itself answers unless the pool mixes families or a
// server numbers its streams its own way. The client's bytes go to the
// server unchanged (that direction is spliced from the first replayed
// byte), so a different ID cannot be mapped on the way back alone: the
// client's media and commands would reach the server on a stream it does
// not know. The session ends with ErrStreamID instead, never silently wrong.
//
// Done: the server answered the routed publish/play (its first onStatus on a
// message stream: servers handle a connection's commands in order, so no
// answer to an earlier call can follow), no message is half sent on any
// chunk stream, and on every chunk stream the
// server used the client's header state is the server's. With a template
// learned from the same server the edge's answers leave the client in the
// server's state on the chunk streams they share, so this holds at the
// server's onStatus (nginx-rtmp: every capture in testdata/). Otherwise the
// filter stays in the path until the server itself resets each differing
// chunk stream with a type-0 header: trusting a family to always send one
// would break the client the first time a server does not (a mixed pool, a
// template learned from another server).
type ReplyFilter struct {
	r      *reader
	w      *chunk.Writer // what the client holds: its header state and inbound chunk size
	sent   sentState
	routed Routed
	holds  []hold
	synced bool
	done   bool
	err    error
	out    []byte
}

type hold struct {
	csid    uint32
	fmtID   uint8
	prev    chunk.State
	hadPrev bool
	st      chunk.State
	buf     []byte
	cut     bool   // not held: passed through as its chunks come
	left    uint32 // cut: payload bytes of the message not written yet
	cleft   uint32 // cut: bytes left in the chunk being written to the client
}

// ReplyFilter returns the filter for the server's bytes after the replay of
// Recorded, continuing from what the Responder told the client. It is nil
// before a decision and for a session routed at connect (the server answers
// connect itself; there is nothing to filter).
func (r *Responder) ReplyFilter() *ReplyFilter {
	if r.route == nil || r.route.AtConnect {
		return nil
	}
	return &ReplyFilter{r: newReader(), w: r.w, sent: r.sent, routed: *r.route}
}

// Answered reports that the server has answered the routed publish or
// play: no answer to a call the edge answered can follow. A filter that is
// Answered but not Done must stay in the path (the client's header state
// differs from the server's on a chunk stream the server may use again),
// but nothing more will be dropped: the caller can relay through it.
func (f *ReplyFilter) Answered() bool { return f.synced }

// Done reports that the filter has finished: from the byte after what the
// last Feed returned, the server's bytes go to the client unchanged.
func (f *ReplyFilter) Done() bool { return f.done }

var errDone = errors.New("done")

// Feed takes the next server bytes and returns the bytes to write to the
// client. Once Done, it returns b itself (the tail of the Feed that became
// Done is included, unchanged). An error is final; with ErrRefused the
// returned bytes are still to be written.
func (f *ReplyFilter) Feed(b []byte) ([]byte, error) {
	if f.err != nil {
		return nil, f.err
	}
	if f.done {
		return b, nil
	}
	f.out = f.out[:0]
	err := f.r.feed(b, func(p *piece) error {
		if err := f.onPiece(p); err != nil {
			return err
		}
		if p.end && f.finished() {
			f.done = true
			f.out = append(f.out, b[p.consumed:]...)
			return errDone
		}
		return nil
	})
	switch {
	case err == nil, errors.Is(err, errDone):
		return f.out, nil
	case errors.Is(err, ErrRefused), errors.Is(err, ErrStreamID):
		f.err = err
		return f.out, err
	case errors.Is(err, ErrFilter):
		f.err = err
	default:
		f.err = fmt.Errorf("%w: %w", ErrFilter, err)
	}
	return nil, f.err
}

func (f *ReplyFilter) finished() bool {
	if !f.synced || !f.r.atBoundary() || uint32(f.w.ChunkSize()) != f.r.chunkSize {
		return false
	}
	for _, s := range f.r.streams {
		if c, ok := f.w.State(s.csid); !ok || c != s.st {
			return false
		}
	}
	return true
}

func (f *ReplyFilter) holdOf(csid uint32) *hold {
	for i := range f.holds {
		if f.holds[i].csid == csid {
			return &f.holds[i]
		}
	}
	f.holds = append(f.holds, hold{csid: csid})
	return &f.holds[len(f.holds)-1]
}

// inherits reports whether the client reads a header of format fmtID the
// way the server meant it: the fields that format inherits are equal.
func inherits(fmtID uint8, client chunk.State, hasClient bool, server chunk.State) bool {
	if fmtID == 0 {
		return true
	}
	if !hasClient || client.StreamID != server.StreamID || client.Timestamp != server.Timestamp {
		return false
	}
	switch fmtID {
	case 1:
		return true
	case 2:
		return client.Type == server.Type && client.Length == server.Length
	}
	return client == server
}

func (f *ReplyFilter) onPiece(p *piece) error {
	h := f.holdOf(p.csid)
	if p.start {
		*h = hold{csid: p.csid, fmtID: p.fmtID, prev: p.prev, hadPrev: p.hadPrev, st: p.st, buf: h.buf[:0]}
		// Held whole before deciding: the messages the filter may drop or
		// patch (control and commands, all small). Media and data pass
		// through as their chunks come.
		if !chunk.Kept(p.st.Type) {
			h.cut = true
			if err := f.startCut(h); err != nil {
				return err
			}
		}
	}
	if h.cut {
		f.writeCut(h, p.payload)
		return nil
	}
	if len(h.buf)+len(p.payload) > maxHeld {
		return fmt.Errorf("%w: a %d-byte message of type %d on chunk stream %d", ErrFilter, h.st.Length, h.st.Type, p.csid)
	}
	h.buf = append(h.buf, p.payload...)
	if !p.end {
		return nil
	}
	return f.decide(h)
}

// startCut writes the first header of a passed-through message: the
// server's own format when the client reads it the same way, else type 0.
func (f *ReplyFilter) startCut(h *hold) error {
	if err := f.syncChunkSize(); err != nil {
		return err
	}
	c, ok := f.w.State(h.csid)
	st, fmtID := h.st, h.fmtID
	if !inherits(fmtID, c, ok, h.prev) {
		fmtID = 0
		st.Delta, st.Extended = st.Timestamp, st.Timestamp >= 0xFFFFFF
	}
	f.out = chunk.AppendHeader(f.out, fmtID, h.csid, st)
	f.w.SetState(h.csid, st)
	h.left = st.Length
	h.cleft = min(h.left, uint32(f.w.ChunkSize()))
	return nil
}

// syncChunkSize makes the client cut the server's chunks where the server
// does before anything of the server's is written: the edge told the
// client its template's chunk size, and a server that has not sent (or
// does not send) the same Set Chunk Size still cuts at its own. The filter
// then never re-chunks a message in flight: a client chunk would otherwise
// span server chunks that other chunk streams' chunks may come between.
func (f *ReplyFilter) syncChunkSize() error {
	if uint32(f.w.ChunkSize()) == f.r.chunkSize {
		return nil
	}
	// The edge's Set Chunk Size goes on the control chunk stream (2); a
	// server message passing through there unfinished would be cut in two.
	for i := range f.holds {
		if h := &f.holds[i]; h.csid == controlCSID && h.cut && h.left > 0 {
			return fmt.Errorf("%w: the server changed its chunk size while its message on chunk stream %d was unfinished", ErrFilter, controlCSID)
		}
	}
	out, err := f.w.AppendSetChunkSize(f.out, f.r.chunkSize)
	if err != nil {
		panic(err) // unreachable: the reader accepts only valid sizes
	}
	f.out = out
	return nil
}

// controlCSID is the chunk stream of protocol control messages, where the
// chunk writer puts the edge's own Set Chunk Size.
const controlCSID = 2

// writeCut writes payload bytes of a passed-through message, cut into
// chunks at the client's chunk size, which syncChunkSize keeps equal to
// the server's: the server's own cuts, with headers from the client's state.
func (f *ReplyFilter) writeCut(h *hold, b []byte) {
	for len(b) > 0 {
		if h.cleft == 0 {
			st, _ := f.w.State(h.csid)
			f.out = chunk.AppendHeader(f.out, 3, h.csid, st)
			h.cleft = min(h.left, uint32(f.w.ChunkSize()))
		}
		n := min(uint32(len(b)), h.cleft)
		f.out = append(f.out, b[:n]...)
		b = b[n:]
		h.cleft -= n
		h.left -= n
	}
}

// forward writes a held message, with the server's header format when the
// client reads it the same way, else type 0, cut at the client's chunk size.
func (f *ReplyFilter) forward(h *hold, payload []byte) error {
	if err := f.syncChunkSize(); err != nil {
		return err
	}
	m := chunk.Message{CSID: h.csid, Type: h.st.Type, StreamID: h.st.StreamID, Timestamp: h.st.Timestamp, Payload: payload}
	c, ok := f.w.State(h.csid)
	if inherits(h.fmtID, c, ok, h.prev) {
		if out, err := f.w.AppendFmt(f.out, h.fmtID, m); err == nil {
			f.out = out
			return nil
		}
	}
	out, err := f.w.AppendFmt(f.out, 0, m)
	if err != nil {
		panic(err) // unreachable: a type-0 header can carry any message
	}
	f.out = out
	return nil
}

func (f *ReplyFilter) decide(h *hold) error {
	p := h.buf
	switch h.st.Type {
	case chunk.TypeSetChunkSize:
		if len(p) < 4 {
			return fmt.Errorf("%w: %d-byte Set Chunk Size", ErrFilter, len(p))
		}
		v := binary.BigEndian.Uint32(p)
		if err := f.r.setChunkSize(v); err != nil {
			return err
		}
		if v == uint32(f.w.ChunkSize()) {
			return nil
		}
		if err := f.forward(h, p); err != nil {
			return err
		}
		return f.w.SetChunkSize(v)
	case chunk.TypeAbort:
		if len(p) >= 4 {
			f.r.abort(binary.BigEndian.Uint32(p))
		}
	case chunk.TypeWindowAckSize:
		if f.sent.winAck != nil && string(p) == string(f.sent.winAck) {
			f.sent.winAck = nil
			return nil
		}
	case chunk.TypeSetPeerBandwidth:
		if f.sent.peerBW != nil && string(p) == string(f.sent.peerBW) {
			f.sent.peerBW = nil
			return nil
		}
	case chunk.TypeUserControl:
		if f.sent.streamBegin0 && isStreamBegin0(p) {
			f.sent.streamBegin0 = false
			return nil
		}
	case chunk.TypeCommandAMF0, chunk.TypeCommandAMF3:
		drop, err := f.command(h)
		if err != nil || drop {
			return err
		}
	}
	return f.forward(h, p)
}

// command decides on a server command: drop it (an answer the client has),
// or forward it, noting the end of the sync.
func (f *ReplyFilter) command(h *hold) (bool, error) {
	cmd, err := amf0.ParseCommand(h.buf, h.st.Type)
	if err != nil {
		return false, nil // not ours to judge: the client gets what the server sent
	}
	switch cmd.Name {
	case "_result", "_error":
		of, answered := f.sent.answered[cmd.TxID]
		if !answered {
			if h.st.StreamID != 0 || cmd.TxID == f.routed.Command.TxID {
				f.synced = true // an answer to publish/play itself
			}
			return false, nil
		}
		delete(f.sent.answered, cmd.TxID)
		switch of {
		case "connect":
			return true, f.checkConnect(cmd)
		case "createStream":
			return true, f.checkCreateStream(cmd)
		}
		return true, nil
	case "onBWDone":
		if f.sent.onBWDone > 0 {
			f.sent.onBWDone--
			return true, nil
		}
	case "onFCPublish":
		if f.sent.onFCPublish > 0 {
			f.sent.onFCPublish--
			return true, nil
		}
	case "onFCSubscribe":
		if f.sent.onFCSubscribe > 0 {
			f.sent.onFCSubscribe--
			return true, nil
		}
	case "onStatus":
		if h.st.StreamID != 0 {
			f.synced = true
		}
	}
	return false, nil
}

func firstNumber(args []amf0.Value) (float64, bool) {
	if len(args) == 0 {
		return 0, false
	}
	v, ok := args[0].(float64)
	return v, ok
}

// checkConnect turns a refused replayed connect into the client's failure:
// an onStatus error on its stream (it believes it is connected and waits
// for its publish or play to start), then ErrRefused.
func (f *ReplyFilter) checkConnect(cmd amf0.Command) error {
	var info amf0.Object
	if len(cmd.Args) > 0 {
		info, _ = cmd.Args[0].(amf0.Object)
	}
	code, _ := info.String("code")
	if cmd.Name == "_result" && code == "NetConnection.Connect.Success" {
		return nil
	}
	desc, _ := info.String("description")
	if err := f.fail(truncate(code+": "+desc, 1024)); err != nil {
		return err
	}
	return fmt.Errorf("%w: %s %q %q", ErrRefused, cmd.Name, code, truncate(desc, 256))
}

// checkCreateStream ends the session when the server's stream ID for a
// createStream differs from the one the edge gave (see ReplyFilter).
func (f *ReplyFilter) checkCreateStream(cmd amf0.Command) error {
	given := f.sent.createStreams[cmd.TxID]
	id, ok := firstNumber(cmd.Args)
	if cmd.Name == "_result" && ok && id == float64(given) {
		return nil
	}
	var why string
	if cmd.Name == "_result" && ok {
		why = fmt.Sprintf("the media server gave stream %v to createStream %v, the edge had given %d", id, cmd.TxID, given)
	} else {
		why = fmt.Sprintf("the media server answered createStream %v with %s, not a stream ID", cmd.TxID, cmd.Name)
	}
	if err := f.fail(why); err != nil {
		return err
	}
	return fmt.Errorf("%w: %s", ErrStreamID, why)
}

// Abandon returns the bytes that tell the client its publish or play failed
// because the media server went away before answering it (closed the
// connection, did not answer in time, sent bytes that cannot be followed):
// an onStatus error on the client's stream, saying why. The client already
// had its connect answered by the edge, so without it the client sees a
// connection that closes for no reason. Nil when the server answered, when
// the filter already told the client (ErrRefused, ErrStreamID), or when a
// message to the client stopped in its middle (a status there would be read
// as the rest of that message).
func (f *ReplyFilter) Abandon(why string) []byte {
	if f.synced || f.done || errors.Is(f.err, ErrRefused) || errors.Is(f.err, ErrStreamID) || !f.r.atBoundary() {
		return nil
	}
	f.out = f.out[:0]
	if err := f.fail(truncate(why, 1024)); err != nil {
		return nil
	}
	return f.out
}

// fail writes the client's failure: an onStatus error on its stream, in
// the kind's words (Publish.Denied, Play.Failed), saying why.
func (f *ReplyFilter) fail(description string) error {
	status := "NetStream.Play.Failed"
	if f.routed.Kind == KindPublish {
		status = "NetStream.Publish.Denied"
	}
	p, err := amf0.EncodeCommand("onStatus", 0, nil, amf0.Object{{Key: "level", Value: "error"}, {Key: "code", Value: status},
		{Key: "description", Value: description}})
	if err != nil {
		return err
	}
	if err := f.syncChunkSize(); err != nil {
		return err
	}
	out, err := f.w.AppendFmt(f.out, 0, chunk.Message{CSID: 5, Type: chunk.TypeCommandAMF0, StreamID: f.routed.StreamID, Payload: p})
	if err != nil {
		return err
	}
	f.out = out
	return nil
}
