package chunk

import "encoding/binary"

// stream builds client chunk streams by hand, the way FFmpeg's
// ff_rtmp_packet_write does: a header for the first chunk, fmt-3 headers
// (with the extended timestamp repeated, FFmpeg style) for the rest.
type stream struct {
	b         []byte
	chunkSize int
}

func newStream() *stream { return &stream{chunkSize: DefaultChunkSize} }

func (s *stream) basic(fmtID byte, csid uint32) {
	switch {
	case csid < 64:
		s.b = append(s.b, fmtID<<6|byte(csid))
	case csid < 320:
		s.b = append(s.b, fmtID<<6, byte(csid-64))
	default:
		s.b = append(s.b, fmtID<<6|1, byte(csid-64), byte((csid-64)>>8))
	}
}

// basic3 writes the 3-byte form even for csid 64–319 (allowed by the spec).
func (s *stream) basic3(fmtID byte, csid uint32) {
	s.b = append(s.b, fmtID<<6|1, byte(csid-64), byte((csid-64)>>8))
}

func be24b(v uint32) []byte { return []byte{byte(v >> 16), byte(v >> 8), byte(v)} }

// header writes a message header of the given fmt (basic header already
// written). tsField is the timestamp (fmt 0) or delta (fmt 1, 2).
func (s *stream) header(fmtID byte, tsField uint32, length int, typ uint8, msid uint32) {
	ext := tsField >= 0xFFFFFF
	f := tsField
	if ext {
		f = 0xFFFFFF
	}
	if fmtID < 3 {
		s.b = append(s.b, be24b(f)...)
	}
	if fmtID < 2 {
		s.b = append(s.b, be24b(uint32(length))...)
		s.b = append(s.b, typ)
	}
	if fmtID == 0 {
		s.b = binary.LittleEndian.AppendUint32(s.b, msid)
	}
	if ext {
		s.b = binary.BigEndian.AppendUint32(s.b, tsField)
	}
}

// msg writes a whole message: first chunk with fmtID, continuations fmt 3.
// ext says whether continuation chunks repeat an extended timestamp.
func (s *stream) msg(fmtID byte, csid uint32, tsField uint32, typ uint8, msid uint32, payload []byte) *stream {
	s.basic(fmtID, csid)
	s.header(fmtID, tsField, len(payload), typ, msid)
	s.payload(csid, payload, tsField >= 0xFFFFFF, tsField)
	return s
}

func (s *stream) payload(csid uint32, payload []byte, ext bool, tsField uint32) {
	for i := 0; i < len(payload); i += s.chunkSize {
		if i > 0 {
			s.basic(3, csid)
			if ext {
				s.b = binary.BigEndian.AppendUint32(s.b, tsField)
			}
		}
		s.b = append(s.b, payload[i:min(i+s.chunkSize, len(payload))]...)
	}
}

// setChunkSize writes an OBS-style Set Chunk Size (csid 2, fmt 0, msid 0)
// and switches the builder to it.
func (s *stream) setChunkSize(n uint32) *stream {
	s.msg(0, 2, 0, TypeSetChunkSize, 0, binary.BigEndian.AppendUint32(nil, n))
	s.chunkSize = int(n)
	return s
}

func (s *stream) raw(b ...byte) *stream { s.b = append(s.b, b...); return s }
