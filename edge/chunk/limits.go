package chunk

import "errors"

// Defaults and fixed bounds of a Scanner.
const (
	// DefaultMaxCommand bounds a kept message (command or protocol control).
	// Real connect commands are 150–600 bytes; 64 KiB leaves room for long
	// tcUrl/auth query strings and user arguments.
	DefaultMaxCommand = 64 << 10
	// DefaultMaxChunkSize is the largest Set Chunk Size accepted: 0xFFFFFF,
	// the spec's effective maximum ("values above 0xFFFFFF are equivalent
	// to 0xFFFFFF"). The chunk size costs the scanner no memory (chunks are
	// not buffered), so there is no reason to be stricter than the media
	// server behind the edge, which judges the replayed bytes (nginx-rtmp
	// closes above 10 MiB, FFmpeg only refuses <= 0).
	DefaultMaxChunkSize = 0xFFFFFF
	// DefaultChunkSize is every peer's chunk size until it sends Set Chunk Size.
	DefaultChunkSize = 128
	// MaxChunkStreams bounds the chunk streams tracked per scanner; real
	// clients use 2–8 (csid 2 control, 3 commands, 4–8 media).
	MaxChunkStreams = 64
	// spareBufferLen is how much of a finished message's buffer a chunk
	// stream keeps for its next message; larger buffers are dropped so
	// idle chunk streams hold little memory.
	spareBufferLen = 2 << 10
)

// Limits bound what a Scanner accepts. Zero fields take the defaults.
type Limits struct {
	// MaxCommand is the largest command (type 17/20) or protocol-control
	// message kept in memory; longer ones fail with ErrTooLarge. The
	// scanner also refuses to hold more than 2×MaxCommand of unfinished
	// kept messages across all its chunk streams. Default DefaultMaxCommand.
	MaxCommand int
	// MaxChunkSize is the largest Set Chunk Size accepted (at most
	// 0x7FFFFFFF, the spec's range). Default DefaultMaxChunkSize.
	MaxChunkSize int
	// MaxMedia, when above 0, makes the Scanner also keep and emit the
	// media messages (see Media) of up to MaxMedia bytes; longer ones fail
	// with ErrTooLarge, as do more than 2×MaxMedia of unfinished media
	// messages at once. A media payload is a fresh buffer the scanner never
	// touches again, so emit may keep it. 0 (the default) skips media
	// without buffering, which is all routing needs; a replicator needs the
	// messages themselves. At most 0xFFFFFF (the 24-bit length).
	MaxMedia int
}

func (l Limits) maxMedia() uint32 {
	if l.MaxMedia <= 0 {
		return 0
	}
	return uint32(min(l.MaxMedia, 0xFFFFFF))
}

func (l Limits) maxCommand() uint32 {
	if l.MaxCommand <= 0 {
		return DefaultMaxCommand
	}
	if l.MaxCommand > 0xFFFFFF { // the message length field has 24 bits
		return 0xFFFFFF
	}
	return uint32(l.MaxCommand)
}

func (l Limits) maxChunkSize() uint32 {
	if l.MaxChunkSize <= 0 {
		return DefaultMaxChunkSize
	}
	if l.MaxChunkSize > 0x7FFFFFFF {
		return 0x7FFFFFFF
	}
	return uint32(l.MaxChunkSize)
}

// Sentinel errors; returned errors wrap them with details.
var (
	// ErrChunkSize: a Set Chunk Size of 0, with the top bit set, or above
	// Limits.MaxChunkSize.
	ErrChunkSize = errors.New("chunk: invalid Set Chunk Size")
	// ErrTooLarge: a kept message longer than Limits.MaxCommand, or too
	// many unfinished kept messages at once.
	ErrTooLarge = errors.New("chunk: message too large")
	// ErrMalformed: an impossible header sequence (fmt 1/2/3 on a chunk
	// stream never started, a new header in the middle of a message), an
	// empty or short kept message, or too many chunk streams.
	ErrMalformed = errors.New("chunk: malformed chunk stream")
)
