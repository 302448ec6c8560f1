//go:build linux

package upstream

import (
	"net"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// dupFD returns a second descriptor of c's socket, closed at the end of the
// test, so the test can query the socket whatever the relay does with c.
func dupFD(t testing.TB, c *net.TCPConn) int {
	t.Helper()
	rc, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	fd := -1
	var derr error
	if err := rc.Control(func(s uintptr) { fd, derr = unix.FcntlInt(s, unix.F_DUPFD_CLOEXEC, 0) }); err != nil || derr != nil {
		t.Fatalf("dup: %v %v", err, derr)
	}
	t.Cleanup(func() { unix.Close(fd) })
	return fd
}

// sndBuf is the socket's SO_SNDBUF as the kernel reports it.
func sndBuf(t testing.TB, fd int) int {
	t.Helper()
	v, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// SndBuf sets the client socket's send buffer (Linux reports twice the value
// asked for) and locks it: autotuning would otherwise grow it to megabytes for
// a viewer that stops reading.
func TestRelaySndBufBoundsClientSocket(t *testing.T) {
	forEachMode(t, func(t *testing.T, cfg RelayConfig) {
		cfg.SndBuf = 32 << 10
		clientApp, clientEdge := tcpPair(t)
		serverEdge, serverApp := tcpPair(t)
		// A second descriptor of the same socket, so the test can ask the
		// kernel about it whatever the relay does with its own.
		probe := dupFD(t, clientEdge)
		serverProbe := dupFD(t, serverEdge)
		rig := startRelay(t, clientApp, clientEdge, serverEdge, serverApp, cfg, nil)
		clientApp.SetReadBuffer(8 << 10)
		go streamUntilError(serverApp)
		// Let the client socket fill up: the buffer must not have grown.
		time.Sleep(300 * time.Millisecond)
		if got := sndBuf(t, probe); got != 2*cfg.SndBuf {
			t.Errorf("client socket SO_SNDBUF %d, want %d (twice SndBuf)", got, 2*cfg.SndBuf)
		}
		if got := sndBuf(t, serverProbe); got == 2*cfg.SndBuf {
			t.Errorf("server socket SO_SNDBUF %d: SndBuf is for the client side only", got)
		}
		clientApp.Close()
		serverApp.Close()
		receive(t, rig.done)
	})
}
