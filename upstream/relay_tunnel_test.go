package upstream

import (
	"bytes"
	"errors"
	"io"
	"net"
	"sync/atomic"
	"testing"
	"time"
)

// writerToConn stands in for an RTMPT tunnel conn: not a socket, and it
// writes its byte stream out itself (io.WriterTo), as rtmpt.Conn does from
// its queue. Its stream ends with nil (a /close) or, when idleEnd is set,
// with an error that says the peer vanished (rtmpt.ErrSessionIdle's shape).
type writerToConn struct {
	net.Conn
	idleEnd             bool
	reads, writeToCalls atomic.Int64
}

func (c *writerToConn) Read(p []byte) (int, error) {
	c.reads.Add(1)
	return c.Conn.Read(p)
}

// SetReadDeadline never fails, as rtmpt.Conn's does not (net.Pipe's fails
// once the other end closed, which would end the relay as a client error
// before the stream's end is read).
func (c *writerToConn) SetReadDeadline(t time.Time) error {
	_ = c.Conn.SetReadDeadline(t)
	return nil
}

func (c *writerToConn) WriteTo(w io.Writer) (int64, error) {
	c.writeToCalls.Add(1)
	buf := make([]byte, 1000)
	var total int64
	for {
		n, err := c.Conn.Read(buf)
		if n > 0 {
			k, werr := w.Write(buf[:n])
			total += int64(k)
			if werr != nil {
				return total, werr
			}
		}
		switch {
		case errors.Is(err, io.EOF) && c.idleEnd:
			return total, peerGone{}
		case errors.Is(err, io.EOF):
			return total, nil
		case err != nil:
			return total, err
		}
	}
}

// peerGone is an end of stream that says why, like rtmpt.ErrSessionIdle.
type peerGone struct{}

func (peerGone) Error() string        { return "tunnel session idle" }
func (peerGone) Is(target error) bool { return target == io.EOF }
func (peerGone) PeerIdle() bool       { return true }

// TestRelayTunnelSourceWritesItself: a non-socket source with WriteTo is
// copied through it (no relay buffer for that direction: the tunnel's
// 32 KiB per session), never through Read, and every byte arrives in order,
// counted; its graceful end is "client closed".
func TestRelayTunnelSourceWritesItself(t *testing.T) {
	clientApp, pipeEnd := net.Pipe()
	client := &writerToConn{Conn: pipeEnd}
	serverEdge, serverApp := tcpPair(t)
	counters := new(Counters)
	rig := startRelay(t, clientApp, client, serverEdge, serverApp, RelayConfig{Counters: counters}, nil)
	data := randomBytes(t, 1<<20)
	go func() {
		_, _ = clientApp.Write(data)
		_ = clientApp.Close()
	}()
	got, err := io.ReadAll(serverApp) // the relay half-closes the server side at the client's end
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, data) {
		t.Fatalf("server got %d bytes, not the %d sent in order", len(got), len(data))
	}
	serverApp.Close()
	st := receive(t, rig.done)
	if st.End != "client closed" || st.ClientToServer != int64(len(data)) {
		t.Fatalf("stats %+v, want End \"client closed\" and %d bytes in", st, len(data))
	}
	if client.writeToCalls.Load() == 0 || client.reads.Load() != 0 {
		t.Fatalf("WriteTo called %d times, Read %d: the copy did not go through WriteTo", client.writeToCalls.Load(), client.reads.Load())
	}
}

// TestRelayTunnelClientIdle: a tunnel whose client stopped polling ends
// with an error that says so; the relay's end is "client idle" (it used to
// say "client closed", or "client error: …"), and both sides are closed.
func TestRelayTunnelClientIdle(t *testing.T) {
	clientApp, pipeEnd := net.Pipe()
	client := &writerToConn{Conn: pipeEnd, idleEnd: true}
	serverEdge, serverApp := tcpPair(t)
	rig := startRelay(t, clientApp, client, serverEdge, serverApp, RelayConfig{}, nil)
	if _, err := clientApp.Write([]byte("abc")); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(serverApp, make([]byte, 3)); err != nil {
		t.Fatal(err)
	}
	clientApp.Close() // the tunnel's stream ends: idle
	st := receive(t, rig.done)
	if st.End != "client idle" {
		t.Fatalf("End %q, want \"client idle\"", st.End)
	}
	if _, err := serverApp.Read(make([]byte, 1)); err == nil {
		t.Fatal("the server side is still open")
	}
}

// TestRelayInspectedTunnelClientIdle: the same end while the relay is still
// inspecting (Read, before the plain copy) is "client idle" too, not the
// "client closed" its io.EOF would say.
func TestRelayInspectedTunnelClientIdle(t *testing.T) {
	clientApp, pipeEnd := net.Pipe()
	client := &idleReader{writerToConn{Conn: pipeEnd}}
	serverEdge, serverApp := tcpPair(t)
	rig := startRelay(t, clientApp, client, serverEdge, serverApp, RelayConfig{}, func([]byte) bool { return false })
	if _, err := clientApp.Write([]byte("abc")); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(serverApp, make([]byte, 3)); err != nil {
		t.Fatal(err)
	}
	clientApp.Close()
	if st := receive(t, rig.done); st.End != "client idle" {
		t.Fatalf("End %q, want \"client idle\"", st.End)
	}
}

// idleReader's Read ends its stream the idle way too.
type idleReader struct{ writerToConn }

func (c *idleReader) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if errors.Is(err, io.EOF) {
		err = peerGone{}
	}
	return n, err
}
