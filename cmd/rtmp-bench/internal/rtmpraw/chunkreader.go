package rtmpraw

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
)

// Reader limits. A peer cannot make the reader hold more than
// maxChunkStreams partial messages, nor keep a non-media message larger than
// MaxKeptMessage bytes.
const (
	maxChunkStreams    = 64
	DefaultMaxKept     = 256 << 10
	maxMessageLength   = 0xffffff // the header's 24-bit field
	minChunkSize       = 1
	maxAcceptChunkSize = 1 << 24
)

// Errors of the chunk reader.
var (
	ErrTooManyChunkStreams = errors.New("rtmp: too many chunk streams")
	ErrMessageTooLarge     = errors.New("rtmp: message too large to keep")
	ErrBadChunkSize        = errors.New("rtmp: bad chunk size")
	ErrNoPreviousHeader    = errors.New("rtmp: chunk continues an unknown message")
)

// Message is one complete message. Payload is nil when the reader skipped it
// (media, unless Reader.KeepMedia), and is only valid until the next Read.
type Message struct {
	CSID      int
	Type      uint8
	StreamID  uint32
	Timestamp uint32
	Length    int
	Payload   []byte
}

type chunkStream struct {
	ts       uint32
	delta    uint32 // the last 24-bit timestamp field, applied to the next message (FFmpeg's reading)
	length   int
	typ      uint8
	streamID uint32
	ext      bool // the last header carried an extended timestamp
	started  bool // a header was seen on this csid
	done     int  // payload bytes of the current message read so far
	buf      []byte
	keep     bool
}

// Reader reads RTMP chunks and returns whole messages. It applies Set Chunk
// Size and Abort itself and counts the bytes it read (for Acknowledgements).
type Reader struct {
	br        *bufio.Reader
	chunkSize int
	streams   map[int]*chunkStream
	hdr       [16]byte

	KeepMedia      bool // keep audio/video payloads (default: skip them)
	MaxKeptMessage int  // cap for every kept payload; 0 means DefaultMaxKept
	BytesRead      uint64
}

// NewReader reads chunks from br with the initial chunk size of 128.
func NewReader(br *bufio.Reader) *Reader {
	return &Reader{br: br, chunkSize: 128, streams: make(map[int]*chunkStream)}
}

// Buffered is how many bytes were read from the connection and not yet
// parsed: zero means the next Read waits for the network.
func (r *Reader) Buffered() int { return r.br.Buffered() }

func (r *Reader) readFull(b []byte) error {
	n, err := io.ReadFull(r.br, b)
	r.BytesRead += uint64(n)
	return err
}

// Read returns the next complete message.
func (r *Reader) Read() (Message, error) {
	for {
		m, ok, err := r.readChunk()
		if err != nil || ok {
			return m, err
		}
	}
}

func (r *Reader) readChunk() (Message, bool, error) {
	if err := r.readFull(r.hdr[:1]); err != nil {
		return Message{}, false, err
	}
	fmtType := r.hdr[0] >> 6
	csid := int(r.hdr[0] & 0x3f)
	switch csid {
	case 0:
		if err := r.readFull(r.hdr[:1]); err != nil {
			return Message{}, false, err
		}
		csid = 64 + int(r.hdr[0])
	case 1:
		if err := r.readFull(r.hdr[:2]); err != nil {
			return Message{}, false, err
		}
		csid = 64 + int(r.hdr[0]) + int(r.hdr[1])<<8
	}
	cs := r.streams[csid]
	if cs == nil {
		if len(r.streams) >= maxChunkStreams {
			return Message{}, false, fmt.Errorf("%w: more than %d", ErrTooManyChunkStreams, maxChunkStreams)
		}
		cs = &chunkStream{}
		r.streams[csid] = cs
	}
	if fmtType != 0 && !cs.started {
		return Message{}, false, fmt.Errorf("%w: fmt %d on csid %d", ErrNoPreviousHeader, fmtType, csid)
	}
	if fmtType < 3 && cs.done > 0 {
		cs.done = 0 // a full header mid-message starts a new one (as FFmpeg reads it); the partial one is dropped
	}
	newMessage := cs.done == 0
	hlen := [4]int{11, 7, 3, 0}[fmtType]
	h := r.hdr[:hlen]
	if err := r.readFull(h); err != nil {
		return Message{}, false, err
	}
	if fmtType < 3 {
		tsField := uint32(h[0])<<16 | uint32(h[1])<<8 | uint32(h[2])
		cs.ext = tsField == extendedTimestamp
		if cs.ext {
			if err := r.readFull(r.hdr[12:16]); err != nil {
				return Message{}, false, err
			}
			tsField = binary.BigEndian.Uint32(r.hdr[12:16])
		}
		if fmtType <= 1 {
			cs.length = int(h[3])<<16 | int(h[4])<<8 | int(h[5])
			cs.typ = h[6]
		}
		if fmtType == 0 {
			cs.streamID = binary.LittleEndian.Uint32(h[7:11])
			cs.ts = tsField
		} else {
			cs.ts += tsField
		}
		cs.delta = tsField
		cs.started = true
	} else {
		if cs.ext { // FFmpeg and Flash repeat the extended timestamp on type-3 chunks
			if err := r.readFull(r.hdr[12:16]); err != nil {
				return Message{}, false, err
			}
		}
		if newMessage {
			cs.ts += cs.delta
		}
	}
	if newMessage {
		cs.keep = r.KeepMedia || (cs.typ != TypeAudio && cs.typ != TypeVideo && cs.typ != TypeAggregate)
		limit := r.MaxKeptMessage
		if limit <= 0 {
			limit = DefaultMaxKept
		}
		if cs.keep && cs.length > limit {
			return Message{}, false, fmt.Errorf("%w: type %d, %d bytes", ErrMessageTooLarge, cs.typ, cs.length)
		}
		cs.buf = cs.buf[:0]
	}
	n := min(r.chunkSize, cs.length-cs.done)
	if cs.keep {
		start := len(cs.buf)
		cs.buf = slices.Grow(cs.buf, n)[:start+n]
		if err := r.readFull(cs.buf[start:]); err != nil {
			return Message{}, false, err
		}
	} else {
		d, err := r.br.Discard(n)
		r.BytesRead += uint64(d)
		if err != nil {
			return Message{}, false, err
		}
	}
	cs.done += n
	if cs.done < cs.length {
		return Message{}, false, nil
	}
	cs.done = 0
	m := Message{CSID: csid, Type: cs.typ, StreamID: cs.streamID, Timestamp: cs.ts, Length: cs.length}
	if cs.keep {
		m.Payload = cs.buf
	}
	if err := r.applyControl(m); err != nil {
		return Message{}, false, err
	}
	return m, true, nil
}

// applyControl handles the protocol control messages that change how chunks
// are read.
func (r *Reader) applyControl(m Message) error {
	switch m.Type {
	case TypeSetChunkSize:
		if len(m.Payload) < 4 {
			return fmt.Errorf("%w: %d-byte message", ErrBadChunkSize, len(m.Payload))
		}
		size := int(binary.BigEndian.Uint32(m.Payload) & 0x7fffffff)
		if size < minChunkSize || size > maxAcceptChunkSize {
			return fmt.Errorf("%w: %d", ErrBadChunkSize, size)
		}
		r.chunkSize = size
	case TypeAbort:
		if len(m.Payload) >= 4 {
			if cs := r.streams[int(binary.BigEndian.Uint32(m.Payload))]; cs != nil {
				cs.done = 0
			}
		}
	}
	return nil
}
