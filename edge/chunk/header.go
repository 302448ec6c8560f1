package chunk

// Chunk header reading. A header is collected in Scanner.hdr, up to 18
// bytes, however the input is split; its length is known only step by step
// (basic header form, then fmt, then the 0xFFFFFF marker or, for fmt 3, the
// chunk stream's state).

// maxHeaderLen is the longest chunk header: 3-byte basic header, 11-byte
// fmt-0 message header, 4-byte extended timestamp.
const maxHeaderLen = 3 + 11 + 4

// msgHeaderLen is the message header length by fmt.
var msgHeaderLen = [4]int{11, 7, 3, 0}

// extendedTimestamp is the 24-bit timestamp field value that announces a
// 4-byte extended timestamp.
const extendedTimestamp = 0xFFFFFF

// readHeader copies header bytes from b into s.hdr until the header is
// complete; it returns how many bytes it took and whether it is complete.
func (s *Scanner) readHeader(b []byte) (int, bool) {
	taken := 0
	for {
		need := s.headerNeed()
		if s.hdrN >= need {
			return taken, true
		}
		n := copy(s.hdr[s.hdrN:need], b[taken:])
		s.hdrN += n
		taken += n
		if s.hdrN < need {
			return taken, false
		}
	}
}

// headerNeed returns the total length of the header in s.hdr as far as the
// bytes read so far tell: each answer is final once that many bytes are in.
func (s *Scanner) headerNeed() int {
	if s.hdrN == 0 {
		return 1
	}
	fmtID := s.hdr[0] >> 6
	basic := basicHeaderLen(s.hdr[0])
	n := basic + msgHeaderLen[fmtID]
	if s.hdrN < n {
		return n
	}
	if fmtID < 3 {
		if be24(s.hdr[basic:]) == extendedTimestamp {
			n += 4
		}
	} else if st := s.lookup(s.csid()); st != nil && st.extended {
		n += 4
	}
	return n
}

func basicHeaderLen(b0 byte) int {
	switch b0 & 0x3F {
	case 0:
		return 2
	case 1:
		return 3
	}
	return 1
}

// csid decodes the basic header in s.hdr (which must be complete).
func (s *Scanner) csid() uint32 {
	switch s.hdr[0] & 0x3F {
	case 0:
		return uint32(s.hdr[1]) + 64
	case 1:
		return uint32(s.hdr[2])<<8 + uint32(s.hdr[1]) + 64
	}
	return uint32(s.hdr[0] & 0x3F)
}

func be24(b []byte) uint32 { return uint32(b[0])<<16 | uint32(b[1])<<8 | uint32(b[2]) }
