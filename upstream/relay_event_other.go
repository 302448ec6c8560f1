//go:build !linux

package upstream

// The event loop is Linux only (epoll, splice); elsewhere every relay runs on
// goroutines.

type evSession struct{}

func (*evSession) close() {}

func (r *relay) eventCapable() bool { return false }

func (r *relay) toEvent() bool { return false }
