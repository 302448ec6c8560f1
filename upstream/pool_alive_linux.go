//go:build linux

package upstream

import (
	"net"
	"syscall"

	"golang.org/x/sys/unix"
)

// connAlive reports whether a handshaken, otherwise unused connection is
// still open with nothing to read: a non-blocking peek that finds the queue
// empty. EOF (the server closed it), an error, or bytes nobody asked for
// mean it must not carry a session.
func connAlive(c net.Conn) bool {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return false
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	alive := false
	var b [1]byte
	err = rc.Control(func(fd uintptr) {
		_, _, perr := unix.Recvfrom(int(fd), b[:], unix.MSG_PEEK|unix.MSG_DONTWAIT)
		alive = perr == unix.EAGAIN
	})
	return err == nil && alive
}
