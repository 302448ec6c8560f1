package rtmpt

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"strconv"
	"sync"
	"time"
)

// ClientOptions selects the quirks of real RTMPT clients that Dial imitates.
type ClientOptions struct {
	Ident2          bool          // POST /fcs/ident2 first (expects 404)
	IdleFirst       bool          // first request after open is /idle/<id>/0 (HaishinKit, RootEncoder)
	EmptyBodies     bool          // open/idle/close with no body (RootEncoder, HaishinKit close)
	CloseWithoutSeq bool          // /close/<id> with no sequence number
	ConnPerRequest  bool          // a new TCP connection per request (RootEncoder)
	Resend          bool          // send every /send twice with the same seq (a resent request)
	PollInterval    time.Duration // wait between empty polls; default 10ms
	LocalAddr       *net.TCPAddr  // bind source address (e.g. 127.0.0.5)
}

const (
	defaultPollInterval = 10 * time.Millisecond
	// clientChunk caps one /send body; it stays below the server's default MaxBody.
	clientChunk = 64 << 10
	// clientBuffer is how many bytes each direction of a ClientConn holds
	// before Write blocks / polling pauses.
	clientBuffer = 256 << 10
)

// ClientConn is the client end of an RTMPT tunnel, a net.Conn carrying the
// RTMP byte stream. One goroutine does the HTTP requests: it sends what Write
// queued (one /send per up to 64 KiB) or polls with /idle, one request at a
// time, and queues the reply data for Read.
type ClientConn struct {
	id     string
	opts   ClientOptions
	poster *httpPoster
	seq    uint64
	pad    []byte // body of open/idle/close: 0x00, or nothing with EmptyBodies

	in      *byteQueue // server→client bytes for Read
	out     *byteQueue // Write's bytes for the next /send
	readDL  *deadline
	writeDL *deadline
	local   net.Addr
	remote  net.Addr

	closeOnce sync.Once
	closing   chan struct{} // closed by Close: flush, send /close, stop
	done      chan struct{} // closed when the request loop has stopped
}

var _ net.Conn = (*ClientConn)(nil)

// Dial opens an RTMPT tunnel to the HTTP server at addr (host:port) and
// returns it as a net.Conn. ctx bounds the opening requests only.
func Dial(ctx context.Context, addr string, opts ClientOptions) (net.Conn, error) {
	if opts.PollInterval <= 0 {
		opts.PollInterval = defaultPollInterval
	}
	c := &ClientConn{
		opts:    opts,
		poster:  newHTTPPoster(addr, opts),
		pad:     []byte{0},
		in:      newByteQueue(clientBuffer, nil),
		out:     newByteQueue(clientBuffer, nil),
		readDL:  newDeadline(),
		writeDL: newDeadline(),
		closing: make(chan struct{}),
		done:    make(chan struct{}),
	}
	if opts.EmptyBodies {
		c.pad = nil
	}
	if opts.Ident2 {
		status, _, err := c.poster.post(ctx, "/fcs/ident2", c.pad)
		if err != nil {
			return nil, fmt.Errorf("rtmpt ident2: %w", err)
		}
		if status != http.StatusNotFound {
			c.poster.close()
			return nil, fmt.Errorf("rtmpt ident2: %w: %d, want 404", ErrBadStatus, status)
		}
	}
	status, body, err := c.poster.post(ctx, "/open/1", c.pad)
	if err != nil {
		return nil, fmt.Errorf("rtmpt open: %w", err)
	}
	c.local, c.remote = c.poster.local, c.poster.remote
	if status != http.StatusOK {
		c.poster.close()
		return nil, fmt.Errorf("rtmpt open: %w: %d", ErrBadStatus, status)
	}
	id, err := parseOpenReply(body)
	if err != nil {
		c.poster.close()
		return nil, err
	}
	c.id = id
	go c.loop()
	return c, nil
}

// parseOpenReply checks the /open/1 reply the way librtmp needs it: an
// alphanumeric id followed by exactly one "\n".
func parseOpenReply(b []byte) (string, error) {
	if len(b) < 2 || b[len(b)-1] != '\n' || !validID(string(b[:len(b)-1])) {
		return "", fmt.Errorf("%w: %q", ErrBadOpenReply, b)
	}
	return string(b[:len(b)-1]), nil
}

// ID returns the session id the server assigned.
func (c *ClientConn) ID() string { return c.id }

// loop runs the tunnel's requests until Close or a failure.
func (c *ClientConn) loop() {
	defer close(c.done)
	defer c.poster.close()
	defer func() {
		if r := recover(); r != nil {
			slog.Error("rtmpt client panic", "panic", r, "stack", string(debug.Stack()))
			c.in.finish(fmt.Errorf("rtmpt client panic: %v", r))
		}
	}()
	ctx := context.Background()
	lastHadData := true
	if c.opts.IdleFirst {
		if !c.exchange(ctx, cmdIdle, c.pad, &lastHadData) {
			return
		}
	}
	for {
		wake := c.out.changed()
		chunk, _ := c.out.take(0, clientChunk)
		if len(chunk) == 0 {
			if isClosed(c.closing) {
				break
			}
			if !lastHadData {
				t := time.NewTimer(c.opts.PollInterval)
				select {
				case <-wake:
				case <-c.closing:
				case <-t.C:
				}
				t.Stop()
				// Poll now: with what Write queued meanwhile, or with an idle.
				chunk, _ = c.out.take(0, clientChunk)
			}
		}
		cmd, body := cmdSend, chunk
		if len(chunk) == 0 {
			cmd, body = cmdIdle, c.pad
		}
		if !c.exchange(ctx, cmd, body, &lastHadData) {
			return
		}
	}
	path := "/close/" + c.id
	if !c.opts.CloseWithoutSeq {
		path += "/" + strconv.FormatUint(c.seq, 10)
	}
	c.seq++
	_, _, _ = c.poster.post(ctx, path, c.pad) // best effort: the session is over for us either way
	c.in.finish(ErrSessionEnded)
}

// exchange does one send or idle and queues the reply's data for Read. It
// returns false when the tunnel is over (the queues are then finished).
func (c *ClientConn) exchange(ctx context.Context, cmd command, body []byte, hadData *bool) bool {
	path := "/" + string(cmd) + "/" + c.id + "/" + strconv.FormatUint(c.seq, 10)
	c.seq++
	if c.opts.Resend && cmd == cmdSend {
		// The first attempt's reply counts as lost, as when HaishinKit
		// re-sends a request that failed.
		if _, _, err := c.poster.post(ctx, path, body); err != nil {
			c.stop(err)
			return false
		}
	}
	status, reply, err := c.poster.post(ctx, path, body)
	if err != nil {
		c.stop(err)
		return false
	}
	switch {
	case status == http.StatusNotFound:
		c.stop(io.EOF) // the server ended the session
		return false
	case status != http.StatusOK:
		c.stop(fmt.Errorf("rtmpt %s: %w: %d", cmd, ErrBadStatus, status))
		return false
	case len(reply) == 0:
		c.stop(fmt.Errorf("rtmpt %s: %w", cmd, ErrEmptyReply))
		return false
	}
	data := reply[1:]
	*hadData = len(data) > 0 || len(body) > 0 && cmd == cmdSend
	if len(data) > 0 {
		// Blocks while Read is behind: polling pauses, which is exactly the
		// back-pressure a slow tunnel client exerts on the server.
		if _, err := c.in.write(data, c.closing); err != nil && !errors.Is(err, net.ErrClosed) && !isClosed(c.closing) {
			c.stop(err)
			return false
		}
	}
	if reply[0] == closingInterval && !isClosed(c.closing) {
		c.stop(io.EOF) // the server's side has closed and this was its last data
		return false
	}
	return true
}

// stop ends the tunnel from the loop: Read drains then returns err.
func (c *ClientConn) stop(err error) {
	c.in.finish(err)
	c.out.closeRead(ErrSessionEnded)
}

// Read reads bytes the server sent through the tunnel.
func (c *ClientConn) Read(p []byte) (int, error) { return c.in.read(p, c.readDL.wait()) }

// Write queues p for the next /send; it blocks while 256 KiB are pending.
func (c *ClientConn) Write(p []byte) (int, error) { return c.out.write(p, c.writeDL.wait()) }

// Close sends what Write queued, then /close, and waits (bounded by the
// request timeout) for the request loop to stop.
func (c *ClientConn) Close() error {
	c.closeOnce.Do(func() {
		c.out.closeWrite(net.ErrClosed)
		c.in.closeRead(net.ErrClosed)
		close(c.closing)
	})
	select {
	case <-c.done:
	case <-time.After(3 * clientRequestTimeout):
	}
	return nil
}

// LocalAddr is the local address of the connection that opened the tunnel.
func (c *ClientConn) LocalAddr() net.Addr { return c.local }

// RemoteAddr is the server address of the connection that opened the tunnel.
func (c *ClientConn) RemoteAddr() net.Addr { return c.remote }

func (c *ClientConn) SetDeadline(t time.Time) error {
	c.readDL.set(t)
	c.writeDL.set(t)
	return nil
}

func (c *ClientConn) SetReadDeadline(t time.Time) error {
	c.readDL.set(t)
	return nil
}

func (c *ClientConn) SetWriteDeadline(t time.Time) error {
	c.writeDL.set(t)
	return nil
}
