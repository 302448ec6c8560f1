// Package rtmpraw is a minimal RTMP implementation for load generation: the
// simple handshake, a chunk writer that appends whole messages into one
// buffer (so a publisher writes many messages per system call, with a large
// chunk size), a bounded chunk reader that can skip media payloads without
// copying them, a small AMF0 codec, and the client and server command
// sequences (connect, createStream, publish, play).
//
// go-rtmp flushes after every chunk and allocates per message; this package
// exists so that the bench measures the proxy, not its own client.
package rtmpraw
