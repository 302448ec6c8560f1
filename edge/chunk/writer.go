package chunk

import (
	"encoding/binary"
	"fmt"
)

// State is the header state a receiver keeps for one chunk stream after a
// message started on it: what the next fmt 1/2/3 header inherits (RTMP spec
// §5.3.1.2). Two peers agree on a chunk stream when their States are equal.
type State struct {
	StreamID  uint32
	Type      uint8
	Length    uint32
	Timestamp uint32 // absolute timestamp of the last message
	Delta     uint32 // what a fmt-3 new message adds; after fmt 0 the timestamp itself
	Extended  bool   // the last fmt 0/1/2 header carried an extended timestamp
}

// Writer turns messages into chunks for one direction of a connection: the
// sender's side of what Scanner follows on the receiver's side. It keeps the
// per-chunk-stream header state and the outgoing chunk size, so it can
// choose header compression the way media servers do, or write every
// message with a type-0 header (which never depends on what the receiver
// saw before, hence what the edge uses when it speaks on a connection whose
// earlier bytes came from someone else).
//
// Extended timestamps follow the convention Scanner reads (FFmpeg, FMS,
// nginx-rtmp, the spec): a timestamp or delta of 0xFFFFFF or more is sent
// as 0xFFFFFF plus 4 bytes, and every fmt-3 chunk of that chunk stream
// repeats the 4 bytes until the next fmt 0/1/2 header.
//
// A Writer appends to the caller's buffer and does no I/O. It is not safe
// for concurrent use.
type Writer struct {
	// Compress selects header compression: fmt 1 when the message stream
	// is the same, fmt 2 when type and length are too, fmt 3 when the
	// delta is too (crtmpserver's rule). When false, every message starts
	// with a fmt-0 header (nginx-rtmp's and SRS's rule for commands).
	Compress bool

	chunkSize uint32
	streams   []writerStream
}

type writerStream struct {
	csid uint32
	st   State
}

// NewWriter returns a Writer at the start of a connection: chunk size 128,
// no chunk stream used yet.
func NewWriter() *Writer { return &Writer{chunkSize: DefaultChunkSize} }

// ChunkSize is the chunk size the Writer cuts payloads at.
func (w *Writer) ChunkSize() int { return int(w.chunkSize) }

// SetChunkSize changes the size of the following chunks. The caller sends
// the Set Chunk Size message itself (AppendSetChunkSize does both), because
// the peer applies a new size only from that message on.
func (w *Writer) SetChunkSize(n uint32) error {
	if n == 0 || n > 0x7FFFFFFF {
		return fmt.Errorf("%w: %d", ErrChunkSize, n)
	}
	w.chunkSize = n
	return nil
}

// State returns the header state of a chunk stream, false if the Writer
// never wrote on it.
func (w *Writer) State(csid uint32) (State, bool) {
	if s := w.lookup(csid); s != nil {
		return s.st, true
	}
	return State{}, false
}

// SetState makes the Writer believe the receiver's state of csid is st, as
// if it had written that message itself: for a filter that forwards someone
// else's chunks and must know what the receiver holds.
func (w *Writer) SetState(csid uint32, st State) {
	if s := w.lookup(csid); s != nil {
		s.st = st
		return
	}
	w.streams = append(w.streams, writerStream{csid: csid, st: st})
}

func (w *Writer) lookup(csid uint32) *writerStream {
	for i := range w.streams {
		if w.streams[i].csid == csid {
			return &w.streams[i]
		}
	}
	return nil
}

// Append appends message m (CSID, Type, StreamID, Timestamp, Payload) as
// chunks, choosing the header by the Compress rule. CSID must be 2–65599
// and the payload under 16 MiB (the 24-bit length); Append panics
// otherwise, since both are the caller's own constants and sizes.
func (w *Writer) Append(b []byte, m Message) []byte {
	fmtID := uint8(0)
	if s := w.lookup(m.CSID); w.Compress && s != nil && m.Timestamp >= s.st.Timestamp && s.st.StreamID == m.StreamID {
		delta := m.Timestamp - s.st.Timestamp
		switch {
		case s.st.Type != m.Type || s.st.Length != uint32(len(m.Payload)):
			fmtID = 1
		case s.st.Delta != delta:
			fmtID = 2
		default:
			fmtID = 3
		}
	}
	b, err := w.AppendFmt(b, fmtID, m)
	if err != nil {
		panic(err) // unreachable: the rule above only picks headers the state allows
	}
	return b
}

// AppendFmt appends m with a first header of the given fmt, which must be
// possible from the chunk stream's state: fmt 1–3 need a previous message
// on m.CSID, a timestamp not behind it, and the inherited fields (stream
// ID; type and length for fmt 2; and the delta for fmt 3) must match m.
func (w *Writer) AppendFmt(b []byte, fmtID uint8, m Message) ([]byte, error) {
	if m.CSID < 2 || m.CSID > 65599 {
		panic(fmt.Sprintf("chunk: chunk stream ID %d out of range 2–65599", m.CSID))
	}
	if len(m.Payload) > 0xFFFFFF {
		panic(fmt.Sprintf("chunk: %d-byte message does not fit a 24-bit length", len(m.Payload)))
	}
	length := uint32(len(m.Payload))
	s := w.lookup(m.CSID)
	var next State
	switch fmtID {
	case 0:
		next = State{StreamID: m.StreamID, Type: m.Type, Length: length, Timestamp: m.Timestamp, Delta: m.Timestamp,
			Extended: m.Timestamp >= extendedTimestamp}
	case 1, 2, 3:
		if s == nil {
			return b, fmt.Errorf("%w: fmt-%d header on chunk stream %d, never written", ErrMalformed, fmtID, m.CSID)
		}
		if m.StreamID != s.st.StreamID || m.Timestamp < s.st.Timestamp {
			return b, fmt.Errorf("%w: fmt-%d header cannot carry stream %d at %d after stream %d at %d",
				ErrMalformed, fmtID, m.StreamID, m.Timestamp, s.st.StreamID, s.st.Timestamp)
		}
		delta := m.Timestamp - s.st.Timestamp
		if fmtID >= 2 && (m.Type != s.st.Type || length != s.st.Length) {
			return b, fmt.Errorf("%w: fmt-%d header cannot change type or length", ErrMalformed, fmtID)
		}
		if fmtID == 3 && delta != s.st.Delta {
			return b, fmt.Errorf("%w: fmt-3 header cannot change the delta (%d, want %d)", ErrMalformed, delta, s.st.Delta)
		}
		next = State{StreamID: m.StreamID, Type: m.Type, Length: length, Timestamp: m.Timestamp, Delta: delta,
			Extended: delta >= extendedTimestamp}
		if fmtID == 3 {
			next.Extended = s.st.Extended
		}
	default:
		return b, fmt.Errorf("%w: fmt %d", ErrMalformed, fmtID)
	}
	b = appendHeader(b, fmtID, m.CSID, next)
	for off := uint32(0); ; {
		n := min(length-off, w.chunkSize)
		b = append(b, m.Payload[off:off+n]...)
		off += n
		if off >= length {
			break
		}
		b = appendHeader(b, 3, m.CSID, next)
	}
	if s == nil {
		w.streams = append(w.streams, writerStream{csid: m.CSID, st: next})
	} else {
		s.st = next
	}
	return b, nil
}

// AppendHeader appends one chunk header: basic header, the message header
// of fmtID filled from st (the state after this header), and the extended
// timestamp when st.Extended. For fmt 0 the timestamp field is
// st.Timestamp, for fmt 1/2 st.Delta; fmt 3 has only the basic header and
// the extended timestamp. It changes no Writer state: a filter that copies
// payload bytes itself uses it to rewrite headers.
func AppendHeader(b []byte, fmtID uint8, csid uint32, st State) []byte {
	return appendHeader(b, fmtID, csid, st)
}

func appendHeader(b []byte, fmtID uint8, csid uint32, st State) []byte {
	switch {
	case csid < 64:
		b = append(b, fmtID<<6|byte(csid))
	case csid < 320:
		b = append(b, fmtID<<6, byte(csid-64))
	default:
		b = append(b, fmtID<<6|1, byte(csid-64), byte((csid-64)>>8))
	}
	ts := st.Delta
	if fmtID == 0 {
		ts = st.Timestamp
	}
	if fmtID < 3 {
		field := min(ts, extendedTimestamp)
		if st.Extended {
			field = extendedTimestamp
		}
		b = append(b, byte(field>>16), byte(field>>8), byte(field))
	}
	if fmtID < 2 {
		b = append(b, byte(st.Length>>16), byte(st.Length>>8), byte(st.Length), st.Type)
	}
	if fmtID == 0 {
		b = binary.LittleEndian.AppendUint32(b, st.StreamID)
	}
	if st.Extended {
		b = binary.BigEndian.AppendUint32(b, ts)
	}
	return b
}

// AppendSetChunkSize appends a Set Chunk Size message (chunk stream 2,
// message stream 0, as every server and client sends it) and applies the
// new size to the chunks that follow it.
func (w *Writer) AppendSetChunkSize(b []byte, n uint32) ([]byte, error) {
	if n == 0 || n > 0x7FFFFFFF {
		return b, fmt.Errorf("%w: %d", ErrChunkSize, n)
	}
	b = w.Append(b, Message{CSID: 2, Type: TypeSetChunkSize, Payload: binary.BigEndian.AppendUint32(nil, n)})
	w.chunkSize = n
	return b, nil
}
