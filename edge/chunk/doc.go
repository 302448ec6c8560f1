// Package chunk follows a client's RTMP chunk stream without changing it.
//
// The edge must read the client's connect command (and later watch for the
// first publish or play) while keeping every client byte verbatim for the
// replay to the media server, and while the bytes already flow. go-rtmp
// cannot do this: its chunk reader owns the connection and decodes every
// message, its header fields are unexported (no pass-through scanning), it
// panics on zero-length messages and, used standalone, after about 1 GiB
// (its Ack hook is nil), it ignores fmt-3 extended timestamps and costs
// about 15 allocations per message.
//
// Scanner is push-style: the caller feeds it whatever it read, split
// anywhere; it tracks the per-chunk-stream header state (fmt 0–3, 1/2/3-byte
// basic headers, extended timestamps, Set Chunk Size, Abort) and hands back
// only the small messages that matter (commands and protocol control);
// media and data messages are skipped without buffering. Memory per scanner
// is bounded by Limits and MaxChunkStreams, whatever the input.
//
// The test data in testdata/ are real client streams recorded with the
// program in internal/capture (its doc comment says how to regenerate them).
package chunk
