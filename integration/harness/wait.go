package harness

import (
	"errors"
	"fmt"
	"net"
	"time"
)

// ErrNotAccepting is returned when a port does not accept connections in time.
var ErrNotAccepting = errors.New("port does not accept connections")

// waitAccept dials addr every 50 ms until it accepts, p exits, or timeout passes.
func waitAccept(p *Proc, addr string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		if p != nil {
			if exited, err := p.Exited(); exited {
				return fmt.Errorf("%s exited before %s accepted: %v", p.Name, addr, err)
			}
		}
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: %w within %s (last: %v)", addr, ErrNotAccepting, timeout, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// WaitAccept waits until addr accepts TCP connections (bounded by timeout).
func WaitAccept(addr string, timeout time.Duration) error { return waitAccept(nil, addr, timeout) }
