package rtmpt

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"
)

// Conn is one tunnel session seen as a net.Conn carrying the plain RTMP byte
// stream. Read returns the /send bodies in sequence order; Write queues bytes
// for the next /send or /idle reply. It is safe for one reader and one
// writer at a time, plus Close and the deadline setters from any goroutine.
type Conn struct {
	sess          *session
	in            *byteQueue // client→server: /send bodies, read by Read
	out           *byteQueue // server→client: filled by Write, drained by replies
	readDL        *deadline
	writeDL       *deadline
	remote, local net.Addr
	att           attachment // a relay's hooks (attach.go)
}

var (
	_ net.Conn      = (*Conn)(nil)
	_ io.WriterTo   = (*Conn)(nil)
	_ io.ReaderFrom = (*Conn)(nil)
)

func newConn(sess *session, buffer int, mem *budget, remote, local net.Addr) *Conn {
	return &Conn{
		sess: sess,
		// The inbound limit is checked before a body is appended, so it can be
		// exceeded by at most one body (MaxBody); see session.feed. Both
		// directions are charged to the server's memory budget.
		in:      newByteQueue(buffer, mem),
		out:     newByteQueue(buffer, mem),
		readDL:  newDeadline(),
		writeDL: newDeadline(),
		remote:  remote,
		local:   local,
	}
}

// ID returns the tunnel session id (the one in the request URLs).
func (c *Conn) ID() string { return c.sess.id }

// Read reads the client's byte stream. It returns io.EOF after the client's
// /close, ErrSessionIdle (which is also io.EOF to errors.Is) after an idle
// timeout, an error wrapping ErrSessionFailed after a
// protocol failure, net.ErrClosed after Close, and os.ErrDeadlineExceeded
// when the read deadline passes.
func (c *Conn) Read(p []byte) (int, error) {
	return c.in.read(p, c.readDL.wait())
}

// WriteTo writes the client's byte stream to w until the session ends (nil
// after /close, ErrSessionIdle after an idle timeout), w fails, or the read deadline passes
// (os.ErrDeadlineExceeded; call again to go on). It writes straight from
// the session's input queue, so a relay copying a tunnel to a socket needs
// no buffer of its own and makes one copy less. io.Copy(w, conn) uses it.
// Like Read, one reader at a time.
func (c *Conn) WriteTo(w io.Writer) (int64, error) {
	return c.in.writeTo(w, c.readDL.wait())
}

// readFromChunk is the buffer ReadFrom borrows per call: as large as a
// reply carries at most is more than a poll needs.
const readFromChunk = 16 << 10

var readFromBufs = sync.Pool{New: func() any { b := make([]byte, readFromChunk); return &b }}

// ReadFrom queues what it reads from r for the client until r's EOF (nil)
// or an error (r's, or Write's). It borrows a pooled buffer only for the
// call, so a relay copying a socket to the tunnel through it (io.Copy(conn,
// r) when r has no WriteTo, or a relay that splices only what is queued)
// holds no buffer while the socket is quiet.
func (c *Conn) ReadFrom(r io.Reader) (int64, error) {
	bp := readFromBufs.Get().(*[]byte)
	defer readFromBufs.Put(bp)
	buf := *bp
	var total int64
	for {
		k, rerr := r.Read(buf)
		if k > 0 {
			n, werr := c.Write(buf[:k])
			total += int64(n)
			if werr != nil {
				return total, werr
			}
		}
		if rerr == io.EOF {
			return total, nil
		}
		if rerr != nil {
			return total, rerr
		}
	}
}

// Write queues p for the client. It blocks while Config.Buffer bytes are
// pending (the client has not polled them away), and fails with
// ErrSessionEnded once the session is over, net.ErrClosed after Close,
// os.ErrDeadlineExceeded when the write deadline passes, or an error
// wrapping ErrSessionFailed when queueing p would pass the server's memory
// budget (the session then fails with reason memory_budget).
func (c *Conn) Write(p []byte) (int, error) {
	n, err := c.out.write(p, c.writeDL.wait())
	if errors.Is(err, errOverBudget) {
		c.sess.end(endBudget, slog.Int("write", len(p)))
		return n, fmt.Errorf("%w: %s", ErrSessionFailed, endBudget)
	}
	return n, err
}

// Close ends the handler's side: further Reads and Writes fail. Bytes already
// written are still delivered by the client's next polls; the session ends
// after the reply that empties them (its interval byte is 0), or at the idle
// timeout if the client stops polling. Close is idempotent.
func (c *Conn) Close() error {
	c.sess.handlerClosed.Store(true)
	c.in.closeRead(net.ErrClosed)
	c.out.closeWrite(net.ErrClosed)
	c.closeAttachment()
	return nil
}

// LocalAddr is the local address of the HTTP connection that opened the session.
func (c *Conn) LocalAddr() net.Addr { return c.local }

// RemoteAddr is the client address of the HTTP connection that opened the session.
func (c *Conn) RemoteAddr() net.Addr { return c.remote }

func (c *Conn) SetDeadline(t time.Time) error {
	c.readDL.set(t)
	c.writeDL.set(t)
	return nil
}

func (c *Conn) SetReadDeadline(t time.Time) error {
	c.readDL.set(t)
	return nil
}

func (c *Conn) SetWriteDeadline(t time.Time) error {
	c.writeDL.set(t)
	return nil
}
