package mediaserver

import (
	"bytes"
	"net"
	"sync/atomic"
	"time"
)

// guardedConn is what go-rtmp reads and writes for one client. It adds what
// go-rtmp lacks: deadlines (the library has none, so a silent peer would hold
// a goroutine forever) and a signal when the library writes an onStatus.
type guardedConn struct {
	net.Conn
	writeTimeout time.Duration
	readIdle     atomic.Int64 // ns; > 0 refreshes the read deadline on every Read (publishers)

	// statusWaiter, when set, is closed after the next write that carries an
	// onStatus command (see armStatusWaiter).
	statusWaiter atomic.Pointer[chan struct{}]
}

var onStatusName = []byte("onStatus")

func (c *guardedConn) Read(p []byte) (int, error) {
	if d := c.readIdle.Load(); d > 0 {
		_ = c.Conn.SetReadDeadline(time.Now().Add(time.Duration(d)))
	}
	return c.Conn.Read(p)
}

func (c *guardedConn) Write(p []byte) (int, error) {
	_ = c.Conn.SetWriteDeadline(time.Now().Add(c.writeTimeout))
	n, err := c.Conn.Write(p)
	if ch := c.statusWaiter.Load(); ch != nil && bytes.Contains(p, onStatusName) {
		if c.statusWaiter.CompareAndSwap(ch, nil) {
			close(*ch)
		}
	}
	return n, err
}

// armStatusWaiter returns a channel closed once go-rtmp has written the next
// onStatus. go-rtmp answers play with onStatus NetStream.Play.Start only after
// Handler.OnPlay returns, from its own goroutine, through an encoder shared by
// all writers of the connection; a player's writer goroutine must not write
// before that message is encoded. Its bytes reaching the socket prove it is.
func (c *guardedConn) armStatusWaiter() <-chan struct{} {
	ch := make(chan struct{})
	c.statusWaiter.Store(&ch)
	return ch
}

// setReadIdle sets how long a Read may wait before the connection fails.
func (c *guardedConn) setReadIdle(d time.Duration) { c.readIdle.Store(int64(d)) }

// noDeadline clears a deadline.
var noDeadline time.Time
