package chunk

import (
	"encoding/binary"
	"fmt"
)

// Message is one complete kept message (see Kept), or a media message when
// Limits.MaxMedia asks for them.
type Message struct {
	CSID      uint32 // chunk stream ID, 2–65599
	Type      uint8
	StreamID  uint32 // message stream ID
	Timestamp uint32 // absolute timestamp of the message
	// Payload is the whole message. It aliases the scanner's buffers and
	// is valid only during the emit call, except a media message's
	// (Limits.MaxMedia), which is the callee's to keep.
	Payload []byte
}

// chunkStream is the header state the receiver keeps per chunk stream ID:
// what fmt 1/2/3 headers inherit from the previous header on that stream.
type chunkStream struct {
	csid     uint32
	msid     uint32
	typ      uint8
	length   uint32
	ts       uint32 // timestamp of the current or last message
	delta    uint32 // last delta; after fmt 0 the timestamp itself (spec §5.3.1.2.4)
	extended bool   // the last fmt 0/1/2 header carried an extended timestamp

	remaining uint32 // bytes of the current message not read yet; 0 between messages
	keep      bool   // the current message is buffered in buf
	media     bool   // the kept message is a media message (Limits.MaxMedia)
	buf       []byte
}

// Scanner is a push-style, incremental parser of one client→server chunk
// stream. It never changes the bytes it is fed and never holds on to the
// caller's slice: it tracks the chunk-header state and copies only the
// payloads of kept messages (Kept), which it reassembles and hands to emit. A Scanner is not safe for concurrent use.
//
// Memory: at most MaxChunkStreams chunk streams, at most 2×MaxCommand of
// unfinished kept messages, and up to 2 KiB of spare buffer per chunk stream.
//
// Extended timestamps: a fmt-3 chunk carries 4 extended-timestamp bytes
// when the last fmt 0/1/2 header of its chunk stream had the 0xFFFFFF
// marker; this is what FFmpeg writes and reads and what nginx-rtmp reads
// (publish_time_fix, on by default), and what the spec says. rtmpdump 2.4's
// librtmp does not write them on continuation chunks: such a stream would
// desynchronise here, but only once timestamps pass 0xFFFFFF (4.6 hours);
// every client sends its connect, publish and play with small timestamps.
type Scanner struct {
	maxCommand   uint32
	maxChunkSize uint32
	maxMedia     uint32
	chunkSize    uint32
	consumed     int64
	err          error // sticky: once Feed failed, the stream is unusable

	hdr  [maxHeaderLen]byte
	hdrN int

	cur       *chunkStream // chunk stream whose payload is being read; nil while reading a header
	chunkLeft uint32       // payload bytes left in the current chunk

	streams  []*chunkStream
	last     *chunkStream // lookup cache
	reserved uint32       // sum of the lengths of unfinished kept messages
	// reservedMedia is the same for media messages (Limits.MaxMedia).
	reservedMedia uint32
}

// NewScanner returns a Scanner at the start of a chunk stream (chunk size 128).
func NewScanner(lim Limits) *Scanner {
	return &Scanner{
		maxCommand:   lim.maxCommand(),
		maxChunkSize: lim.maxChunkSize(),
		maxMedia:     lim.maxMedia(),
		chunkSize:    DefaultChunkSize,
	}
}

// ChunkSize returns the client's current chunk size.
func (s *Scanner) ChunkSize() int { return int(s.chunkSize) }

// Consumed returns how many bytes were parsed: all bytes fed so far, or,
// after Feed returned an error, the bytes up to the point of the error (just
// past the message whose emit failed, or the offending header).
func (s *Scanner) Consumed() int64 { return s.consumed }

// Feed parses the next bytes of the chunk stream. b may end anywhere, even
// inside a header: the scanner keeps what it needs. For every complete kept
// message Feed calls emit (nil means no callback); emit's error stops Feed
// and is returned as is. Feed applies Set Chunk Size (to the client's
// following chunks) and Abort itself, and still emits them.
//
// Any error is final: later calls return it again.
func (s *Scanner) Feed(b []byte, emit func(Message) error) error {
	if s.err != nil {
		return s.err
	}
	for len(b) > 0 {
		if s.cur == nil {
			n, done := s.readHeader(b)
			b = b[n:]
			s.consumed += int64(n)
			if !done {
				return nil
			}
			if err := s.startChunk(); err != nil {
				return s.fail(err)
			}
			if err := s.endChunkIfDone(emit); err != nil {
				return s.fail(err)
			}
			continue
		}
		n := min(len(b), int(s.chunkLeft))
		st := s.cur
		if st.keep {
			st.buf = append(st.buf, b[:n]...)
		}
		b = b[n:]
		s.consumed += int64(n)
		s.chunkLeft -= uint32(n)
		st.remaining -= uint32(n)
		if err := s.endChunkIfDone(emit); err != nil {
			return s.fail(err)
		}
	}
	return nil
}

func (s *Scanner) fail(err error) error {
	s.err = err
	return err
}

func (s *Scanner) lookup(csid uint32) *chunkStream {
	if s.last != nil && s.last.csid == csid {
		return s.last
	}
	for _, st := range s.streams {
		if st.csid == csid {
			s.last = st
			return st
		}
	}
	return nil
}

// startChunk applies the complete header in s.hdr to its chunk stream and
// makes it the current one.
func (s *Scanner) startChunk() error {
	fmtID := s.hdr[0] >> 6
	csid := s.csid()
	h := s.hdr[basicHeaderLen(s.hdr[0]):s.hdrN]
	s.hdrN = 0

	st := s.lookup(csid)
	if st == nil {
		if fmtID != 0 {
			return fmt.Errorf("%w: fmt-%d header on chunk stream %d, which never had a fmt-0 header", ErrMalformed, fmtID, csid)
		}
		if len(s.streams) == MaxChunkStreams {
			return fmt.Errorf("%w: more than %d chunk streams", ErrMalformed, MaxChunkStreams)
		}
		st = &chunkStream{csid: csid}
		s.streams = append(s.streams, st)
		s.last = st
	}
	inMessage := st.remaining > 0
	if fmtID < 3 && inMessage {
		return fmt.Errorf("%w: fmt-%d header on chunk stream %d with %d bytes of its message missing", ErrMalformed, fmtID, csid, st.remaining)
	}

	// tsField is the 24-bit timestamp/delta, replaced by the extended one.
	tsField := func() uint32 {
		v := be24(h)
		if v == extendedTimestamp {
			v = binary.BigEndian.Uint32(h[msgHeaderLen[fmtID]:])
		}
		return v
	}
	switch fmtID {
	case 0:
		st.extended = be24(h) == extendedTimestamp
		st.ts = tsField()
		st.delta = st.ts
		st.length = be24(h[3:])
		st.typ = h[6]
		st.msid = binary.LittleEndian.Uint32(h[7:])
	case 1:
		st.extended = be24(h) == extendedTimestamp
		st.delta = tsField()
		st.ts += st.delta
		st.length = be24(h[3:])
		st.typ = h[6]
	case 2:
		st.extended = be24(h) == extendedTimestamp
		st.delta = tsField()
		st.ts += st.delta
	case 3:
		// Continuation, or a new message reusing length, type and delta.
		// Extended-timestamp bytes, if any, repeat the last value: skipped.
		if !inMessage {
			st.ts += st.delta
		}
	}
	if !inMessage {
		if err := s.beginMessage(st); err != nil {
			return err
		}
	}
	s.cur = st
	s.chunkLeft = min(st.remaining, s.chunkSize)
	return nil
}

func (s *Scanner) beginMessage(st *chunkStream) error {
	st.remaining = st.length
	st.keep = Kept(st.typ)
	st.media = false
	if !st.keep && s.maxMedia > 0 && Media(st.typ) {
		return s.beginMedia(st)
	}
	if !st.keep {
		return nil
	}
	switch {
	case st.length == 0:
		return fmt.Errorf("%w: empty message of type %d on chunk stream %d", ErrMalformed, st.typ, st.csid)
	case st.length > s.maxCommand:
		return fmt.Errorf("%w: %d-byte message of type %d (limit %d)", ErrTooLarge, st.length, st.typ, s.maxCommand)
	case s.reserved+st.length > 2*s.maxCommand:
		return fmt.Errorf("%w: %d bytes of unfinished messages (limit %d)", ErrTooLarge, s.reserved+st.length, 2*s.maxCommand)
	}
	s.reserved += st.length
	if uint32(cap(st.buf)) < st.length {
		st.buf = make([]byte, 0, st.length)
	}
	st.buf = st.buf[:0]
	return nil
}

// beginMedia starts keeping a media message in a buffer of its own, which
// goes to emit and is never reused.
func (s *Scanner) beginMedia(st *chunkStream) error {
	switch {
	case st.length > s.maxMedia:
		return fmt.Errorf("%w: %d-byte media message of type %d (limit %d)", ErrTooLarge, st.length, st.typ, s.maxMedia)
	case s.reservedMedia+st.length > 2*s.maxMedia:
		return fmt.Errorf("%w: %d bytes of unfinished media messages (limit %d)", ErrTooLarge, s.reservedMedia+st.length, 2*s.maxMedia)
	}
	s.reservedMedia += st.length
	st.keep, st.media = true, true
	// Memory follows the bytes that arrive, not the length a header
	// declares: a 13-byte header claiming a 4 MiB video message must not
	// cost 4 MiB before a byte of it is sent. Appends grow the rest.
	st.buf = make([]byte, 0, min(st.length, mediaPrealloc))
	return nil
}

// mediaPrealloc is the most beginMedia reserves up front for one media
// message: a video frame of a live stream is rarely larger.
const mediaPrealloc = 64 << 10

// endChunkIfDone ends the current chunk when its payload is complete, and
// the message when that was its last chunk.
func (s *Scanner) endChunkIfDone(emit func(Message) error) error {
	if s.chunkLeft > 0 {
		return nil
	}
	st := s.cur
	s.cur = nil
	if st.remaining > 0 || !st.keep {
		return nil
	}
	return s.endMessage(st, emit)
}

func (s *Scanner) endMessage(st *chunkStream, emit func(Message) error) error {
	if st.media {
		s.reservedMedia -= st.length
		st.keep, st.media = false, false
		m := Message{CSID: st.csid, Type: st.typ, StreamID: st.msid, Timestamp: st.ts, Payload: st.buf}
		st.buf = nil // the payload is emit's now
		if emit == nil {
			return nil
		}
		return emit(m)
	}
	s.reserved -= st.length
	st.keep = false
	m := Message{CSID: st.csid, Type: st.typ, StreamID: st.msid, Timestamp: st.ts, Payload: st.buf}
	defer func() {
		if cap(st.buf) > spareBufferLen {
			st.buf = nil
		}
	}()
	switch m.Type {
	case TypeSetChunkSize:
		if err := s.setChunkSize(m.Payload); err != nil {
			return err
		}
	case TypeAbort:
		if len(m.Payload) < 4 {
			return fmt.Errorf("%w: %d-byte Abort message", ErrMalformed, len(m.Payload))
		}
		s.abort(binary.BigEndian.Uint32(m.Payload))
	}
	if emit == nil {
		return nil
	}
	return emit(m)
}

func (s *Scanner) setChunkSize(p []byte) error {
	if len(p) < 4 {
		return fmt.Errorf("%w: %d-byte message", ErrChunkSize, len(p))
	}
	v := binary.BigEndian.Uint32(p)
	if v == 0 || v&0x80000000 != 0 || v > s.maxChunkSize {
		return fmt.Errorf("%w: %d (0x%08x; allowed 1–%d)", ErrChunkSize, v, v, s.maxChunkSize)
	}
	s.chunkSize = v
	return nil
}

// abort drops the unfinished message of a chunk stream (Abort, type 2).
func (s *Scanner) abort(csid uint32) {
	st := s.lookup(csid)
	if st == nil || st.remaining == 0 {
		return
	}
	switch {
	case st.media:
		s.reservedMedia -= st.length
		st.keep, st.media = false, false
		st.buf = nil
	case st.keep:
		s.reserved -= st.length
		st.keep = false
		st.buf = st.buf[:0]
	}
	st.remaining = 0
}
