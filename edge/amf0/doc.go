// Package amf0 decodes the AMF0 values of RTMP command messages, and the
// three commands the edge acts on: connect (what it routes on), publish and
// play (what the session turns out to be).
//
// go-rtmp decodes commands only inside its own connection and chunk reader,
// which the edge cannot use on a byte stream it must keep verbatim,
// and its decoder fails on AMF3 commands and switch markers.
// This decoder works on a payload the chunk scanner reassembled, has limits
// on depth, value count and string size (every payload here comes from an
// untrusted client), never allocates from a length field it has not
// checked against the bytes left, and stops cleanly at an AMF3 switch so a
// connect with AMF3 user arguments still routes.
package amf0
