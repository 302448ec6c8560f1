package mediaserver

import (
	"errors"
	"net"
	"time"
)

// Accept back-off bounds: go-rtmp's Server.Serve retries Accept errors in a
// tight loop, which spins a core when the process is out of file descriptors.
const (
	acceptBackoffMin = 5 * time.Millisecond
	acceptBackoffMax = time.Second
)

// backoffListener retries temporary Accept errors itself, with a growing pause,
// and hands go-rtmp only connections or a final error.
type backoffListener struct {
	net.Listener
	closing <-chan struct{}
	// onFatal is called once Accept cannot go on (the listener was closed by
	// someone else), so that go-rtmp's Serve stops instead of spinning.
	onFatal func(err error)
}

func (l *backoffListener) Accept() (net.Conn, error) {
	delay := acceptBackoffMin
	for {
		c, err := l.Listener.Accept()
		if err == nil {
			return c, nil
		}
		select {
		case <-l.closing:
			return nil, err
		default:
		}
		if errors.Is(err, net.ErrClosed) {
			l.onFatal(err)
			return nil, err
		}
		select {
		case <-l.closing:
			return nil, err
		case <-time.After(delay):
		}
		delay = min(delay*2, acceptBackoffMax)
	}
}
