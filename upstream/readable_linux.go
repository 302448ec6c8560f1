//go:build linux

package upstream

import (
	"net"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// waitReadable blocks, through Go's poller and within src's read deadline,
// until src has bytes (or an EOF or error) to read, and returns how many bytes
// are queued (0 when only an EOF or error is pending).
//
// Why: Go splices TCP→TCP through a pipe it holds for the whole ReadFrom call,
// including the time it waits for the source. An idle session would pin two
// pipes (four descriptors) on top of its two sockets; waiting here first and
// then splicing exactly what is queued keeps a pipe only while bytes move.
func waitReadable(src net.Conn) (int64, bool, error) {
	sc, ok := src.(syscall.Conn)
	if !ok {
		return 0, false, nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return 0, false, nil
	}
	var queued int
	var sockErr error
	err = rc.Read(func(fd uintptr) bool {
		var b [1]byte
		_, _, perr := unix.Recvfrom(int(fd), b[:], unix.MSG_PEEK|unix.MSG_DONTWAIT)
		switch perr {
		case unix.EAGAIN:
			return false // nothing yet: let the poller wait
		case nil:
			queued, _ = unix.IoctlGetInt(int(fd), unix.SIOCINQ) // 0: an EOF is pending
		default:
			// Reading the socket error clears it: report it here, or it is lost.
			sockErr = os.NewSyscallError("recvfrom", perr)
		}
		return true
	})
	if err != nil {
		return 0, true, err
	}
	if sockErr != nil {
		return 0, true, &net.OpError{Op: "read", Net: "tcp", Source: src.LocalAddr(), Addr: src.RemoteAddr(), Err: sockErr}
	}
	return int64(queued), true, nil
}
