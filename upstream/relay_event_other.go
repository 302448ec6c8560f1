//go:build !linux

package upstream

import (
	"net"
	"os"
	"time"
)

// The event loop is Linux only (epoll, splice); elsewhere every relay runs on
// goroutines.

type evSession struct{}

func (*evSession) close() {}

func (r *relay) detachEvent(*evSession, time.Duration) (*os.File, *os.File, error) {
	return nil, nil, ErrNotDetachable
}

// dupSocket needs the descriptors of the Linux event loop's build.
func dupSocket(net.Conn) (int, error) { return -1, ErrNotDetachable }

func closeFD(int) {}

func (r *relay) eventCapable() bool { return false }

func (r *relay) toEvent(func([]byte) bool) bool { return false }
