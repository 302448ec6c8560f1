package upstream

import (
	"bufio"
	"io"
	"net"
	"sync"
)

// s0s1s2Len is what a media server sends in its handshake: S0, S1 and S2.
const s0s1s2Len = 1 + 1536 + 1536

// handshakeIO batches go-rtmp's handshake I/O. go-rtmp writes C0, then C1 in
// three writes, then C2 in three more, and reads field by field: on a
// TCP_NODELAY socket that is seven tiny segments and a dozen read calls per
// session. Writes gather in a buffer that is flushed before each read (so
// C0+C1, with a PROXY header in front of them, leave as one segment; so do C2
// and the bytes written after it before Flush), and reads
// come through a buffer bounded to exactly S0+S1+S2, so nothing of what the
// server sends after its handshake is taken from the socket.
type handshakeIO struct {
	w      *bufio.Writer
	r      *bufio.Reader
	lr     io.LimitedReader // the conn, bounded to S0+S1+S2
	pooled bool
}

// hioWriteSize is the write buffer of a pooled handshakeIO: C0+C1 with a
// PROXY header in front (at most 108 bytes), or C2 with up to 512 bytes of
// replay behind it (a connect is a few hundred).
const hioWriteSize = 2048

// hioPool keeps the 6 KiB of buffers a dial's handshake needs only while it
// runs.
var hioPool = sync.Pool{New: func() any {
	h := &handshakeIO{w: bufio.NewWriterSize(nil, hioWriteSize), pooled: true}
	h.r = bufio.NewReaderSize(&h.lr, 4096)
	return h
}}

// newHandshakeIO's write buffer holds C2 with extra bytes behind it (a
// larger one than the pooled size is made for the call).
func newHandshakeIO(conn net.Conn, extra int) *handshakeIO {
	var h *handshakeIO
	if 1536+extra <= hioWriteSize {
		h = hioPool.Get().(*handshakeIO)
		h.w.Reset(conn)
	} else {
		h = &handshakeIO{w: bufio.NewWriterSize(conn, 1536+extra)}
		h.r = bufio.NewReaderSize(&h.lr, 4096)
	}
	h.lr = io.LimitedReader{R: conn, N: s0s1s2Len}
	h.r.Reset(&h.lr)
	return h
}

// release gives a pooled handshakeIO back; h must not be used after.
func (h *handshakeIO) release() {
	if !h.pooled {
		return
	}
	h.w.Reset(nil)
	h.lr = io.LimitedReader{}
	h.r.Reset(&h.lr)
	hioPool.Put(h)
}

func (h *handshakeIO) Write(p []byte) (int, error) { return h.w.Write(p) }

func (h *handshakeIO) Read(p []byte) (int, error) {
	if h.w.Buffered() > 0 {
		if err := h.w.Flush(); err != nil {
			return 0, err
		}
	}
	return h.r.Read(p)
}

// Flush sends what is still buffered (C2).
func (h *handshakeIO) Flush() error { return h.w.Flush() }
