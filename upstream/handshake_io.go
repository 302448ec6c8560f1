package upstream

import (
	"bufio"
	"io"
	"net"
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
	w *bufio.Writer
	r *bufio.Reader
}

// newHandshakeIO's write buffer holds C0+C1 with a PROXY header in front (at
// most 108 bytes), and C2 with extra bytes behind it.
func newHandshakeIO(conn net.Conn, extra int) *handshakeIO {
	return &handshakeIO{
		w: bufio.NewWriterSize(conn, max(2048, 1536+extra)),
		r: bufio.NewReaderSize(io.LimitReader(conn, s0s1s2Len), 4096),
	}
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
