package command

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/rtmp-edge/rtmp-edge/edge/chunk"
)

// reader follows a server→client chunk stream chunk by chunk. It is the
// chunk-level twin of chunk.Scanner: the Scanner hands back whole messages
// and hides headers, which is what following a client needs; the
// ReplyFilter must see each chunk's header format and the header state
// before and after it, to decide per message whether the client can read
// the server's header as is, and it copies payloads without reassembling
// media. Header rules are the Scanner's (and the spec's): fmt 0–3, 1/2/3-
// byte basic headers, extended timestamps repeated on fmt-3 chunks.
type reader struct {
	chunkSize uint32
	hdr       [3 + 11 + 4]byte
	hdrN      int
	streams   []rstream
	cur       *rstream
	chunkLeft uint32
	ev        piece
}

type rstream struct {
	csid      uint32
	st        chunk.State
	remaining uint32 // of the current message; 0 between messages
}

// piece is one run of payload bytes of one chunk, with what is known of
// its chunk and message.
type piece struct {
	csid     uint32
	fmtID    uint8       // header format of this chunk
	first    bool        // the first piece of a chunk (its header was just read)
	start    bool        // the first piece of a message
	end      bool        // the last piece of a message
	prev     chunk.State // state of the chunk stream before the message (start only)
	hadPrev  bool        // the chunk stream had a message before (start only)
	st       chunk.State // the message's header state
	payload  []byte      // aliases the input: valid during the callback only
	consumed int         // bytes of the current feed parsed up to the end of this piece
}

var errReaderMalformed = errors.New("malformed chunk stream")

// maxReaderStreams bounds the chunk streams tracked (as chunk.MaxChunkStreams).
const maxReaderStreams = chunk.MaxChunkStreams

func newReader() *reader { return &reader{chunkSize: chunk.DefaultChunkSize} }

func (r *reader) lookup(csid uint32) *rstream {
	for i := range r.streams {
		if r.streams[i].csid == csid {
			return &r.streams[i]
		}
	}
	return nil
}

// atBoundary reports whether no message is partly read on any chunk
// stream and no header is half read.
func (r *reader) atBoundary() bool {
	if r.cur != nil || r.hdrN > 0 {
		return false
	}
	for i := range r.streams {
		if r.streams[i].remaining > 0 {
			return false
		}
	}
	return true
}

// feed parses b and calls fn for every payload piece (and once, without
// payload, for an empty message). fn may stop the feed with an error,
// returned as is; fn may change the chunk size (a Set Chunk Size message
// just ended) or abort a message: both apply to the bytes after the piece.
func (r *reader) feed(b []byte, fn func(*piece) error) error {
	off := 0
	for off < len(b) {
		if r.cur == nil {
			n, done, err := r.readHeader(b[off:])
			off += n
			if err != nil {
				return err
			}
			if !done {
				return nil
			}
			if err := r.startChunk(); err != nil {
				return err
			}
			if r.chunkLeft == 0 { // an empty message
				r.ev.end = true
				r.ev.payload = nil
				r.ev.consumed = off
				r.cur = nil
				if err := fn(&r.ev); err != nil {
					return err
				}
			}
			continue
		}
		n := min(len(b)-off, int(r.chunkLeft))
		st := r.cur
		r.chunkLeft -= uint32(n)
		st.remaining -= uint32(n)
		r.ev.payload = b[off : off+n]
		off += n
		r.ev.consumed = off
		r.ev.end = st.remaining == 0
		if r.chunkLeft == 0 {
			r.cur = nil
		}
		if err := fn(&r.ev); err != nil {
			return err
		}
		r.ev.first, r.ev.start = false, false
	}
	return nil
}

func (r *reader) readHeader(b []byte) (int, bool, error) {
	taken := 0
	for {
		need := r.headerNeed()
		if r.hdrN >= need {
			return taken, true, nil
		}
		if taken == len(b) {
			return taken, false, nil
		}
		n := copy(r.hdr[r.hdrN:need], b[taken:])
		r.hdrN += n
		taken += n
	}
}

var msgHeaderLen = [4]int{11, 7, 3, 0}

func basicLen(b0 byte) int {
	switch b0 & 0x3F {
	case 0:
		return 2
	case 1:
		return 3
	}
	return 1
}

func (r *reader) csid() uint32 {
	switch r.hdr[0] & 0x3F {
	case 0:
		return uint32(r.hdr[1]) + 64
	case 1:
		return uint32(r.hdr[2])<<8 + uint32(r.hdr[1]) + 64
	}
	return uint32(r.hdr[0] & 0x3F)
}

func (r *reader) headerNeed() int {
	if r.hdrN == 0 {
		return 1
	}
	fmtID := r.hdr[0] >> 6
	basic := basicLen(r.hdr[0])
	n := basic + msgHeaderLen[fmtID]
	if r.hdrN < n {
		return n
	}
	if fmtID < 3 {
		if be24(r.hdr[basic:]) == 0xFFFFFF {
			n += 4
		}
	} else if s := r.lookup(r.csid()); s != nil && s.st.Extended {
		n += 4
	}
	return n
}

func be24(b []byte) uint32 { return uint32(b[0])<<16 | uint32(b[1])<<8 | uint32(b[2]) }

func (r *reader) startChunk() error {
	fmtID := r.hdr[0] >> 6
	csid := r.csid()
	h := r.hdr[basicLen(r.hdr[0]):r.hdrN]
	r.hdrN = 0
	s := r.lookup(csid)
	hadPrev := s != nil
	if s == nil {
		if fmtID != 0 {
			return fmt.Errorf("%w: fmt-%d header on chunk stream %d, which never had a fmt-0 header", errReaderMalformed, fmtID, csid)
		}
		if len(r.streams) == maxReaderStreams {
			return fmt.Errorf("%w: more than %d chunk streams", errReaderMalformed, maxReaderStreams)
		}
		r.streams = append(r.streams, rstream{csid: csid})
		s = &r.streams[len(r.streams)-1]
	}
	inMessage := s.remaining > 0
	if fmtID < 3 && inMessage {
		return fmt.Errorf("%w: fmt-%d header on chunk stream %d inside a message", errReaderMalformed, fmtID, csid)
	}
	prev := s.st
	tsField := func() uint32 {
		if v := be24(h); v != 0xFFFFFF {
			return v
		}
		return binary.BigEndian.Uint32(h[msgHeaderLen[fmtID]:])
	}
	st := &s.st
	switch fmtID {
	case 0:
		st.Extended = be24(h) == 0xFFFFFF
		st.Timestamp = tsField()
		st.Delta = st.Timestamp
		st.Length = be24(h[3:])
		st.Type = h[6]
		st.StreamID = binary.LittleEndian.Uint32(h[7:])
	case 1:
		st.Extended = be24(h) == 0xFFFFFF
		st.Delta = tsField()
		st.Timestamp += st.Delta
		st.Length = be24(h[3:])
		st.Type = h[6]
	case 2:
		st.Extended = be24(h) == 0xFFFFFF
		st.Delta = tsField()
		st.Timestamp += st.Delta
	case 3:
		if !inMessage {
			st.Timestamp += st.Delta
		}
	}
	r.ev = piece{csid: csid, fmtID: fmtID, first: true, start: !inMessage, st: s.st}
	if !inMessage {
		r.ev.prev, r.ev.hadPrev = prev, hadPrev
		s.remaining = st.Length
	}
	r.cur = s
	r.chunkLeft = min(s.remaining, r.chunkSize)
	return nil
}

// setChunkSize applies a Set Chunk Size the stream carried.
func (r *reader) setChunkSize(v uint32) error {
	if v == 0 || v&0x80000000 != 0 || v > chunk.DefaultMaxChunkSize {
		return fmt.Errorf("%w: Set Chunk Size %d", errReaderMalformed, v)
	}
	r.chunkSize = v
	return nil
}

// abort drops the unfinished message of a chunk stream (Abort, type 2).
func (r *reader) abort(csid uint32) {
	if s := r.lookup(csid); s != nil && (r.cur == nil || r.cur.csid != csid) {
		s.remaining = 0
	}
}
