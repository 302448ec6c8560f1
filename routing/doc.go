// Package routing decides which media server an RTMP session goes to: it classifies
// the session as a play or a publish, applies source-IP affinity, balances by weight,
// and enforces per-server connection limits with a bounded FIFO queue. It replaces the
// HAProxy backend of the reference set-up (`balance roundrobin`, `stick-table type ip
// size 200k expire 20m`, `stick on src`, `server ... weight W maxconn 200`) and keeps
// its semantics except where HAProxy gets them wrong for RTMP (listed below). It does
// no I/O; the session pipeline calls it between reading what the client wants (its
// `connect`, or its publish/play command) and dialling.
//
// # Using it
//
// NewPool validates a PoolConfig (every error carries its field path, e.g.
// "servers[2].weight: must be 0..256 ..., got 300") and builds the servers, all healthy.
// For each session the caller classifies the connect command with Pool.Classifier,
// then calls Pool.Acquire, which returns a Lease holding one connection slot on
// Lease.Server. The caller Confirms the lease once the server was really reached (dial
// and backend handshake succeeded) and Releases it when the session ends (defer it:
// Release is idempotent). When a dial fails, the caller Releases without Confirm and
// calls Acquire again with the failed servers in Request.Exclude; nothing has reached
// the client yet, so the retry is invisible. Health checkers call Server.SetHealthy,
// operators Server.SetState and Server.SetWeight; none of them touches running
// sessions. A reload calls Pool.Update with the new config: the pool is changed in
// place by server name, so slots, health, stick entries, queued sessions and the
// operator's changes (unless the config changed that server) survive.
//
// # Server state
//
// Health (up/down, from the checks) and the operator's state are separate. ready
// takes everything; drain takes only clients stuck to the server (HAProxy's drain);
// maint takes nothing new, its stuck clients are balanced elsewhere. Weight 0 is
// HAProxy's too: the balancer never picks the server, stuck clients still get in.
//
// # Classification
//
// Operator rules (regexps on app without its "?query", tcUrl and flashVer; all given
// fields must match; the first matching rule wins) come first. Then a connect with
// type "nonprivate" or a flashVer starting with "FMLE/" (FMLE, ffmpeg, OBS) is a
// publish; everything else is a play. The reason string says which rule or default
// decided (`rule 2 (app "^ingest")`, `flashVer "FMLE/3.0 (...)"`, "default: play").
//
// # Picking a server
//
// Candidates: a play may use every server; a publish uses the `upload: true` servers
// and, only when none of them is usable (down, draining, full or excluded), the other
// servers ("upload-fallback" in the reason). Servers in Request.Exclude are never
// candidates. If the client's stick entry names a candidate that is healthy, not in
// maint and has a free slot, the session goes there ("stick"), even when that server
// is draining or has weight 0: those, as in HAProxy, only stop new clients. Otherwise
// the balancer picks among the ready candidates with a weight above 0 and a free slot: "roundrobin" is smooth weighted round robin (weights 10/10/8 give
// 20/20/16 per 56 sessions, interleaved, never more than two in a row: HAProxy's
// shape), "leastconn" the lowest active-sessions-per-weight, ties in rotation. Each
// candidate set (all, upload, fallback) keeps its own balancer state, so publishes do
// not shift the play rotation; unusable servers sit a round out without skewing the
// others' shares.
//
// A slot is taken under the pool mutex, so maxconn is never exceeded. When every
// eligible candidate is full, Acquire waits in a FIFO queue; each released slot is
// handed, inside Release, to the oldest waiter that can use it (the waiter's pick is
// re-run, affinity included), so newcomers never jump the queue. The wait ends with
// ErrQueueTimeout after queue_timeout (default 10 s) or when the caller's context
// ends. If no candidate could ever take the session (all down, draining or excluded)
// Acquire fails at once with ErrNoServer, and queued sessions fail the same way as
// soon as their last server goes down or is closed by the operator.
//
// # Streams
//
// When the caller knows the stream (it routes on the real publish/play command), it
// passes StreamKey(app, name) in Request.Stream. A publish makes its stream live on
// the server it was routed to, and on that server's replicates_to, from its Acquire
// until its lease is released; a second publisher of a live stream is sent to the
// same server (so the media server's own rule for it applies), and with
// publisher_takeover a publisher from the same client address learns, in
// Lease.Takeover, which session to end. Players of a live stream go only to the
// servers that have it, with affinity among them, else by weight among them, with a
// rotation per origin server of their own; players of a stream live nowhere (video
// on demand, a stream not started yet) are balanced over every server as without a
// stream. Pool.Stream and Pool.Streams show the registry.
//
// # Affinity
//
// The stick table maps a client IP (IPv4-mapped IPv6 folded to IPv4) to the server its
// last confirmed session reached; only Confirm writes it, so failed dials leave it
// alone. Clients with a live confirmed session are pinned in a refcounted map and can
// not expire; when the last session ends the entry moves to an expirable LRU
// (golang-lru/v2, size stick.size, ttl stick.expire), so it lives `expire` after the
// client's last session ended. size 0 turns affinity off.
//
// # Differences from HAProxy (as documented for HAProxy 2.x and seen in its behaviour)
//
//   - Affinity works. The reference config's `stick store-request src` before `stick
//     on src` makes HAProxy skip the match entirely: it is pure round robin.
//     We do what the config intends: look up, then store the server reached.
//   - Entries do not expire under a live stream. HAProxy's expire counts from the last
//     match or store, so a 20-minute stream loses its entry and a reconnect may land
//     elsewhere. Ours counts from the end of the client's last session.
//   - A client stuck to a full server is balanced anew instead of waiting in that
//     server's queue while others sit idle. Since Confirm rewrites the
//     entry, it then sticks to the new server.
//   - The queue is always bounded (queue_timeout); the reference config has no timeouts,
//     so HAProxy waits forever.
//   - A failed dial moves on to another server at once (Request.Exclude) instead of
//     three retries on the same server with a one-second turn-around.
//   - Uploads are told apart from plays (HAProxy in mode tcp cannot) and prefer the
//     upload servers.
//   - IPv6 clients get affinity too (HAProxy's `type ip` is IPv4 only).
//   - stick.size bounds idle entries; clients with live sessions are kept on top of it
//     (HAProxy's size bounds the whole table and purges the oldest).
//   - Kept as in HAProxy: a stuck server that is down is ignored and the entry is
//     overwritten by the new server, which the client keeps after recovery; drain
//     still admits stuck clients; servers start healthy; weights 0..256, 0 meaning
//     stuck clients only; maint refuses even those.
//
// Everything in the package is safe for concurrent use.
package routing
