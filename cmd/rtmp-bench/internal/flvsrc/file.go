package flvsrc

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/rtmp-edge/rtmp-edge/cmd/rtmp-bench/internal/rtmpraw"
)

// Errors of the FLV parser.
var (
	ErrNotFLV      = errors.New("flv: not an FLV file")
	ErrTruncated   = errors.New("flv: truncated tag")
	ErrNoTags      = errors.New("flv: no audio or video tags")
	ErrFileTooBig  = errors.New("flv: file larger than the limit")
	ErrTooManyTags = errors.New("flv: too many tags")
)

// maxTags bounds the tag index of one file.
const maxTags = 4 << 20

// File is a parsed FLV file.
type File struct {
	Tags     []Tag
	Duration uint32 // ms from the first to the last tag, plus one frame
}

// Load reads and parses an FLV file of at most maxBytes.
func Load(path string, maxBytes int64) (*File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open flv: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read flv %s: %w", path, err)
	}
	if int64(len(b)) > maxBytes {
		return nil, fmt.Errorf("%w: %s over %d bytes", ErrFileTooBig, path, maxBytes)
	}
	return Parse(b)
}

var setDataFrame = rtmpraw.AppendString(nil, "@setDataFrame")

// Parse indexes the tags of an FLV file held in b (the tags share b).
// Script tags get "@setDataFrame" prepended, as a publisher sends them.
func Parse(b []byte) (*File, error) {
	if len(b) < 9 || string(b[:3]) != "FLV" {
		return nil, ErrNotFLV
	}
	off := int(binary.BigEndian.Uint32(b[5:9]))
	if off < 9 || off > len(b) {
		return nil, fmt.Errorf("%w: header size %d", ErrNotFLV, off)
	}
	b = b[off:]
	if len(b) >= 4 {
		b = b[4:] // PreviousTagSize0
	}
	f := &File{}
	var first, last uint32
	for len(b) > 0 {
		if len(b) < 11 {
			return nil, fmt.Errorf("%w: %d-byte tag header", ErrTruncated, len(b))
		}
		typ := b[0] & 0x1f // the top bits are reserved/filter
		size := int(b[1])<<16 | int(b[2])<<8 | int(b[3])
		ts := uint32(b[4])<<16 | uint32(b[5])<<8 | uint32(b[6]) | uint32(b[7])<<24
		if len(b) < 11+size {
			return nil, fmt.Errorf("%w: tag of %d bytes, %d left", ErrTruncated, size, len(b)-11)
		}
		data := b[11 : 11+size]
		b = b[11+size:]
		if len(b) >= 4 {
			b = b[4:] // PreviousTagSize
		}
		if size == 0 {
			continue // an empty message would be invalid on the wire
		}
		switch typ {
		case TagScript:
			data = append(append([]byte(nil), setDataFrame...), data...)
		case TagAudio, TagVideo:
		default:
			continue
		}
		if len(f.Tags) >= maxTags {
			return nil, ErrTooManyTags
		}
		if len(f.Tags) == 0 {
			first = ts
		}
		last = max(last, ts)
		f.Tags = append(f.Tags, Tag{Type: typ, Timestamp: ts, Data: data})
	}
	hasMedia := false
	for _, t := range f.Tags {
		hasMedia = hasMedia || t.Type != TagScript
	}
	if !hasMedia {
		return nil, ErrNoTags
	}
	f.Duration = last - first + 40
	for i := range f.Tags {
		f.Tags[i].Timestamp -= min(first, f.Tags[i].Timestamp)
	}
	return f, nil
}

// Loop returns a Source that plays the file's tags over and over, with
// timestamps continuing across the loops.
func (f *File) Loop() Source { return &fileLoop{f: f} }

type fileLoop struct {
	f      *File
	i      int
	offset uint32
}

func (l *fileLoop) Next() Tag {
	if l.i == len(l.f.Tags) {
		l.i = 0
		l.offset += l.f.Duration
	}
	t := l.f.Tags[l.i]
	l.i++
	t.Timestamp += l.offset
	return t
}
