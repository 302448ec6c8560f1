// Package replicate publishes one publisher's stream to further media
// servers itself, so that servers which cannot push (or were never told to)
// carry every live stream.
//
// The edge hands a Publish the publisher's client→server bytes (Feed) as
// they pass through the relay, starting right after the RTMP handshake. A
// Publish follows that chunk stream on its own goroutine with edge/chunk's
// Scanner, keeps what a late joiner needs (the latest onMetaData and the
// audio and video sequence headers, Enhanced RTMP ones included), and runs
// one client session per replica server (Add): the publisher's own connect,
// createStream and publish (with the publisher's publish type), then the metadata, the sequence headers and the
// media from the next keyframe, re-chunked with edge/chunk's Writer under
// the replica's stream id with the publisher's timestamps. Media payloads
// are not decoded beyond the first bytes that say keyframe or sequence
// header; AMF3 data and unknown codecs pass unchanged.
//
// Nothing here may cost the publisher: Feed copies into a bounded intake and
// returns; a replica's queue is bounded by Config.Buffer bytes and by
// Config.MaxLag of wall time, and a replica over either bound is dropped
// (with its reason logged) and rejoins after a back-off, from a keyframe;
// so is one offered a single message larger than Buffer. If the intake
// itself overflows (the parser fell behind), or the publisher's chunk
// stream cannot be followed, replication of that publish stops; the
// publisher's own session never notices.
package replicate
