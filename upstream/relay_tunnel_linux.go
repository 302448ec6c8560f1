//go:build linux

package upstream

import (
	"io"
	"net"
	"os"

	"golang.org/x/sys/unix"
)

// readyReader returns a read of what src (a TCP socket) has ready, without
// waiting: 0, nil when nothing is; io.EOF at the peer's end.
func readyReader(src net.Conn) (func(p []byte) (int, error), bool) {
	tc, ok := src.(*net.TCPConn)
	if !ok {
		return nil, false
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return nil, false
	}
	return func(p []byte) (int, error) {
		var n int
		var rerr error
		// The callback never asks to wait: the poller is not involved.
		if err := rc.Read(func(fd uintptr) bool {
			n, rerr = unix.Read(int(fd), p)
			return true
		}); err != nil {
			return 0, err
		}
		switch {
		case rerr == unix.EAGAIN || rerr == unix.EINTR:
			return 0, nil
		case rerr != nil:
			return 0, &net.OpError{Op: "read", Net: "tcp", Source: tc.LocalAddr(), Addr: tc.RemoteAddr(), Err: os.NewSyscallError("read", rerr)}
		case n == 0 && len(p) > 0:
			return 0, io.EOF
		}
		return n, nil
	}, true
}
