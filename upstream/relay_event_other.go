//go:build !linux

package upstream

import "time"

// The event loop is Linux only (epoll, splice); elsewhere every relay runs on
// goroutines.

type evSession struct{}

func (*evSession) close() {}

func (*evSession) detach(time.Duration) (*Detached, error) { return nil, ErrNotDetachable }

// Resume needs the event loop, which is Linux only.
func Resume(*Detached, RelayConfig, func(RelayStats)) (*Relaying, error) {
	return nil, ErrNotDetachable
}

func (r *relay) eventCapable() bool { return false }

func (r *relay) toEvent() bool { return false }
