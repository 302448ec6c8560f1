//go:build linux

package upstream

import (
	"net"
	"testing"

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
