//go:build linux

package upstream

import (
	"net"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// readSome blocks, through Go's poller and within src's read deadline, until
// src has bytes (or an EOF or error), then reads up to smallRead of them into a
// pooled buffer. more is what is still queued when the buffer filled: the
// caller splices it. buf is nil when nothing was read (EOF or error); the
// caller returns a non-nil buf to smallBufs. ok is false when src is not a
// socket (the caller then copies its own way).
//
// Why: Go splices TCP→TCP through a pipe it holds for the whole ReadFrom call,
// including the time it waits for the source, so an idle session pinned two
// pipes (four descriptors) beside its two sockets. And a live stream wakes up
// every few milliseconds with a packet or two: a read and a write are cheaper
// for that than the splice pair plus pipe bookkeeping. No buffer is held while
// a direction waits.
func readSome(src net.Conn) (buf *[]byte, n int, more int64, ok bool, err error) {
	sc, isSock := src.(syscall.Conn)
	if !isSock {
		return nil, 0, 0, false, nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil, 0, 0, false, nil
	}
	var sockErr error
	err = rc.Read(func(fd uintptr) bool {
		b := smallBufs.Get().(*[]byte)
		got, rerr := unix.Read(int(fd), *b)
		switch {
		case rerr == unix.EAGAIN:
			smallBufs.Put(b)
			return false // nothing yet: let the poller wait, holding no buffer
		case rerr != nil:
			smallBufs.Put(b)
			sockErr = os.NewSyscallError("read", rerr)
		case got == 0:
			smallBufs.Put(b) // EOF
		default:
			buf, n = b, got
			if got == len(*b) {
				q, _ := unix.IoctlGetInt(int(fd), unix.SIOCINQ)
				more = int64(q)
			}
		}
		return true
	})
	if err != nil {
		if buf != nil {
			smallBufs.Put(buf)
		}
		return nil, 0, 0, true, err
	}
	if sockErr != nil {
		return nil, 0, 0, true, &net.OpError{Op: "read", Net: "tcp", Source: src.LocalAddr(), Addr: src.RemoteAddr(), Err: sockErr}
	}
	return buf, n, more, true, nil
}
