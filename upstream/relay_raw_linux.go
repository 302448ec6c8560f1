//go:build linux

package upstream

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// The event relay's hot-path system calls, made without telling Go's
// scheduler (RawSyscall instead of Syscall).
//
// Why: every descriptor they touch is non-blocking, so none of them waits;
// but on loopback a write runs the receiver's TCP processing inline and can
// take tens of microseconds. A goroutine in a Syscall that long, with the
// other P busy, has its P retaken by sysmon and handed to another thread,
// and must win one back on return (futex wake-ups both ways), and sysmon
// keeps polling every 20 µs while that goes on. With raw calls the poller
// keeps its P through the call: a relay that moves bytes is the work the P
// is for. perf over the live load (500 players) showed sysmon and the
// thread hand-offs at a fifth of the edge's CPU.
//
// Only calls that cannot block go through here (read, write and splice of
// non-blocking descriptors, epoll_pwait with a zero timeout); epoll_ctl,
// shutdown and close keep the scheduler's accounting.

func rawRead(fd int, p []byte) (int, error) {
	var ptr unsafe.Pointer
	if len(p) > 0 {
		ptr = unsafe.Pointer(&p[0])
	}
	n, _, e := unix.RawSyscall(unix.SYS_READ, uintptr(fd), uintptr(ptr), uintptr(len(p)))
	if e != 0 {
		return -1, e
	}
	return int(n), nil
}

func rawWrite(fd int, p []byte) (int, error) {
	var ptr unsafe.Pointer
	if len(p) > 0 {
		ptr = unsafe.Pointer(&p[0])
	}
	n, _, e := unix.RawSyscall(unix.SYS_WRITE, uintptr(fd), uintptr(ptr), uintptr(len(p)))
	if e != 0 {
		return -1, e
	}
	return int(n), nil
}

// rawSplice is splice(2) without offsets (sockets and pipes have none).
func rawSplice(from, to, n int, flags int) (int64, error) {
	r, _, e := unix.RawSyscall6(unix.SYS_SPLICE, uintptr(from), 0, uintptr(to), 0, uintptr(n), uintptr(flags))
	if e != 0 {
		return -1, e
	}
	return int64(r), nil
}

// rawEpollPoll is epoll_pwait with a zero timeout: what is ready now.
func rawEpollPoll(epfd int, events []unix.EpollEvent) (int, error) {
	n, _, e := unix.RawSyscall6(unix.SYS_EPOLL_PWAIT, uintptr(epfd), uintptr(unsafe.Pointer(&events[0])), uintptr(len(events)), 0, 0, 0)
	if e != 0 {
		return -1, e
	}
	return int(n), nil
}
