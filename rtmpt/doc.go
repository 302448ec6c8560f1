// Package rtmpt decodes RTMPT (RTMP tunnelled in HTTP POSTs) into plain RTMP
// byte streams. Each tunnel session becomes a *Conn (a net.Conn) that the
// edge handles exactly like a TCP client. The package also holds a Go RTMPT
// client (Dial, ClientOptions, Bridge) for tests, benchmarks and the load
// generator. It imports nothing of the project; HTTP is github.com/valyala/fasthttp.
//
// # Requests
//
// Every request is a POST; commands are lower case and empty path segments
// (stray or double slashes, RootEncoder's "//fcs/ident2") are ignored:
//
//	/fcs/ident2, /fcs/ident  404, as Red5 and FMS answer; Shumway requires it, others ignore it
//	/open/<n>                200, body "<id>\n": a new session for the client's IP
//	/send/<id>/<seq>         the body is RTMP bytes for the session
//	/idle/<id>/<seq>         a poll; its body (0x00 or nothing) is ignored
//	/close/<id>[/<seq>]      ends the session (HaishinKit and RootEncoder omit seq)
//
// Bodies may be empty on every command (RootEncoder, HaishinKit). Anything
// else gets a plain HTTP error and creates nothing: 405 for a method other
// than POST, 404 for a path that is not RTMPT, 400 for an RTMPT command with
// a malformed id or number. Requests fasthttp cannot parse get 400 (or the
// connection is closed); every goroutine that touches request data recovers
// panics.
//
// Sessions are keyed by the id in the URL, never by TCP connection: requests
// of one session may arrive pipelined on one keep-alive connection (librtmp),
// on a new connection each (RootEncoder) or spread over several.
//
// # Replies
//
// Every reply is HTTP/1.1 (also to HTTP/1.0 requests: librtmp accepts only a
// status line starting "HTTP/1.1 200 ") with "Content-Type:
// application/x-fcs" (HaishinKit compares it exactly), "Content-Length: N"
// (never chunked; librtmp finds "Content-" case-sensitively and reads the
// number after "length: "), "Cache-Control: no-cache" and "Connection:
// Keep-Alive" (or fasthttp's single "Connection: close" when the request
// asked to close). fasthttp's default Server and Date headers are turned off:
// they are harmless, but bytes on every poll.
//
// The open reply is the session id and exactly one "\n" (librtmp keeps
// Content-Length-1 bytes as the id). Ids are 128 bits from crypto/rand,
// hex-encoded: alphanumeric and unguessable.
//
// A send or idle reply is the polling-interval byte, then up to 64 KiB of
// pending server bytes; the rest waits for the next reply. The byte follows
// Red5: 1 while data flows in either direction, then 3, 5, 9, 17, 33 after
// each further run of 11 empty replies, back to 1 as soon as a request or a
// reply carries data. Only Shumway and HaishinKit pace their polls by it;
// FFmpeg, librtmp and RootEncoder ignore it. A close reply is the byte 0
// followed by anything still pending.
//
// # Sequence numbers and ordering
//
// The first number after open is 0, and idle requests consume numbers too
// (HaishinKit and RootEncoder start with /idle/<id>/0). The request whose
// turn it is feeds its body to the handler, then the bodies of any held
// requests that now follow in order. A request that arrives ahead of its
// turn is held (its body copied) and answered at once with the interval byte
// alone, without server data. This choice never blocks an HTTP connection
// (a pipelined connection would otherwise stall behind a request waiting for
// a predecessor that may be queued behind it), and server bytes ride only on
// in-turn replies, so they leave in sequence order. At most ReorderWindow
// requests are held, and none more than ReorderWindow numbers ahead; beyond
// that, or when a gap stays open for IdleTimeout, the session fails: the
// refusal is counted and reported (see Refusals), Read returns an error
// wrapping ErrSessionFailed, and its later requests get 404.
//
// A resent request (the number was already served, as when HaishinKit
// re-sends a request whose reply it lost) feeds nothing. If it repeats the
// latest in-turn request it gets that request's reply again, so server
// bytes in a lost reply are not lost; an older or held duplicate gets the
// interval byte alone.
//
// # Back-pressure
//
// Each direction holds at most Config.Buffer bytes. Conn.Write blocks while
// that many server bytes wait for the client to poll; a client that stops
// polling therefore stops the handler (and, through the edge's relay, the
// media server) instead of growing memory or dropping data. A /send whose
// body finds Buffer unread bytes waits (bounded by IdleTimeout, then the
// session fails) for the handler to read, so its reply, and the client,
// slow down too. Held ahead-of-turn bodies add at most ReorderWindow ×
// MaxBody per session.
//
// A relay can attach to a Conn instead of reading and writing it
// (AttachSink, AttachSource): each /send then writes its body to the relay's
// destination itself (its write, bounded by the relay, is the back-pressure
// instead of Buffer), and each in-turn reply with nothing queued by Write
// reads what the relay's source has ready, up to 64 KiB, at poll time: the
// server's bytes wait in the kernel (a socket's receive buffer, and beyond
// it the media server) until the client polls, and neither direction holds
// a goroutine or a queue while the tunnel is quiet.
//
// # Memory
//
// What clients make the server hold is charged, across all sessions, to
// one MemoryBudget (default 64 MiB): held bodies, the backing arrays of
// both directions' queues (sized to what is queued, given back when they
// drain, so an idle session holds next to nothing), and the last reply kept
// for a resend. Held bodies may take at most half of it: they cost an
// attacker no open connection, and the other half stays for sessions whose
// traffic is in turn. A request that would pass the budget gets 503 and
// fails its session, as does a handler Write (ErrSessionFailed); other
// sessions go on. With the budget and the per-session Buffer, memory is
// bounded by configuration: by the budget plus a fixed per-connection and
// per-session base, whatever clients send.
//
// # Limits
//
// MaxSessions and MaxSessionsPerIP count live sessions only: a session that
// ends (closed, failed, timed out) gives its slots back at once. A session
// is pending from /open until its first /send byte; pending sessions are
// what an attacker makes most cheaply (one request, connection closed at
// once), so at a limit a new /open displaces the oldest pending session (of
// its own IP for the per-IP limit; reason evicted), and a pending session
// nobody displaces ends after OpenTimeout (reason abandoned). A real client
// sends its first bytes one round trip after /open, so a flood of opens
// displaces itself. /open beyond a limit with no pending session to
// displace gets 503 (the client may retry later; Red5's 200 with a 0 byte
// would be read as an id by librtmp). MaxBody: larger requests get 413 and do not touch the session.
// A session belongs to the IP that opened it (Conn.RemoteAddr, taken from
// the connection given to ServeConn, so a PROXY-protocol address works):
// requests for it from another IP get 404, like an unknown id, and change
// nothing, not even its idle clock. IdleTimeout: a session with no request
// for that long is closed (checked every IdleTimeout/4, capped at 1s): the handler's Read
// returns ErrSessionIdle (an io.EOF that says why) after the bytes already received, its Write fails with
// ErrSessionEnded, and the handler then closes its media-server side. Once
// the handler has closed its Conn, OpenTimeout applies instead: the client
// has only the rest of the output to fetch.
//
// HTTP has timeouts of its own, as short as an RTMP handshake (5 s each by
// default): HTTPReadTimeout for one whole request (headers and body; then
// 408, reason http_timeout), HTTPIdleTimeout for a keep-alive connection
// waiting for its next request (closed quietly) and HTTPWriteTimeout for a
// reply to a client that does not read.
//
// # Refusals
//
// Every refused request and every failed session is counted once in
// Stats.Rejected under a Reject* reason and reported to Options.OnRefuse
// (reason, client address, error), which the edge logs rate-limited, like
// an RTMP rejection. The package's own lines are Debug (sessions opening
// and ending, refusals) or Error (recovered panics), so no flood of
// requests floods the log from here.
//
// # Ending
//
// /close (with or without a number) ends the session at once: the handler
// reads what was sent, then io.EOF. When the handler closes its Conn first,
// the bytes it wrote are still delivered by the next polls; the reply that
// empties them has interval byte 0 and ends the session, later requests get
// 404. Server.Close ends every session and refuses further requests with 503.
// Counters for all of this are in Server.Stats.
//
// FFmpeg's rtmpt client drops the output it still buffers when it closes
// (rtmp_http_close resets out_size before sending /close), so the last
// packets of an FFmpeg publish over rtmpt never reach any server; plain
// rtmp:// delivers them. That is a client limitation, not a tunnel loss.
package rtmpt
