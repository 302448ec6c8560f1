// Package command holds the edge's side of the RTMP conversation before a
// session is routed, for routing on the client's real publish or play
// instead of its connect.
//
// A client says what it will do (publish or play, and which stream) only
// after connect, createStream and a few other calls, each of which waits
// for an answer. The edge cannot pick the media server before that, so it
// answers those calls itself, in the shape the backend's media server would
// (learned from the health check's own connect: Template), records every
// client byte, and stops at publish or play without answering it
// (Responder). The caller then dials the chosen server, replays the
// recorded bytes verbatim, and passes the server's bytes to the client
// through a ReplyFilter, which drops the server's answers to what the edge
// already answered and keeps the client's chunk-header state consistent,
// until the server has answered publish or play; from there on the bytes
// flow unchanged (the kernel splice).
//
// Nothing here does I/O: bytes go in, bytes to write and decisions come
// out, and the caller supplies the clock. Every input is untrusted and
// bounded (Limits).
//
// The test data in testdata/ are both directions of real sessions with
// nginx-rtmp (ffmpeg publish and play, rtmpdump play and live play, a
// go-rtmp publish) and with crtmpserver (the same clients, a VOD play, a
// client creating two streams, the health check's connect), recorded with
// internal/capture.
package command
