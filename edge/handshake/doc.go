// Package handshake ends the client's RTMP handshake on the edge.
//
// The edge answers the client itself (it must read the connect command
// before it can choose a media server), so it must speak both handshakes
// clients use: the simple one of the spec, and the FP9 "digest" handshake
// that Flash Player needs to play H.264/AAC and that FFmpeg players verify
// whenever the first byte of S1's version field (byte 4 of S1) is 3 or more.
// go-rtmp, which the edge uses towards media servers, only does the simple
// handshake (yutopp/go-rtmp issue #7) and reads through its own buffered
// connection, so the bytes that follow C2 could not be kept for the replay.
//
// Serve works on any io.Reader/io.Writer, reads exactly C0+C1+C2 and leaves
// every later byte in the reader. RTMPE (C0 = 6, 8, 9) is refused with
// ErrRTMPE: its payload cannot be parsed without RC4 and DH.
package handshake
