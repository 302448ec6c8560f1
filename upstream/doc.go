// Package upstream is the edge's side towards the media servers.
//
// It holds four things, each in its own files:
//
//   - the dialer (dialer.go, dial_config.go, source.go, proxy_header.go, transparent_*.go):
//     connects to a media server on behalf of one client, plainly from the edge's address,
//     transparently from the client's address (HAProxy's "usesrc clientip" / "usesrc client";
//     Linux IP_TRANSPARENT), or with a PROXY protocol v1/v2 header, and then performs the
//     edge's own simple RTMP handshake with the server (go-rtmp's handshake package), so the
//     caller can replay the client's saved bytes right away;
//   - the start-up check for transparent mode (transparent_check_linux.go): CheckTransparent
//     probes IP_TRANSPARENT and the policy routing that brings the servers' replies back;
//   - the relay (relay.go): copies bytes both ways with half-close, byte counters, an idle
//     timeout that keeps Linux splice(2) between two TCP sockets, and an optional inspector
//     of the first client bytes;
//   - health checks (health*.go, probe_*.go): tcp connect or an RTMP connect probe, with
//     HAProxy's rise/fall semantics, always sourced from the edge's own address.
//
// Ownership: Dial returns a conn that belongs to the caller. Relay takes ownership of both
// conns it is given and closes them before it returns; after the call the caller must not use
// them.
//
// upstream imports no other package of this project.
package upstream
