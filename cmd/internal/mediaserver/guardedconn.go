package mediaserver

import (
	"bytes"
	"errors"
	"fmt"
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
	// readBudget is how many more bytes the client may send; < 0 means no
	// limit (publishers). go-rtmp buffers a message of up to 16 MiB on each
	// of up to 64 chunk streams, so a client that never publishes could
	// otherwise make the server hold a gigabyte.
	readBudget atomic.Int64

	// statusWaiter, when set, is closed after the next write that carries an
	// onStatus command (see armStatusWaiter).
	statusWaiter atomic.Pointer[chan struct{}]
}

var onStatusName = []byte("onStatus")

// ErrReadBudget ends a client that sent more than a non-publisher may.
var ErrReadBudget = errors.New("client sent more than a non-publisher may")

// nonPublisherBudget is what a client that does not publish may send in all:
// the handshake, commands and a player's acknowledgements for about a day.
const nonPublisherBudget = 4 << 20

func (c *guardedConn) Read(p []byte) (int, error) {
	if d := c.readIdle.Load(); d > 0 {
		_ = c.Conn.SetReadDeadline(time.Now().Add(time.Duration(d)))
	}
	n, err := c.Conn.Read(p)
	if c.readBudget.Load() >= 0 && c.readBudget.Add(-int64(n)) < 0 {
		return n, fmt.Errorf("%w (%d bytes)", ErrReadBudget, nonPublisherBudget)
	}
	return n, err
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

// unlimitReads lifts the read budget (for a publisher).
func (c *guardedConn) unlimitReads() { c.readBudget.Store(-1) }

// noDeadline clears a deadline.
var noDeadline time.Time
